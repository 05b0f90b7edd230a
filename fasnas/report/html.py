"""Rendering of a study report as one self-contained HTML page (``index.html``).

Owns drawing only: every number comes from :class:`fasnas.report.data.ReportData`. The page
holds plotly.js inline once (no network needed, shareable as one file), the Pareto front
(mean HTER against GMACs, log-x, coloured by family, dominated trials faded, pruned trials
marked and hidden until asked for, the teacher and the bench baselines as reference markers),
the per-protocol breakdown at both thresholds, the hypervolume history, the parameter
importances, the Pareto trials as a sortable table with a CSV download (a ``data:`` URL), the
bench leaderboard and how the study ran. plotly is imported only when a page is drawn.
"""

from __future__ import annotations

import base64
import html
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fasnas.report.data import THRESHOLDS, ReportData, headline

if TYPE_CHECKING:
    import plotly.graph_objects as go

PLOT_CONFIG = {"displaylogo": False, "responsive": True}
KD_HOVER = (
    ("kd_w_kd", "w_kd", ".2f"),
    ("kd_temperature", "T", ".2f"),
    ("kd_w_feat", "w_feat", ".2f"),
    ("kd_w_text", "w_text", ".2f"),
    ("kd_lr", "lr", ".1e"),
)
FRONT_TABLE_COLUMNS = (
    ("number", "trial", "d"),
    ("family", "family", "s"),
    ("img_size", "input (px)", "d"),
    ("gmacs", "GMACs", ".4f"),
    ("params_m", "params (M)", ".3f"),
    ("latency_ms", "latency (ms)", ".2f"),
    ("mean_hter_pct", "mean HTER (%)", ".2f"),
)
BASELINE_SYMBOLS = {True: "diamond", False: "diamond-open", None: "diamond-dot"}


# ----------------------------------------------------------------------------------------------
# Files


def write_atomic(path: Path, content: str | bytes) -> Path:
    """Write ``content`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(temp, file_mode())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give (0o666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_report(data: ReportData, out_dir: Path, *, png_note: str | None = None) -> Path:
    """Render the page and write ``out_dir/index.html`` atomically; returns its path."""
    return write_atomic(Path(out_dir) / "index.html", render_html(data, png_note=png_note))


# ----------------------------------------------------------------------------------------------
# Figures


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


# ----------------------------------------------------------------------------------------------
# HTML pieces


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
