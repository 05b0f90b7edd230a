"""The report page: one self-contained HTML file (``index.html``), the shell around the panels.

Owns the page shell: the title, the headline, the style, the table-sorting script and the
:data:`~fasnas.report.panels.Plot` that embeds figures with plotly.js inline once (no network
needed, shareable as one file). Each section below the headline is a panel of
:data:`fasnas.report.panels.PANELS`, shown in that order under its ``<h2>`` title. Every number
comes from :class:`~fasnas.report.load.ReportData`; the file is written atomically through
:func:`fasnas._io.atomic_write`.
"""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path
from typing import TYPE_CHECKING

import fasnas.report.panels as panels
from fasnas._io import atomic_write
from fasnas.errors import OutputError
from fasnas.report.headline import headline
from fasnas.report.switch import SWITCH_SCRIPT, SWITCH_STYLE

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from fasnas.report.load import ReportData
    from fasnas.report.panels import Plot

PLOT_CONFIG = {"displaylogo": False, "responsive": True}
WHAT = "cannot write the report"


def write_report(data: ReportData, out_dir: Path, *, png_note: str | None = None) -> Path:
    """Render the page and write ``out_dir/index.html`` atomically; returns its path.

    Raises:
        OutputError: the file cannot be written (naming it).
    """
    page = render_html(data, png_note=png_note)
    return atomic_write(Path(out_dir) / "index.html", page, error=OutputError, what=WHAT)


def plotter() -> Plot:
    """A fresh :data:`~fasnas.report.panels.Plot` for one page: its first figure has plotly.js."""
    plotly_included = False

    def plot(figure: go.Figure | None, div_id: str) -> str:
        nonlocal plotly_included
        if figure is None:
            return ""
        include = not plotly_included
        plotly_included = True
        return figure.to_html(
            full_html=False,
            include_plotlyjs=include,
            div_id=div_id,
            config=PLOT_CONFIG,
            default_height=f"{figure.layout.height or 500}px",
        )

    return plot


def _headline_html(data: ReportData) -> str:
    lines = headline(data)
    return "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"


STYLE = (
    """
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 0 auto;
       max-width: 1280px; padding: 0 24px 48px; color: #222; }
h1 { font-size: 1.6em; margin-top: 24px; } h2 { margin-top: 36px; border-bottom: 1px solid #ddd; }
.headline { background: #f5f7fa; border-left: 4px solid #1f77b4; padding: 8px 16px; }
table { border-collapse: collapse; font-size: 0.85em; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; white-space: nowrap; }
th { background: #f0f0f0; } table.sortable th { cursor: pointer; }
table.sortable th:after { content: ' \\2195'; color: #aaa; }
.scroll { overflow-x: auto; } dt { font-weight: 600; margin-top: 6px; } dd { margin-left: 16px; }
.note { color: #555; font-size: 0.9em; } a.download { font-weight: 600; }
h3 { font-size: 1.05em; margin: 18px 0 4px; }
"""
    + SWITCH_STYLE
)

SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var ascending = th.getAttribute('data-order') !== 'asc';
      th.setAttribute('data-order', ascending ? 'asc' : 'desc');
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
        var nx = Number(x), ny = Number(y), c;
        if (x === '' || y === '') { return (x === '') - (y === ''); }  // blanks last, always
        if (!isNaN(nx) && !isNaN(ny)) { c = nx - ny; } else { c = x.localeCompare(y); }
        return ascending ? c : -c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def render_html(data: ReportData, *, png_note: str | None = None) -> str:
    """The whole report page as one self-contained HTML string (plotly.js inline once).

    ``png_note`` (what became of ``pareto.png``) reaches the panels as ``run_info["png_note"]``.
    """
    if png_note:
        data = dataclasses.replace(data, run_info={**data.run_info, "png_note": png_note})
    title = f"fasnas report: {data.study_name}"
    plot = plotter()
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f'<div class="headline"><p><b>Headline threshold:</b> '
        f"{html.escape(data.threshold_label)}.</p>{_headline_html(data)}</div>",
    ]
    for panel in panels.PANELS:
        body = panel.render(data, plot)
        if body:
            sections.append(f"<h2>{html.escape(panel.title)}</h2>\n{body}")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(sections)
        + f"<script>{SORT_SCRIPT}{SWITCH_SCRIPT}</script></body></html>\n"
    )
