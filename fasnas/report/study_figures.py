"""The report's figures about the search itself, from :class:`~fasnas.report.load.ReportData`.

Owns drawing only: the selection value against the target HTER of every complete trial (how
honest the rule is: :mod:`.honesty`), the hypervolume history of the study's own values and the
parameter importances. The front and its per-protocol bars are :mod:`.figures`. plotly is
imported only when a figure is drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fasnas.report.figures import ORACLE_FRONT, target_title
from fasnas.report.frames import THRESHOLDS
from fasnas.report.honesty import oracle_column, target_column
from fasnas.report.switch import FigureSwitch, short

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from fasnas.report.load import ReportData

HONESTY_GROUPS = (  # (group, legend name, marker)
    ("other", "other complete trials", {"color": "rgba(31,119,180,0.35)", "size": 7}),
    ("front", "front (selected on the sources)", {"color": "#1f3b73", "size": 11}),
    ("oracle", ORACLE_FRONT, {"symbol": "circle-open", "size": 15, "color": "#999"}),
)


def honesty_figure(data: ReportData) -> go.Figure | None:
    """Selection value (x, %) against target mean HTER (y, %) of every complete trial, at
    either threshold; the study's front and the oracle front marked, Kendall tau and Spearman
    rho in the title. None for a ``target-test`` study (its selection value is the target)."""
    import plotly.graph_objects as go

    trials = data.trials
    if data.is_oracle or not len(trials):
        return None
    done = trials[(trials["state"] == "COMPLETE") & ~trials["rejected"]]
    done = done[done["selection"].notna()]
    if not len(done):
        return None
    figure = go.Figure()
    switch = FigureSwitch(data.objective_hter)
    hover = (
        "<b>%{text}</b><br>"
        + f"{data.selection_label}: %{{x:.2f}}% (selection)"
        + "<br>target mean HTER: %{y:.2f}%<extra></extra>"
    )
    for group, name, marker in HONESTY_GROUPS:
        per = {}
        for t in THRESHOLDS:
            rows = {
                "other": done[~done["pareto"]],
                "front": done[done["pareto"]],
                "oracle": done[done[oracle_column(t)]],
            }[group]
            per[t] = {
                "x": rows["selection"].to_numpy(dtype=float) * 100,
                "y": rows[target_column(t)].to_numpy(dtype=float) * 100,
                "text": [f"#{n} {f}" for n, f in zip(rows["number"], rows["family"], strict=True)],
                "hovertemplate": hover,
            }
        switch.add(figure, go.Scatter, per, mode="markers", name=name, marker=marker)
    layouts = {}
    for t in THRESHOLDS:
        found = data.honesty[t].correlation() if t in data.honesty else {}
        tau, rho, n = found.get("kendall_tau"), found.get("spearman_rho"), found.get("n", 0)
        layouts[t] = {
            "title": {
                "text": f"{data.selection_label} against the target HTER ({short(t)}): "
                f"Kendall τ {_num(tau)}, Spearman ρ {_num(rho)} over {n} complete trials"
            },
            "yaxis": {"title": {"text": target_title(t)}},
        }
    switch.buttons(figure, layouts)
    figure.update_xaxes(title=f"{data.selection_label} (%): the selection value")
    figure.update_layout(
        template="plotly_white", height=560, margin={"l": 70, "r": 20, "t": 110, "b": 60}
    )
    return figure


def _num(value) -> str:
    return "—" if value is None or value != value else f"{value:.2f}"


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
    name = "HTER" if data.is_oracle else data.selection_label
    figure.update_yaxes(title_text=f"hypervolume ({name} x GMACs)", row=1, col=1)
    figure.update_layout(
        title=(
            f"Hypervolume of the study's own values ({data.selection_label}, GMACs); reference "
            f"point: {name} {ref_hter:.2f}, "
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
