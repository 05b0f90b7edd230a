"""The report page's HTML tables and lists, drawn from :class:`~fasnas.report.load.ReportData`.

Owns the markup of every table of the page: the generic sortable :func:`html_table` (cells
carry ``data-v`` sort values), the Pareto trials with their derived columns and CSV download
link (a ``data:`` URL), the per-protocol breakdown, the bench leaderboard (mean ± std over
seeds, at either threshold), the honesty tables (optimism gap and rank correlations, from
:mod:`.honesty`) and the "how the study ran" list. Every HTER header says which HTER it is
(the target's, at which threshold; the selection value apart). Every number comes from the
data; the panels of :mod:`.panels` place these on the page.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fasnas.report.frames import THRESHOLDS
from fasnas.report.honesty import correlation_summary, gap_summary, target_column
from fasnas.report.hover import KD_HOVER
from fasnas.report.switch import short

if TYPE_CHECKING:
    from fasnas.report.load import ReportData

FRONT_TABLE_COLUMNS = (
    ("number", "trial", "d"),
    ("family", "family", "s"),
    ("img_size", "input (px)", "d"),
    ("gmacs", "GMACs", ".4f"),
    ("params_m", "params (M)", ".3f"),
    ("latency_ms", "latency (ms)", ".2f"),
)


def fmt(value: Any, spec: str) -> str:
    """``value`` as cell text: ``spec`` is ``"s"`` (escaped text), ``"d"`` or a float format."""
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
            f'<td data-v="{_sort_value(record.get(name))}">{fmt(record.get(name), spec)}</td>'
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
    front["selection_pct"] = front["selection"] * 100
    for threshold in THRESHOLDS:
        front[f"pct_{target_column(threshold)}"] = front[target_column(threshold)] * 100
    key = data.objective_hter.replace("-", "_")
    for protocol in data.protocol_names:
        front[f"pct_{protocol}"] = front[f"hter_{key}_{protocol}"] * 100
    return front


def front_columns(data: ReportData) -> list[tuple[str, str, str]]:
    """The Pareto trials table's columns: trial facts, the selection value (an honest study's),
    the target mean HTER at both thresholds, HTER per protocol, KD, run time."""
    columns = list(FRONT_TABLE_COLUMNS)
    if not data.is_oracle:
        columns.append(("selection_pct", f"{data.selection_label} (%) [selection]", ".2f"))
    order = [data.objective_hter] + [t for t in THRESHOLDS if t != data.objective_hter]
    columns += [
        (f"pct_{target_column(t)}", f"target mean HTER % ({short(t)})", ".2f") for t in order
    ]
    at = short(data.objective_hter)
    columns += [(f"pct_{p}", f"{p} target HTER % ({at})", ".2f") for p in data.protocol_names]
    columns += [(name, label, spec) for name, label, spec in KD_HOVER]
    columns += [("duration_s", "run (s)", ".0f")]
    return columns


def breakdown_table(data: ReportData) -> str:
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
            label = "test-EER" if threshold == "test-eer" else "source thr."
            columns.append((name, f"{protocol} HTER % ({label})", ".2f"))
        if not data.is_oracle:
            table[f"sel|{protocol}"] = front.set_index("number")[f"selection_{protocol}"] * 100
            name = data.selection_label.removeprefix("mean ")
            columns.append((f"sel|{protocol}", f"{protocol} {name} % [selection]", ".2f"))
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


def leaderboard_table(data: ReportData, threshold: str | None = None) -> str:
    """The bench leaderboard at ``threshold`` (default: the objective's), teacher first: mean ±
    std over seeds ("" without baselines)."""
    threshold = threshold or data.objective_hter
    board = data.baselines_at.get(threshold, data.baselines)
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
            fmt(record.get("n_seeds"), "d"),
            fmt(record.get("gmacs"), ".3f"),
            fmt(_scaled(record.get("n_params"), 1e-6), ".3f"),
            fmt(record.get("latency_ms"), ".2f"),
            _pm(record, "mean_hter", 100),
            _pm(record, "kd_gain", 100),
        ]
        for protocol in data.protocol_names:
            cells += [
                _pm(record, f"hter_{protocol}", 100),
                _pm(record, f"auc_{protocol}", 1, ".4f"),
                _pm(record, f"tpr_at_fpr_1pct_{protocol}", 1, ".3f"),
            ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    at = "test-EER" if threshold == "test-eer" else "source thr."
    head = ["model", "training", "seeds", "GMACs", "params (M)", "latency (ms)"]
    head += [f"target mean HTER % ({at})", "KD − CE (points, paired by seed)"]
    for protocol in data.protocol_names:
        head += [f"{protocol} HTER % ({at})", f"{protocol} AUC", f"{protocol} TPR@1%"]
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


def gap_table(data: ReportData) -> str:
    """Per threshold: each front's best target HTER, the optimism gap at the best points and
    at matched GMACs (mean, worst), in % and points."""
    frame = gap_summary(data.honesty)
    if not len(frame):
        return ""
    frame["at"] = [short(t) for t in frame["threshold"]]
    frame["coincide_text"] = frame["coincide"].map({True: "yes", False: "no"})
    for name in ("honest_hter", "oracle_hter", "best_gap", "mean_gap", "worst_gap"):
        frame[name] = frame[name].astype(float) * 100
    columns = [
        ("at", "target HTER at", "s"),
        ("honest_number", "front's best", "d"),
        ("honest_hter", "its HTER %", ".2f"),
        ("oracle_number", "oracle's best", "d"),
        ("oracle_hter", "its HTER %", ".2f"),
        ("best_gap", "gap at best", "+.2f"),
        ("mean_gap", "mean gap", "+.2f"),
        ("worst_gap", "worst gap", "+.2f"),
        ("coincide_text", "same fronts", "s"),
    ]
    return html_table(frame, columns, sortable=False)


def correlation_table(data: ReportData) -> str:
    """Kendall tau and Spearman rho of the selection value against the target HTER: over all
    complete trials and per protocol, at each threshold."""
    frame = correlation_summary(data.honesty)
    if not len(frame):
        return ""
    columns = [("scope", "trials", "s")]
    for threshold in data.honesty:
        key, at = threshold.replace("-", "_"), short(threshold)
        columns += [(f"n_{key}", f"n ({at})", "d"), (f"tau_{key}", f"Kendall τ ({at})", ".3f")]
        columns += [(f"rho_{key}", f"Spearman ρ ({at})", ".3f")]
    frame["scope"] = [
        "all (mean over protocols)" if s == "all" else f"protocol {s}" for s in frame["scope"]
    ]
    return html_table(frame, columns, sortable=False)


def run_info_list(data: ReportData, png_note: str | None = None) -> str:
    """How the study ran, as a ``<dl>``; ``png_note`` says what became of ``pareto.png``."""
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


def csv_link(frame: pd.DataFrame, filename: str) -> str:
    """A link that downloads ``frame`` as ``filename`` (CSV inlined as a ``data:`` URL)."""
    payload = base64.b64encode(frame.to_csv(index=False).encode("utf-8")).decode("ascii")
    return (
        f'<a class="download" download="{html.escape(filename, quote=True)}" '
        f'href="data:text/csv;base64,{payload}">Download the Pareto trials as CSV</a>'
    )
