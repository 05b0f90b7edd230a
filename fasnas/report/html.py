"""The report page: one self-contained HTML file (``index.html``) and its tables.

Owns the page: the figures of :mod:`.figures` with plotly.js inline once (no network needed,
shareable as one file), the per-protocol breakdown, the Pareto trials as a sortable table with
a CSV download (a ``data:`` URL), the bench leaderboard and how the study ran. Every number
comes from :class:`~fasnas.report.load.ReportData`; the file is written atomically through
:func:`fasnas._io.atomic_write`.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fasnas._io import atomic_write
from fasnas.errors import OutputError
from fasnas.report.figures import (
    KD_HOVER,
    hypervolume_figure,
    importance_figure,
    pareto_figure,
    protocol_figure,
)
from fasnas.report.frames import THRESHOLDS
from fasnas.report.headline import headline
from fasnas.report.load import ReportData

if TYPE_CHECKING:
    import plotly.graph_objects as go

PLOT_CONFIG = {"displaylogo": False, "responsive": True}
FRONT_TABLE_COLUMNS = (
    ("number", "trial", "d"),
    ("family", "family", "s"),
    ("img_size", "input (px)", "d"),
    ("gmacs", "GMACs", ".4f"),
    ("params_m", "params (M)", ".3f"),
    ("latency_ms", "latency (ms)", ".2f"),
    ("mean_hter_pct", "mean HTER (%)", ".2f"),
)
WHAT = "cannot write the report"


def write_report(data: ReportData, out_dir: Path, *, png_note: str | None = None) -> Path:
    """Render the page and write ``out_dir/index.html`` atomically; returns its path.

    Raises:
        OutputError: the file cannot be written (naming it).
    """
    page = render_html(data, png_note=png_note)
    return atomic_write(Path(out_dir) / "index.html", page, error=OutputError, what=WHAT)


def _fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if spec == "s":
        return html.escape(str(value))
    try:
        if spec == "d":
            return str(int(value))
        return format(float(value), spec)
    except (TypeError, ValueError):
        return html.escape(str(value))


def _sort_value(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def html_table(
    frame: pd.DataFrame, columns: Sequence[tuple[str, str, str]], *, sortable: bool = True
) -> str:
    """A table of ``frame``'s ``(column, header, format)`` columns; cells carry sort values."""
    head = "".join(f"<th>{html.escape(header)}</th>" for _, header, _ in columns)
    body = []
    for record in frame.to_dict("records"):
        cells = "".join(
            f'<td data-v="{_sort_value(record.get(name))}">{_fmt(record.get(name), spec)}</td>'
            for name, _, spec in columns
        )
        body.append(f"<tr>{cells}</tr>")
    kind = "sortable" if sortable else "plain"
    return (
        f'<table class="{kind}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def front_table_frame(data: ReportData) -> pd.DataFrame:
    """The Pareto trials with the table's derived columns (params in M, HTER in %)."""
    front = data.pareto.copy()
    front["params_m"] = pd.to_numeric(front["n_params"], errors="coerce") / 1e6
    front["mean_hter_pct"] = front["mean_hter"] * 100
    key = data.objective_hter.replace("-", "_")
    for protocol in data.protocol_names:
        front[f"pct_{protocol}"] = front[f"hter_{key}_{protocol}"] * 100
    return front


def _front_columns(data: ReportData) -> list[tuple[str, str, str]]:
    columns = list(FRONT_TABLE_COLUMNS)
    columns += [(f"pct_{p}", f"HTER {p} (%)", ".2f") for p in data.protocol_names]
    columns += [(name, label, fmt) for name, label, fmt in KD_HOVER]
    columns += [("duration_s", "run (s)", ".0f")]
    return columns


def _breakdown_table(data: ReportData) -> str:
    """Per Pareto trial and protocol: HTER at both thresholds, AUC, TPR@FPR=1%."""
    front = data.pareto
    metrics = data.protocols
    if not len(front) or not len(metrics):
        return "<p>No Pareto trial has per-protocol metrics.</p>"
    metrics = metrics[metrics["number"].isin(front["number"])]
    wide = metrics.pivot_table(
        index="number",
        columns=["protocol", "threshold"],
        values=["hter", "auc", "tpr_at_fpr_1pct"],
    )
    table = front[["number", "family", "gmacs"]].set_index("number")
    columns: list[tuple[str, str, str]] = [
        ("number", "trial", "d"),
        ("family", "family", "s"),
        ("gmacs", "GMACs", ".4f"),
    ]
    order = [data.objective_hter] + [t for t in THRESHOLDS if t != data.objective_hter]
    for protocol in data.protocol_names:
        for threshold in order:
            name = f"hter|{protocol}|{threshold}"
            table[name] = _pick(wide, "hter", protocol, threshold) * 100
            short = "test-EER" if threshold == "test-eer" else "source thr."
            columns.append((name, f"{protocol} HTER % ({short})", ".2f"))
        table[f"auc|{protocol}"] = _pick(wide, "auc", protocol, data.objective_hter)
        table[f"tpr|{protocol}"] = _pick(wide, "tpr_at_fpr_1pct", protocol, data.objective_hter)
        columns.append((f"auc|{protocol}", f"{protocol} AUC", ".4f"))
        columns.append((f"tpr|{protocol}", f"{protocol} TPR@1%", ".3f"))
    table = table.reset_index()
    table.columns = [str(c) for c in table.columns]
    return html_table(table, columns)


def _pick(wide: pd.DataFrame, metric: str, protocol: str, threshold: str) -> pd.Series:
    key = (metric, protocol, threshold)
    if key in wide.columns:
        return wide[key]
    return pd.Series(np.nan, index=wide.index)


def _leaderboard_table(data: ReportData) -> str:
    board = data.baselines
    if not len(board):
        return ""
    rows = []
    for record in board.to_dict("records"):
        kd = record.get("kd")
        cells = [
            html.escape(str(record.get("model"))),
            "teacher"
            if record.get("kind") == "teacher"
            else {True: "KD", False: "CE only"}.get(kd, "—"),
            _fmt(record.get("n_seeds"), "d"),
            _fmt(record.get("gmacs"), ".3f"),
            _fmt(_scaled(record.get("n_params"), 1e-6), ".3f"),
            _fmt(record.get("latency_ms"), ".2f"),
            _pm(record, "mean_hter", 100),
        ]
        for protocol in data.protocol_names:
            cells += [
                _pm(record, f"hter_{protocol}", 100),
                _pm(record, f"auc_{protocol}", 1, ".4f"),
                _pm(record, f"tpr_at_fpr_1pct_{protocol}", 1, ".3f"),
            ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = ["model", "training", "seeds", "GMACs", "params (M)", "latency (ms)", "mean HTER (%)"]
    for protocol in data.protocol_names:
        head += [f"{protocol} HTER (%)", f"{protocol} AUC", f"{protocol} TPR@1%"]
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return (
        f'<table class="plain"><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _scaled(value: Any, factor: float) -> float | None:
    try:
        return float(value) * factor
    except (TypeError, ValueError):
        return None


def _pm(record: dict[str, Any], name: str, scale: float, spec: str = ".2f") -> str:
    """``mean ± std`` of a leaderboard column (mean alone with one seed)."""
    mean = _scaled(record.get(f"{name}_mean"), scale)
    std = _scaled(record.get(f"{name}_std"), scale)
    if mean is None or math.isnan(mean):
        return "—"
    if std is None or math.isnan(std):
        return format(mean, spec)
    return f"{format(mean, spec)} ± {format(std, spec)}"


def _run_info_list(data: ReportData, png_note: str | None) -> str:
    info = data.run_info
    states = ", ".join(f"{k}: {v}" for k, v in info["states"].items()) or "none"
    workers = info["workers"]
    hashes = info["hashes"]
    items = [
        ("trials", f"{info['n_trials']} ({states}; rejected for budget: {info['rejected']})"),
        (
            "workers",
            f"{len(workers)} ({', '.join(workers[:12])}{' ...' if len(workers) > 12 else ''})"
            if workers
            else "not recorded",
        ),
        ("hosts", ", ".join(info["hosts"]) or "not recorded"),
        ("total compute", f"{info['compute_hours']:.2f} hours (sum of trial durations)"),
        ("first start / last end", f"{info['first_start']} / {info['last_complete']}"),
        ("storage", info["storage"]),
        ("config hash", info["config_hash"] or "not recorded"),
        (
            "dataset and teacher hashes",
            "; ".join(f"{k}: {v}" for k, v in hashes.items()) if hashes else "not recorded",
        ),
        (
            "failures",
            "; ".join(f"{k}: {v}" for k, v in info["failure_reasons"].items()) or "none",
        ),
        ("versions (report)", ", ".join(f"{k} {v}" for k, v in info["versions"].items())),
    ]
    if info["study_versions"]:
        study_versions = ", ".join(f"{k} {v}" for k, v in info["study_versions"].items())
        items.append(("versions (study)", study_versions))
    if data.bench_study_name:
        items.append(("bench study", data.bench_study_name))
    if png_note:
        items.append(("pareto.png", png_note))
    return (
        "<dl>"
        + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in items)
        + "</dl>"
    )


def _headline_html(data: ReportData) -> str:
    lines = headline(data)
    return "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"


def _csv_link(frame: pd.DataFrame, filename: str) -> str:
    payload = base64.b64encode(frame.to_csv(index=False).encode("utf-8")).decode("ascii")
    return (
        f'<a class="download" download="{html.escape(filename, quote=True)}" '
        f'href="data:text/csv;base64,{payload}">Download the Pareto trials as CSV</a>'
    )


STYLE = """
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
"""

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
        var nx = parseFloat(x), ny = parseFloat(y), c;
        if (x === '' && y === '') { c = 0; } else if (x === '') { c = 1; } else if (y === '') {
          c = -1; } else if (!isNaN(nx) && !isNaN(ny)) { c = nx - ny; } else {
          c = x.localeCompare(y); }
        return ascending ? c : -c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def render_html(data: ReportData, *, png_note: str | None = None) -> str:
    """The whole report page as one self-contained HTML string (plotly.js inline once)."""
    title = f"fasnas report: {data.study_name}"
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

    counts = data.run_info["states"]
    hidden = []
    if counts.get("PRUNED"):
        hidden.append(
            f"{counts['PRUNED']} pruned trials are hidden (click 'pruned' in the legend to "
            f"show their partial HTER)"
        )
    if counts.get("FAIL"):
        hidden.append(f"{counts['FAIL']} failed trials have no HTER and are not drawn")
    if data.run_info["rejected"]:
        hidden.append(
            f"{data.run_info['rejected']} trials rejected for their budget are not drawn"
        )
    front = front_table_frame(data)
    importance = importance_figure(data)
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f'<div class="headline"><p><b>Headline threshold:</b> '
        f"{html.escape(data.threshold_label)}.</p>{_headline_html(data)}</div>",
        "<h2>Pareto front</h2>",
        plot(pareto_figure(data), "pareto"),
        '<p class="note">Dominated trials are faded. '
        + html.escape("; ".join(hidden) + "." if hidden else "")
        + (
            " The front is non-dominated on all three objectives (HTER, GMACs, latency), so "
            "some of its points look dominated in this projection."
            if len(data.directions) > 2
            else ""
        )
        + "</p>",
        "<h2>Per-protocol breakdown</h2>",
        plot(protocol_figure(data), "protocols"),
        f'<div class="scroll">{_breakdown_table(data)}</div>',
        '<p class="note">HTER at both thresholds; AUC and TPR@FPR=1% do not depend on the '
        "threshold.</p>",
        "<h2>Hypervolume history</h2>",
        plot(hypervolume_figure(data), "hypervolume")
        or '<p class="note">No finished trials yet.</p>',
        f'<p class="note">Reference point: mean HTER {data.hv_reference[0]:.2f} and '
        f"{data.hv_reference[1]:.4g} GMACs. Only feasible, complete, non-rejected trials count."
        "</p>",
        "<h2>Parameter importances</h2>",
        plot(importance, "importances"),
        f'<p class="note">{html.escape(data.importances_note)}</p>',
    ]
    if len(data.baselines):
        sections += [
            "<h2>Bench leaderboard</h2>",
            f'<p class="note">Mean ± std over seeds at the {html.escape(data.objective_hter)} '
            "threshold; the teacher is the first row.</p>",
            f'<div class="scroll">{_leaderboard_table(data)}</div>',
        ]
    sections += [
        "<h2>Pareto trials</h2>",
        _csv_link(data.pareto, f"{data.study_name}-pareto.csv"),
        '<p class="note">Click a column header to sort.</p>',
        f'<div class="scroll">{html_table(front, _front_columns(data))}</div>',
        "<h2>How the study ran</h2>",
        _run_info_list(data, png_note),
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(sections)
        + f"<script>{SORT_SCRIPT}</script></body></html>\n"
    )
