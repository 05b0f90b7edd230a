"""The report page's panels: one function per section and their order, :data:`PANELS`.

Owns what each section of ``index.html`` shows below its ``<h2>`` title: a :class:`Panel` is a
key, a title and a ``render(data, plot)`` function that returns the section's HTML body ("" to
leave the section out, e.g. the bench leaderboard without baselines). ``plot`` is the page's
:data:`Plot`: it embeds one plotly figure under a given div id (plotly.js inline with the first
figure of the page) and returns "" for a missing figure. Figures come from :mod:`.figures`,
tables from :mod:`.tables`; :mod:`.html` draws the page shell around :data:`PANELS`.

A new panel is one function here and one entry in :data:`PANELS` (where the page shows it).
Page facts that are not the study's reach panels through ``data.run_info``: the page adds
``png_note`` (what became of ``pareto.png``) there.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fasnas.report.figures import (
    hypervolume_figure,
    importance_figure,
    pareto_figure,
    protocol_figure,
)
from fasnas.report.tables import (
    breakdown_table,
    csv_link,
    front_columns,
    front_table_frame,
    html_table,
    leaderboard_table,
    run_info_list,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from fasnas.report.load import ReportData

Plot = Callable[["go.Figure | None", str], str]
"""Embeds a figure under a div id and returns its HTML ("" for ``None``)."""


@dataclass(frozen=True)
class Panel:
    """One section of the page: ``<h2>title</h2>`` and ``render(data, plot)`` below it.

    Attributes:
        key: A short stable name (the div id of its figure, where it has one).
        title: The section's heading, plain text.
        render: The section's HTML body from the data; "" leaves the section out.
    """

    key: str
    title: str
    render: Callable[[ReportData, Plot], str]


def _note(text: str) -> str:
    return f'<p class="note">{text}</p>'


def _hidden_trials(data: ReportData) -> str:
    """Which trials the front figure does not draw (pruned, failed, rejected), escaped."""
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
    return html.escape("; ".join(hidden) + "." if hidden else "")


def pareto_panel(data: ReportData, plot: Plot) -> str:
    """The front figure and what it leaves out."""
    projection = (
        " The front is non-dominated on all three objectives (HTER, GMACs, latency), so "
        "some of its points look dominated in this projection."
        if len(data.directions) > 2
        else ""
    )
    return "\n".join(
        [
            plot(pareto_figure(data), "pareto"),
            _note("Dominated trials are faded. " + _hidden_trials(data) + projection),
        ]
    )


def protocols_panel(data: ReportData, plot: Plot) -> str:
    """The front's HTER per protocol, as a figure and as a table of every metric."""
    return "\n".join(
        [
            plot(protocol_figure(data), "protocols"),
            f'<div class="scroll">{breakdown_table(data)}</div>',
            _note("HTER at both thresholds; AUC and TPR@FPR=1% do not depend on the threshold."),
        ]
    )


def hypervolume_panel(data: ReportData, plot: Plot) -> str:
    """The hypervolume against compute hours, with its reference point."""
    reference = data.hv_reference
    return "\n".join(
        [
            plot(hypervolume_figure(data), "hypervolume") or _note("No finished trials yet."),
            _note(
                f"Reference point: mean HTER {reference[0]:.2f} and {reference[1]:.4g} GMACs. "
                "Only feasible, complete, non-rejected trials count."
            ),
        ]
    )


def importances_panel(data: ReportData, plot: Plot) -> str:
    """The parameter importances, or why there are none."""
    return "\n".join(
        [
            plot(importance_figure(data), "importances"),
            _note(html.escape(data.importances_note)),
        ]
    )


def leaderboard_panel(data: ReportData, plot: Plot) -> str:
    """The bench baselines against the teacher; left out without a bench study."""
    if not len(data.baselines):
        return ""
    return "\n".join(
        [
            _note(
                f"Mean ± std over seeds at the {html.escape(data.objective_hter)} threshold; "
                "the teacher is the first row."
            ),
            f'<div class="scroll">{leaderboard_table(data)}</div>',
        ]
    )


def front_table_panel(data: ReportData, plot: Plot) -> str:
    """The Pareto trials as a sortable table, with a CSV download."""
    table = html_table(front_table_frame(data), front_columns(data))
    return "\n".join(
        [
            csv_link(data.pareto, f"{data.study_name}-pareto.csv"),
            _note("Click a column header to sort."),
            f'<div class="scroll">{table}</div>',
        ]
    )


def run_info_panel(data: ReportData, plot: Plot) -> str:
    """Trials, workers, compute, storage, hashes and versions (and the ``pareto.png`` note)."""
    return run_info_list(data, data.run_info.get("png_note"))


PANELS: tuple[Panel, ...] = (
    Panel("pareto", "Pareto front", pareto_panel),
    Panel("protocols", "Per-protocol breakdown", protocols_panel),
    Panel("hypervolume", "Hypervolume history", hypervolume_panel),
    Panel("importances", "Parameter importances", importances_panel),
    Panel("leaderboard", "Bench leaderboard", leaderboard_panel),
    Panel("front", "Pareto trials", front_table_panel),
    Panel("run", "How the study ran", run_info_panel),
)
"""The page's sections in page order."""
