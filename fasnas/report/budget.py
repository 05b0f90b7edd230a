"""A deployment budget on the front: the line at ``report.budget_gmacs`` and the best point
under it.

Owns :func:`best_under_budget` (the front trial with the lowest target mean HTER among those at
or under the budget) and :func:`add_budget`, which draws the budget as a vertical dashed line
and rings that trial, at each threshold of the figure's switch. The overlay of several studies
(:mod:`fasnas.report.overlay`) draws the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fasnas.report.frames import THRESHOLDS
from fasnas.report.honesty import target_column

BUDGET_COLOUR = "rgba(200,120,0,0.9)"


def best_under_budget(front: pd.DataFrame, column: str, budget: float) -> pd.Series | None:
    """The row of ``front`` with the lowest ``column`` among rows with ``gmacs <= budget``
    (ties: fewer GMACs, then the lower trial number); None when no row fits."""
    rows = front[(front["gmacs"] <= budget) & front[column].notna()]
    if not len(rows):
        return None
    return rows.sort_values([column, "gmacs", "number"], kind="stable").iloc[0]


def best_points(front: pd.DataFrame, budget: float) -> dict[str, dict[str, list]]:
    """Per threshold, the best front trial under ``budget`` as one plot point (none if none)."""
    per = {}
    for t in THRESHOLDS:
        best = best_under_budget(front, target_column(t), budget)
        found = best is not None
        per[t] = {
            "x": [float(best["gmacs"])] if found else [],
            "y": [float(best[target_column(t)]) * 100] if found else [],
            "text": [f"#{int(best['number'])}"] if found else [],
        }
    return per


def budget_line(budget: float, ys: list[float]) -> dict[str, Any]:
    """The x and y of a vertical line at ``budget`` spanning ``ys`` (0-100 % when empty)."""
    finite = [y for y in ys if np.isfinite(y)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 100.0)
    pad = 0.05 * (high - low or 1.0)
    return {"x": [budget, budget], "y": [max(0.0, low - pad), high + pad]}


def add_budget(figure: Any, switch: Any, front: pd.DataFrame, budget: float, ys) -> None:
    """Draw the budget line and ring the best front trial under it, at each threshold.

    Args:
        figure: The plotly figure.
        switch: Its :class:`~fasnas.report.switch.FigureSwitch`.
        front: The study's front (trials frame rows).
        budget: The GMACs budget.
        ys: Per threshold, the y values (%) drawn, so the line spans them.
    """
    import plotly.graph_objects as go

    switch.add(
        figure,
        go.Scatter,
        {t: budget_line(budget, list(ys.get(t, []))) for t in THRESHOLDS},
        mode="lines",
        name=f"budget: {budget:g} GMACs",
        hoverinfo="skip",
        line={"color": BUDGET_COLOUR, "width": 2, "dash": "dash"},
    )
    switch.add(
        figure,
        go.Scatter,
        best_points(front, budget),
        mode="markers+text",
        textposition="top right",
        name=f"best under {budget:g} GMACs",
        hovertemplate="<b>best under the budget: trial %{text}</b><br>GMACs: %{x:.4f}"
        "<br>target mean HTER: %{y:.2f}%<extra></extra>",
        marker={"symbol": "circle-open", "size": 22, "color": BUDGET_COLOUR, "line": {"width": 3}},
    )
