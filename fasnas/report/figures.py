"""The report's plotly figures, drawn from :class:`~fasnas.report.load.ReportData`.

Owns drawing only: every number comes from the data. The Pareto front (the study's front,
chosen by its selection rule, drawn at its target mean HTER against GMACs, log-x, coloured by
family; beside it, faded, the oracle front chosen on the target; dominated trials faded, pruned
trials marked and hidden until asked for, the teacher and the bench baselines as reference
markers) and the per-protocol target HTER of the front (the figures about the search itself
are :mod:`.study_figures`). The front and the bars show either threshold (:mod:`.switch`
buttons); every HTER axis says which one. plotly is imported only when a figure is drawn.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fasnas.report.budget import add_budget
from fasnas.report.frames import THRESHOLDS
from fasnas.report.honesty import target_column
from fasnas.report.hover import customdata, hover_template
from fasnas.report.switch import FigureSwitch, short

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from fasnas.report.load import ReportData

BASELINE_SYMBOLS = {True: "diamond", False: "diamond-open", None: "diamond-dot"}
ORACLE_FRONT = "oracle front (selects on the target)"


def family_colours(families: Sequence[str]) -> dict[str, str]:
    """A stable colour per family (sorted names over plotly's qualitative palette)."""
    from plotly.colors import qualitative

    palette = qualitative.Plotly + qualitative.D3 + qualitative.Dark24
    return {name: palette[i % len(palette)] for i, name in enumerate(sorted(families))}


def _families(trials: pd.DataFrame) -> list[str]:
    return sorted({str(f) for f in trials["family"].fillna("?")})


def target_title(threshold: str) -> str:
    """The y title of every target HTER figure: which HTER it is."""
    return f"target mean HTER (%), {short(threshold)}"


def _xy(rows: pd.DataFrame, column: str) -> dict[str, Any]:
    """x = GMACs, y = ``column`` in %, cheapest first, rows without a value left out."""
    rows = rows[rows[column].notna()].sort_values(["gmacs", "number"], kind="stable")
    return {"x": rows["gmacs"].to_numpy(dtype=float), "y": rows[column].to_numpy(float) * 100}


def pareto_figure(data: ReportData) -> go.Figure:
    """Target mean HTER (%) against GMACs (log-x), one threshold shown, a button for the other.

    The study's front (chosen by its selection rule) is drawn at its target HTER; beside it,
    faded, the oracle front (chosen on the target HTER itself; drawn only where it differs).
    Dominated and pruned trials, the teacher and the bench baselines as reference markers.
    """
    import plotly.graph_objects as go

    trials = data.trials
    colours = family_colours(_families(trials))
    switch = FigureSwitch(data.objective_hter)
    figure = go.Figure()
    eligible = trials[trials["eligible"]]
    front = data.pareto
    two = len(data.directions) == 2
    if two and len(front):
        line = {"shape": "hv" if data.is_oracle else "linear", "width": 1.5}
        switch.add(
            figure,
            go.Scatter,
            {t: _xy(front, target_column(t)) for t in THRESHOLDS},
            mode="lines",
            line=line | {"color": "rgba(60,60,60,0.6)"},
            name=data.front_label,
            hoverinfo="skip",
        )
    oracle: dict[str, dict[str, Any]] = {}
    for threshold in THRESHOLDS:
        honesty = data.honesty.get(threshold)
        rows = data.oracle_front(threshold)
        if honesty is None or honesty.coincide:
            rows = rows.iloc[:0]
        points = _xy(rows, target_column(threshold))
        shown = rows[rows[target_column(threshold)].notna()]
        shown = shown.sort_values(["gmacs", "number"], kind="stable")
        labels = [f"#{n} {f}" for n, f in zip(shown["number"], shown["family"], strict=True)]
        oracle[threshold] = points | {"text": labels}
    if any(len(per["x"]) for per in oracle.values()):
        hover = (
            "<b>%{text}</b> (oracle front: selects on the target)<br>GMACs: %{x:.4f}"
            "<br>target mean HTER: %{y:.2f}%<extra></extra>"
        )
        for per in oracle.values():
            per["hovertemplate"] = hover
        switch.add(
            figure,
            go.Scatter,
            oracle,
            mode="lines+markers" if two else "markers",
            name=ORACLE_FRONT,
            line={"shape": "hv", "color": "rgba(150,150,150,0.55)", "width": 1.5, "dash": "dot"},
            marker={"symbol": "circle-open", "size": 10, "color": "rgba(120,120,120,0.6)"},
        )
    for family in colours:
        rows = eligible[eligible["family"].fillna("?").astype(str) == family]
        for on_front in (True, False):
            part = rows[rows["pareto"] == on_front]
            if not len(part):
                continue
            per = {
                t: {
                    "x": part["gmacs"].to_numpy(),
                    "y": part[target_column(t)].to_numpy() * 100,
                    "customdata": customdata(part, data.protocol_names, t),
                    "hovertemplate": hover_template(
                        family, part, data.protocol_names, target_title(t), data.selection_label
                    ),
                }
                for t in THRESHOLDS
            }
            switch.add(
                figure,
                go.Scatter,
                per,
                mode="markers",
                name=family if on_front else f"{family} (dominated)",
                legendgroup=family,
                showlegend=on_front or not rows["pareto"].any(),
                marker={
                    "color": colours[family],
                    "size": 11 if on_front else 6,
                    "opacity": 1.0 if on_front else 0.25,
                    "line": {"width": 1, "color": "#222"} if on_front else {"width": 0},
                },
            )
    pruned = trials[(trials["state"] == "PRUNED") & trials["partial_hter"].notna()]
    if len(pruned):
        hover = hover_template(
            "pruned", pruned, data.protocol_names, "partial mean HTER", data.selection_label
        )
        per = {
            t: {
                "x": pruned["gmacs"].to_numpy(),
                "y": pruned[f"partial_hter_{t.replace('-', '_')}"].to_numpy() * 100,
                "customdata": customdata(pruned, data.protocol_names, t),
                "hovertemplate": hover,
            }
            for t in THRESHOLDS
        }
        switch.add(
            figure,
            go.Scatter,
            per,
            mode="markers",
            name=f"pruned ({len(pruned)}; partial HTER)",
            visible="legendonly",
            marker={"symbol": "x-thin-open", "size": 8, "color": "#888"},
        )
    _confirmed(data, figure, switch)
    _references(data, figure, switch)
    if data.budget_gmacs is not None:
        ys = {t: eligible[target_column(t)].to_numpy(dtype=float) * 100 for t in THRESHOLDS}
        add_budget(figure, switch, data.pareto, data.budget_gmacs, ys)
    switch.buttons(
        figure,
        {
            t: {
                "yaxis": {"title": {"text": target_title(t)}, "rangemode": "tozero"},
                "title": {"text": f"Pareto front at its target HTER ({short(t)})"},
            }
            for t in THRESHOLDS
        },
    )
    figure.update_xaxes(type="log", title="GMACs (log scale; one multiply-add = one MAC)")
    figure.update_layout(
        template="plotly_white",
        height=640,
        legend={"groupclick": "togglegroup"},
        margin={"l": 70, "r": 20, "t": 100, "b": 60},
    )
    return figure


def _confirmed(data: ReportData, figure: go.Figure, switch: FigureSwitch) -> None:
    """The confirmed candidates at their mean target HTER ± std over seeds: on the front
    recomputed on the means (filled squares, joined) or off it (open squares)."""
    import plotly.graph_objects as go

    confirmed = data.confirmed
    if not len(confirmed):
        return
    hover = (
        "<b>%{text}</b><br>GMACs: %{x:.4f}<br>target mean HTER: %{y:.2f}% "
        "(mean ± std over seeds)<extra></extra>"
    )
    for on_front in (True, False):
        rows = confirmed[confirmed["confirmed_front"].astype(bool) == on_front]
        if not len(rows):
            continue
        labels = [
            f"#{r['number']} {r['family']}: n={r['n']}, {r['outcome']}"
            for r in rows.to_dict("records")
        ]
        per = {}
        for t in THRESHOLDS:
            column = target_column(t)
            per[t] = {
                "x": rows["gmacs"].to_numpy(dtype=float),
                "y": rows[f"{column}_mean"].to_numpy(dtype=float) * 100,
                "error_y": {
                    "type": "data",
                    "array": np.nan_to_num(rows[f"{column}_std"].to_numpy(dtype=float)) * 100,
                    "width": 4,
                },
                "text": labels,
                "hovertemplate": hover,
            }
        name = "confirmed front (mean ± std over seeds)" if on_front else "confirmed, off it"
        switch.add(
            figure,
            go.Scatter,
            per,
            mode="lines+markers" if on_front and len(data.directions) == 2 else "markers",
            name=name,
            line={"color": "rgba(200,30,30,0.8)", "width": 2},
            marker={
                "symbol": "square" if on_front else "square-open",
                "size": 12,
                "color": "rgba(200,30,30,0.9)",
            },
        )


def _references(data: ReportData, figure: go.Figure, switch: FigureSwitch) -> None:
    """The teacher and the bench baselines (fixed models, not selected), at each threshold."""
    import plotly.graph_objects as go

    teacher = data.teacher
    if teacher is not None and teacher.gmacs and teacher.mean_hter:
        hover = (
            f"<b>teacher {html.escape(teacher.name)}</b><br>GMACs: %{{x:.2f}}"
            f"<br>target mean HTER: %{{y:.2f}}%<extra></extra>"
        )
        per = {}
        for t in THRESHOLDS:
            known = t in teacher.mean_hter
            per[t] = {
                "x": [teacher.gmacs] if known else [],
                "y": [teacher.mean_hter[t] * 100] if known else [],
                "text": [teacher.name] if known else [],
                "hovertemplate": hover,
            }
        switch.add(
            figure,
            go.Scatter,
            per,
            mode="markers+text",
            textposition="top left",
            name=f"teacher: {teacher.name}",
            marker={"symbol": "star", "size": 18, "color": "black"},
        )
    boards = data.baselines_at or {data.objective_hter: data.baselines}
    board = data.baselines
    if not len(board):
        return
    kinds = board.loc[board["kind"] == "baseline", "kd"].astype(str)
    for kd in sorted(set(kinds)):
        kd_value = {"True": True, "False": False}.get(kd)
        label = {True: "KD", False: "CE only"}.get(kd_value, "")
        hover = (
            "<b>%{text}</b>"
            + (f" ({label})" if label else "")
            + "<br>GMACs: %{x:.3f}<br>target mean HTER: %{y:.2f}% (mean over seeds)"
            + "<extra></extra>"
        )
        per = {}
        for t in THRESHOLDS:
            rows = boards.get(t, board.iloc[:0])
            rows = rows[(rows["kind"] == "baseline") & (rows["kd"].astype(str) == kd)]
            std = rows.get("mean_hter_std", pd.Series(np.nan, index=rows.index)).to_numpy()
            per[t] = {
                "x": rows["gmacs"].to_numpy(dtype=float),
                "y": rows["mean_hter_mean"].to_numpy(dtype=float) * 100,
                "error_y": {"type": "data", "array": np.nan_to_num(std) * 100, "width": 3},
                "text": rows["model"].astype(str).to_numpy(),
                "hovertemplate": hover,
            }
        switch.add(
            figure,
            go.Scatter,
            per,
            mode="markers+text",
            textposition="bottom center",
            textfont={"size": 10, "color": "#444"},
            name=f"bench baselines ({label})" if label else "bench baselines",
            marker={"symbol": BASELINE_SYMBOLS[kd_value], "size": 12, "color": "#444"},
        )


def protocol_figure(data: ReportData) -> go.Figure | None:
    """Target HTER (%) of each front trial on each protocol (bars), at either threshold."""
    import plotly.graph_objects as go

    front = data.pareto
    if not len(front) or not data.protocol_names:
        return None
    families = front["family"].fillna("?")
    labels = [f"#{n} {f}" for n, f in zip(front["number"], families, strict=True)]
    teacher = data.teacher
    if teacher is not None and teacher.hter:
        labels = [f"teacher {teacher.name}"] + labels
    figure = go.Figure()
    switch = FigureSwitch(data.objective_hter)
    for protocol in data.protocol_names:
        per = {}
        for t in THRESHOLDS:
            values = (front[f"hter_{t.replace('-', '_')}_{protocol}"] * 100).tolist()
            if teacher is not None and teacher.hter:
                value = teacher.hter.get(protocol, {}).get(t)
                values = [math.nan if value is None else value * 100] + values
            per[t] = {"x": labels, "y": values}
        switch.add(figure, go.Bar, per, name=protocol)
    switch.buttons(
        figure,
        {
            t: {
                "title": {"text": f"Target HTER per protocol of the {data.front_label}"},
                "yaxis": {"title": {"text": f"target HTER (%), {short(t)}"}},
            }
            for t in THRESHOLDS
        },
    )
    figure.update_layout(
        barmode="group",
        template="plotly_white",
        height=480,
        margin={"l": 70, "r": 20, "t": 100, "b": 120},
    )
    return figure
