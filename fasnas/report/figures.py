"""The report's plotly figures, drawn from :class:`~fasnas.report.load.ReportData`.

Owns drawing only: every number comes from the data. The Pareto front (mean HTER against
GMACs, log-x, coloured by family, dominated trials faded, pruned trials marked and hidden until
asked for, the teacher and the bench baselines as reference markers), the per-protocol HTER of
the front, the hypervolume history and the parameter importances. plotly is imported only when
a figure is drawn.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from fasnas.report.load import ReportData

KD_HOVER = (
    ("kd_w_kd", "w_kd", ".2f"),
    ("kd_temperature", "T", ".2f"),
    ("kd_w_feat", "w_feat", ".2f"),
    ("kd_w_text", "w_text", ".2f"),
    ("kd_lr", "lr", ".1e"),
)
BASELINE_SYMBOLS = {True: "diamond", False: "diamond-open", None: "diamond-dot"}


def family_colours(families: Sequence[str]) -> dict[str, str]:
    """A stable colour per family (sorted names over plotly's qualitative palette)."""
    from plotly.colors import qualitative

    palette = qualitative.Plotly + qualitative.D3 + qualitative.Dark24
    return {name: palette[i % len(palette)] for i, name in enumerate(sorted(families))}


def _families(trials: pd.DataFrame) -> list[str]:
    return sorted({str(f) for f in trials["family"].fillna("?")})


def _customdata(frame: pd.DataFrame, protocols: Sequence[str], threshold: str) -> np.ndarray:
    """Numeric hover columns: number, img_size, params (M), latency, per-protocol HTER, KD."""
    key = threshold.replace("-", "_")
    columns = [
        frame["number"],
        frame["img_size"],
        frame["n_params"] / 1e6 if "n_params" in frame else None,
        frame["latency_ms"],
    ]
    missing = pd.Series(np.nan, index=frame.index)
    columns += [frame.get(f"hter_{key}_{p}", missing) * 100 for p in protocols]
    columns += [frame.get(name, missing) for name, _, _ in KD_HOVER]
    matrix = np.column_stack(
        [
            pd.to_numeric(c, errors="coerce").to_numpy(dtype=np.float64)
            if c is not None
            else np.full(len(frame), np.nan)
            for c in columns
        ]
    )
    return matrix.astype(np.float32) if len(frame) else np.zeros((0, len(columns)), np.float32)


def _hover(family: str, protocols: Sequence[str], y_label: str) -> str:
    lines = [
        f"<b>trial %{{customdata[0]:d}}</b> ({html.escape(family)})",
        "input: %{customdata[1]:d} px",
        "GMACs: %{x:.4f}",
        "params: %{customdata[2]:.3f} M",
        "latency: %{customdata[3]:.2f} ms",
        f"{y_label}: %{{y:.2f}}%",
    ]
    offset = 4
    per_protocol = ", ".join(
        f"{p} %{{customdata[{offset + i}]:.2f}}" for i, p in enumerate(protocols)
    )
    if protocols:
        lines.append(f"HTER (%): {per_protocol}")
    offset += len(protocols)
    kd = ", ".join(
        f"{label}=%{{customdata[{offset + i}]:{fmt}}}"
        for i, (_, label, fmt) in enumerate(KD_HOVER)
    )
    lines.append(f"KD: {kd}")
    return "<br>".join(lines) + "<extra></extra>"


def pareto_figure(data: ReportData) -> go.Figure:
    """Mean HTER (%) against GMACs (log-x): front, dominated, pruned, teacher and baselines."""
    import plotly.graph_objects as go

    trials = data.trials
    colours = family_colours(_families(trials))
    threshold = data.objective_hter
    y_title = f"mean HTER (%), {threshold}"
    figure = go.Figure()
    eligible = trials[trials["eligible"]]
    front = data.pareto
    if len(data.directions) == 2 and len(front):
        figure.add_trace(
            go.Scatter(
                x=front["gmacs"].to_numpy(),
                y=front["mean_hter"].to_numpy() * 100,
                mode="lines",
                line={"shape": "hv", "color": "rgba(60,60,60,0.6)", "width": 1.5},
                name="Pareto front",
                hoverinfo="skip",
            )
        )
    for family in colours:
        rows = eligible[eligible["family"].fillna("?").astype(str) == family]
        for on_front in (True, False):
            part = rows[rows["pareto"] == on_front]
            if not len(part):
                continue
            figure.add_trace(
                go.Scatter(
                    x=part["gmacs"].to_numpy(),
                    y=part["mean_hter"].to_numpy() * 100,
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
                    customdata=_customdata(part, data.protocol_names, threshold),
                    hovertemplate=_hover(family, data.protocol_names, y_title),
                )
            )
    pruned = trials[(trials["state"] == "PRUNED") & trials["partial_hter"].notna()]
    if len(pruned):
        figure.add_trace(
            go.Scatter(
                x=pruned["gmacs"].to_numpy(),
                y=pruned["partial_hter"].to_numpy() * 100,
                mode="markers",
                name=f"pruned ({len(pruned)}; partial HTER)",
                visible="legendonly",
                marker={"symbol": "x-thin-open", "size": 8, "color": "#888"},
                customdata=_customdata(pruned, data.protocol_names, threshold),
                hovertemplate=_hover("pruned", data.protocol_names, "partial mean HTER"),
            )
        )
    teacher = data.teacher
    if teacher is not None and teacher.gmacs and threshold in teacher.mean_hter:
        figure.add_trace(
            go.Scatter(
                x=[teacher.gmacs],
                y=[teacher.mean_hter[threshold] * 100],
                mode="markers+text",
                text=[teacher.name],
                textposition="top left",
                name=f"teacher: {teacher.name}",
                marker={"symbol": "star", "size": 18, "color": "black"},
                hovertemplate=(
                    f"<b>teacher {html.escape(teacher.name)}</b><br>GMACs: %{{x:.2f}}"
                    f"<br>mean HTER: %{{y:.2f}}%<extra></extra>"
                ),
            )
        )
    board = data.baselines
    if len(board):
        baselines = board[board["kind"] == "baseline"]
        for kd, part in baselines.groupby(baselines["kd"].astype(str), sort=True):
            kd_value = {"True": True, "False": False}.get(kd)
            label = {True: "KD", False: "CE only"}.get(kd_value, "")
            std = part.get("mean_hter_std", pd.Series(np.nan, index=part.index)).to_numpy()
            figure.add_trace(
                go.Scatter(
                    x=part["gmacs"].to_numpy(dtype=float),
                    y=part["mean_hter_mean"].to_numpy(dtype=float) * 100,
                    error_y={"type": "data", "array": np.nan_to_num(std) * 100, "width": 3},
                    mode="markers",
                    name=f"bench baselines ({label})" if label else "bench baselines",
                    text=part["model"].astype(str).to_numpy(),
                    marker={"symbol": BASELINE_SYMBOLS[kd_value], "size": 12, "color": "#444"},
                    hovertemplate=(
                        "<b>%{text}</b>"
                        + (f" ({label})" if label else "")
                        + "<br>GMACs: %{x:.3f}<br>mean HTER: %{y:.2f}% (mean over seeds)"
                        + "<extra></extra>"
                    ),
                )
            )
    figure.update_xaxes(type="log", title="GMACs (log scale; one multiply-add = one MAC)")
    figure.update_yaxes(title=y_title, rangemode="tozero")
    figure.update_layout(
        title="Pareto front: mean HTER against compute",
        template="plotly_white",
        height=620,
        legend={"groupclick": "togglegroup"},
        margin={"l": 70, "r": 20, "t": 60, "b": 60},
    )
    return figure


def protocol_figure(data: ReportData) -> go.Figure | None:
    """HTER (%) of each Pareto trial on each protocol at the headline threshold (bars)."""
    import plotly.graph_objects as go

    front = data.pareto
    if not len(front) or not data.protocol_names:
        return None
    key = data.objective_hter.replace("-", "_")
    families = front["family"].fillna("?")
    labels = [f"#{n} {f}" for n, f in zip(front["number"], families, strict=True)]
    teacher = data.teacher
    if teacher is not None and teacher.hter:
        labels = [f"teacher {teacher.name}"] + labels
    figure = go.Figure()
    for protocol in data.protocol_names:
        values = (front[f"hter_{key}_{protocol}"] * 100).tolist()
        if teacher is not None and teacher.hter:
            value = teacher.hter.get(protocol, {}).get(data.objective_hter)
            values = [math.nan if value is None else value * 100] + values
        figure.add_trace(go.Bar(x=labels, y=values, name=protocol))
    figure.update_layout(
        title=f"HTER per protocol of the Pareto trials ({data.objective_hter})",
        barmode="group",
        template="plotly_white",
        height=460,
        yaxis_title="HTER (%)",
        margin={"l": 70, "r": 20, "t": 60, "b": 120},
    )
    return figure


def hypervolume_figure(data: ReportData) -> go.Figure | None:
    """Hypervolume over trial number and over cumulative compute hours."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    frame = data.hypervolume
    if not len(frame):
        return None
    ref_hter, ref_gmacs = data.hv_reference
    figure = make_subplots(
        rows=1, cols=2, subplot_titles=("over trials", "over compute hours"), shared_yaxes=True
    )
    for col, x in ((1, "number"), (2, "compute_hours")):
        figure.add_trace(
            go.Scatter(
                x=frame[x].to_numpy(),
                y=frame["hypervolume"].to_numpy(),
                mode="lines",
                line={"shape": "hv", "color": "#1f77b4"},
                showlegend=False,
                name="hypervolume",
            ),
            row=1,
            col=col,
        )
    figure.update_xaxes(title_text="trial number", row=1, col=1)
    figure.update_xaxes(title_text="cumulative compute (hours)", row=1, col=2)
    figure.update_yaxes(title_text="hypervolume (HTER x GMACs)", row=1, col=1)
    figure.update_layout(
        title=(
            f"Hypervolume of (mean HTER, GMACs); reference point: HTER {ref_hter:.2f}, "
            f"{ref_gmacs:.4g} GMACs"
        ),
        template="plotly_white",
        height=420,
        margin={"l": 70, "r": 20, "t": 80, "b": 60},
    )
    return figure


def importance_figure(data: ReportData) -> go.Figure | None:
    """Parameter importances for each target, as horizontal bars."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    frame = data.importances
    if not len(frame):
        return None
    targets = list(dict.fromkeys(frame["target"]))
    figure = make_subplots(rows=1, cols=len(targets), subplot_titles=targets)
    for col, target in enumerate(targets, start=1):
        part = frame[frame["target"] == target].sort_values("importance")
        figure.add_trace(
            go.Bar(
                x=part["importance"].to_numpy(),
                y=part["param"].astype(str).to_numpy(),
                orientation="h",
                showlegend=False,
                name=target,
            ),
            row=1,
            col=col,
        )
        figure.update_xaxes(title_text="importance", row=1, col=col)
    figure.update_layout(
        title="Parameter importances",
        template="plotly_white",
        height=max(300, 40 + 28 * frame.groupby("target").size().max()),
        margin={"l": 120, "r": 20, "t": 80, "b": 60},
    )
    return figure
