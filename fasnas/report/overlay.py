"""``fasnas report A.yaml B.yaml ...``: several studies' fronts overlaid on one page.

Owns the overlay: each study (two spaces, two teachers, two selection rules, ...) is read once
(:func:`fasnas.report.load.load_report_data`) and drawn in its own colour, its front joined and
its other trials faded, with one legend entry per study, at either threshold (the
:mod:`.switch` buttons). A ``report.budget_gmacs`` in any of the configs draws the budget line
and rings each study's best front trial under it (:mod:`.budget`); a table sums each study up
(trials, front size, best target HTER, best under the budget). The page is one self-contained
``index.html`` (default ``reports/<A>+<B>/``).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd

from fasnas.report.budget import BUDGET_COLOUR, best_points, best_under_budget, budget_line
from fasnas.report.frames import THRESHOLDS
from fasnas.report.honesty import target_column
from fasnas.report.switch import FigureSwitch, short
from fasnas.report.tables import html_table

SUMMARY_COLUMNS = [
    ("study", "study", "s"),
    ("complete", "complete trials", "d"),
    ("front", "front trials", "d"),
    ("best_hter", "best target HTER (%)", ".2f"),
    ("best_gmacs", "its GMACs", ".4f"),
    ("under_hter", "best under budget (%)", ".2f"),
    ("under_trial", "that trial", "d"),
]


def overlay_figure(studies: list[Any], budget: float | None = None):
    """Every study's front (joined) and other trials (faded), legend by study, log-x GMACs."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    switch = FigureSwitch(studies[0].objective_hter)
    figure = go.Figure()
    ys: dict[str, list[float]] = {t: [] for t in THRESHOLDS}
    for index, data in enumerate(studies):
        colour = qualitative.Plotly[index % len(qualitative.Plotly)]
        eligible = data.trials[data.trials["eligible"]]
        front = data.pareto
        hover = (
            f"<b>{html.escape(data.study_name)}</b> trial %{{text}}<br>GMACs: %{{x:.4f}}"
            "<br>target mean HTER: %{y:.2f}%<extra></extra>"
        )
        for rows, on_front in ((front, True), (eligible[~eligible["pareto"]], False)):
            per = {}
            for t in THRESHOLDS:
                y = rows[target_column(t)].to_numpy(dtype=float) * 100
                ys[t].extend(y.tolist())
                labels = [f"#{n}" for n in rows["number"]]
                per[t] = {"x": rows["gmacs"].to_numpy(), "y": y, "text": labels}
                per[t]["hovertemplate"] = hover
            switch.add(
                figure,
                go.Scatter,
                per,
                mode="lines+markers" if on_front else "markers",
                name=data.study_name if on_front else f"{data.study_name} (dominated)",
                legendgroup=data.study_name,
                showlegend=on_front,
                line={"color": colour, "width": 2},
                marker={"color": colour, "size": 10 if on_front else 6,
                        "opacity": 1.0 if on_front else 0.25},
            )  # fmt: skip
        if budget is not None:
            _ring_best(figure, switch, front, budget, colour, data.study_name)
    if budget is not None:
        switch.add(
            figure,
            go.Scatter,
            {t: budget_line(budget, ys[t]) for t in THRESHOLDS},
            mode="lines",
            name=f"budget: {budget:g} GMACs",
            hoverinfo="skip",
            line={"color": BUDGET_COLOUR, "width": 2, "dash": "dash"},
        )
    title = "Fronts of " + ", ".join(data.study_name for data in studies)
    switch.buttons(
        figure,
        {
            t: {
                "yaxis": {"title": {"text": f"target mean HTER (%), {short(t)}"}},
                "title": {"text": f"{title} ({short(t)})"},
            }
            for t in THRESHOLDS
        },
    )
    figure.update_xaxes(type="log", title="GMACs (log scale)")
    figure.update_layout(template="plotly_white", height=640, legend={"groupclick": "toggleitem"})
    return figure


def _ring_best(figure, switch, front, budget: float, colour: str, name: str) -> None:
    import plotly.graph_objects as go

    switch.add(
        figure,
        go.Scatter,
        best_points(front, budget),
        mode="markers",
        name=f"{name}: best under {budget:g} GMACs",
        legendgroup=name,
        showlegend=False,
        hovertemplate=f"<b>{html.escape(name)}</b>: best under the budget, trial %{{text}}"
        "<br>GMACs: %{x:.4f}<br>target mean HTER: %{y:.2f}%<extra></extra>",
        marker={"symbol": "circle-open", "size": 22, "color": colour, "line": {"width": 3}},
    )


def summary_frame(studies: list[Any], budget: float | None) -> pd.DataFrame:
    """One row per study at its own objective threshold: counts, best, best under budget."""
    rows = []
    for data in studies:
        column = target_column(data.objective_hter)
        front = data.pareto
        best = front.sort_values([column, "gmacs"], kind="stable").iloc[0] if len(front) else None
        under = best_under_budget(front, column, budget) if budget is not None else None
        rows.append(
            {
                "study": data.study_name,
                "complete": int((data.trials["state"] == "COMPLETE").sum()),
                "front": len(front),
                "best_hter": None if best is None else float(best[column]) * 100,
                "best_gmacs": None if best is None else float(best["gmacs"]),
                "under_hter": None if under is None else float(under[column]) * 100,
                "under_trial": None if under is None else int(under["number"]),
            }
        )
    return pd.DataFrame(rows)


def render_overlay(studies: list[Any], budget: float | None) -> str:
    """The overlay page as one self-contained HTML string."""
    from fasnas.report.html import SORT_SCRIPT, STYLE, plotter

    names = ", ".join(data.study_name for data in studies)
    title = f"fasnas overlay: {names}"
    plot = plotter()
    budget_note = (
        f"; budget {budget:g} GMACs (ringed: each study's best under it)" if budget else ""
    )
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='note'>Each study at its own selection rule's front{html.escape(budget_note)}."
        "</p>",
        plot(overlay_figure(studies, budget), "overlay"),
        "<h2>Studies</h2>",
        html_table(summary_frame(studies, budget), SUMMARY_COLUMNS),
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(body)
        + f"<script>{SORT_SCRIPT}</script></body></html>\n"
    )


def overlay_report(configs, *, out_dir: Path | None = None, storage: str | None = None) -> Path:
    """``fasnas report A.yaml B.yaml ...``: write the overlay page; returns its path.

    Raises:
        ConfigError: Fewer than two configs, or two with the same study name.
        OutputError: ``out_dir`` cannot be written (checked before any study is read).
        StorageError: A storage or study does not exist.
    """
    from fasnas._io import atomic_write, check_writable_dir
    from fasnas.errors import ConfigError, OutputError
    from fasnas.report.load import load_report_data

    names = [config.name for config in configs]
    if len(configs) < 2:
        raise ConfigError("report: an overlay needs two or more study configs")
    if len(set(names)) < len(names):
        raise ConfigError(f"report: the configs name the same study twice: {names}")
    out_dir = Path(out_dir) if out_dir is not None else Path("reports") / "+".join(names)
    check_writable_dir(out_dir)
    studies = [
        load_report_data(config.storage_url(storage), config.name, importances=False)
        for config in configs
    ]
    budgets = [c.report.budget_gmacs for c in configs if c.report.budget_gmacs is not None]
    page = render_overlay(studies, budgets[0] if budgets else None)
    return atomic_write(
        out_dir / "index.html", page, error=OutputError, what="cannot write the overlay"
    )
