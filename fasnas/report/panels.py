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

from fasnas.report.confirmed import confirmed_note, confirmed_table, unconfirmed_front
from fasnas.report.figures import pareto_figure, protocol_figure
from fasnas.report.frames import THRESHOLDS
from fasnas.report.study_figures import honesty_figure, hypervolume_figure, importance_figure
from fasnas.report.switch import html_switch, short
from fasnas.report.tables import (
    breakdown_table,
    correlation_table,
    csv_link,
    front_columns,
    front_table_frame,
    gap_table,
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
    """The front figure, how its front was chosen, and what it leaves out."""
    projection = (
        f" The front is non-dominated on all three objectives ({data.selection_label}, "
        "GMACs, latency), so some of its points look dominated in this projection."
        if len(data.directions) > 2
        else ""
    )
    honesty = data.honesty.get(data.objective_hter)
    if data.is_oracle:
        chosen = (
            "This study selects on the target: its front is the oracle front at the "
            f"{short(data.objective_hter)}, so the two coincide there; at the other threshold "
            "the oracle front is drawn faded where it differs."
        )
    else:
        chosen = (
            f"The front was chosen on the study's own values ({data.selection_label}, GMACs), "
            "never on the target, and is drawn at its target HTER. Faded and dotted: the "
            "oracle front, chosen on the target HTER itself"
            + (" (here the same trials)." if honesty is not None and honesty.coincide else ".")
        )
    return "\n".join(
        [
            plot(pareto_figure(data), "pareto"),
            _note(
                html.escape(
                    f"{chosen} The buttons above the plot switch the target HTER between the "
                    "test-EER threshold and the source threshold. Dominated trials are faded. "
                )
                + _hidden_trials(data)
                + html.escape(projection)
            ),
        ]
    )


def honesty_panel(data: ReportData, plot: Plot) -> str:
    """The selection rule, the optimism gap and the rank correlations (:mod:`.honesty`)."""
    parts = [f"<p><b>Selection rule:</b> {html.escape(data.rule)}.</p>"]
    if data.is_oracle:
        parts.append(
            _note(
                "This study selects on the target test set (an oracle, docs/flip.md §6): its "
                "front and the oracle front coincide at its own threshold, and its selection "
                "value is the target HTER, so no scatter is drawn."
            )
        )
    parts.append(plot(honesty_figure(data), "honesty"))
    parts += [
        "<h3>Optimism gap</h3>",
        f'<div class="scroll">{gap_table(data)}</div>',
        _note(
            "Gap = the oracle front's target HTER minus this front's, in percentage points "
            "(negative: the oracle looks better). Mean and worst gap, at matched GMACs: for "
            "each trial of this front, the best oracle-front trial with no more GMACs; mean "
            "and worst over the front. Gap at best: this front's best trial by its selection "
            "value against the oracle front's best by target HTER (their target HTERs are "
            "'its HTER %')."
        ),
        "<h3>Does the selection value rank trials as the target does?</h3>",
        f'<div class="scroll">{correlation_table(data)}</div>',
        _note(
            "Kendall τ and Spearman ρ (scipy.stats) over the complete trials: the first "
            "objective value against the target mean HTER, and per protocol the protocol's "
            "selection value against its target HTER. 1: the same order; 0: unrelated."
        ),
    ]
    return "\n".join(part for part in parts if part)


def protocols_panel(data: ReportData, plot: Plot) -> str:
    """The front's HTER per protocol, as a figure and as a table of every metric."""
    return "\n".join(
        [
            plot(protocol_figure(data), "protocols"),
            f'<div class="scroll">{breakdown_table(data)}</div>',
            _note(
                html.escape(
                    f"Target HTER of the {data.front_label}, at both thresholds; AUC and "
                    "TPR@FPR=1% do not depend on the threshold."
                )
            ),
        ]
    )


def hypervolume_panel(data: ReportData, plot: Plot) -> str:
    """The hypervolume against compute hours, with its reference point."""
    reference = data.hv_reference
    return "\n".join(
        [
            plot(hypervolume_figure(data), "hypervolume") or _note("No finished trials yet."),
            _note(
                f"Reference point: {html.escape(data.selection_label)} {reference[0]:.2f} and "
                f"{reference[1]:.4g} GMACs (the study's own values, what it selected on). "
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
    boards = {
        t: f'<div class="scroll">{leaderboard_table(data, t)}</div>'
        for t in THRESHOLDS
        if t in data.baselines_at or t == data.objective_hter
    }
    return "\n".join(
        [
            _note(
                "Mean ± std over seeds of the target HTER of fixed models (not selected), at "
                "the threshold chosen below; the teacher is the first row."
            ),
            html_switch(boards, data.objective_hter),
        ]
    )


def confirmed_panel(data: ReportData, plot: Plot) -> str:
    """The candidates confirmed over seeds and the front on their means; left out without a
    confirm study."""
    if not len(data.confirmed):
        return ""
    header, rows = confirmed_table(data.confirmed, data.objective_hter, data.selection_label)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return "\n".join(
        [
            _note(
                html.escape(
                    confirmed_note(
                        data.confirmed,
                        data.confirm_study_name,
                        unconfirmed_front(data.trials, data.confirmed),
                    )
                )
            ),
            f'<div class="scroll"><table class="plain"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>",
        ]
    )


def front_table_panel(data: ReportData, plot: Plot) -> str:
    """The Pareto trials as a sortable table, with a CSV download."""
    table = html_table(front_table_frame(data), front_columns(data))
    return "\n".join(
        [
            csv_link(data.pareto, f"{data.study_name}-pareto.csv"),
            _note(
                html.escape(
                    f"The {data.front_label}. Target HTERs at both thresholds; click a "
                    "column header to sort."
                )
            ),
            f'<div class="scroll">{table}</div>',
        ]
    )


def run_info_panel(data: ReportData, plot: Plot) -> str:
    """Trials, workers, compute, storage, hashes and versions (and the ``pareto.png`` note)."""
    return run_info_list(data, data.run_info.get("png_note"))


PANELS: tuple[Panel, ...] = (
    Panel("pareto", "Pareto front", pareto_panel),
    Panel("honesty", "Selection and honesty", honesty_panel),
    Panel("protocols", "Per-protocol breakdown", protocols_panel),
    Panel("hypervolume", "Hypervolume history", hypervolume_panel),
    Panel("importances", "Parameter importances", importances_panel),
    Panel("leaderboard", "Bench leaderboard", leaderboard_panel),
    Panel("confirmed", "Confirmed front (over seeds)", confirmed_panel),
    Panel("front", "Pareto trials", front_table_panel),
    Panel("run", "How the study ran", run_info_panel),
)
"""The page's sections in page order."""
