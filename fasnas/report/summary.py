"""``summary.md``: the report's headline numbers as Markdown, for papers and issues.

Owns the Markdown rendering of :class:`fasnas.report.load.ReportData`: the headline (and which
threshold it uses), the selection rule and how honest the front is (optimism gap, rank
correlations: :mod:`.honesty`), the Pareto table, the per-protocol breakdown at both
thresholds, the bench leaderboard at both thresholds and how the study ran. Every HTER column
says which HTER it is. The sentences come from :func:`fasnas.report.headline.headline`, so the
page and the summary never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fasnas._io import atomic_write
from fasnas.errors import OutputError
from fasnas.report.confirmed import confirmed_note, confirmed_table, unconfirmed_front
from fasnas.report.frames import THRESHOLDS
from fasnas.report.headline import headline
from fasnas.report.honesty import correlation_summary, gap_summary, target_column
from fasnas.report.load import ReportData
from fasnas.report.switch import short

TRAINING = {True: "KD", False: "CE only"}


def _cell(value: Any, spec: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if spec:
        try:
            return format(int(value) if spec == "d" else float(value), spec)
        except (TypeError, ValueError):
            pass
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table (cells already formatted)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _pct(value: Any) -> str:
    try:
        return _cell(float(value) * 100, ".2f")
    except (TypeError, ValueError):
        return "—"


def _front_table(data: ReportData) -> str:
    front = data.pareto
    key = data.objective_hter.replace("-", "_")
    header = ["trial", "family", "input (px)", "GMACs", "params (M)", "latency (ms)"]
    at = short(data.objective_hter)
    header += [f"target mean HTER (%, {at})"] + [f"{p} (%, {at})" for p in data.protocol_names]
    others = [t for t in THRESHOLDS if t != data.objective_hter]
    header += [f"target mean HTER (%, {short(t)})" for t in others]
    if not data.is_oracle:
        header.append(f"{data.selection_label} (%) [selection]")
    rows = []
    for record in front.to_dict("records"):
        params = pd.to_numeric(pd.Series([record.get("n_params")]), errors="coerce").iloc[0]
        row = [
            _cell(record["number"], "d"),
            _cell(record.get("family")),
            _cell(record.get("img_size"), "d"),
            _cell(record.get("gmacs"), ".4f"),
            _cell(params / 1e6, ".3f"),
            _cell(record.get("latency_ms"), ".2f"),
            _pct(record.get("mean_hter")),
        ]
        row += [_pct(record.get(f"hter_{key}_{p}")) for p in data.protocol_names]
        row += [_pct(record.get(target_column(t))) for t in others]
        if not data.is_oracle:
            row.append(_pct(record.get("selection")))
        rows.append(row)
    return markdown_table(header, rows)


def _breakdown_table(data: ReportData) -> str:
    metrics = data.protocols
    front = data.pareto
    metrics = metrics[metrics["number"].isin(front["number"])]
    header = ["trial", "protocol"]
    header += [f"target HTER {t} (%)" for t in THRESHOLDS] + ["AUC", "TPR@FPR=1%"]
    if not data.is_oracle:
        header.append(f"{data.selection_label.removeprefix('mean ')} (%) [selection]")
    selections = front.set_index("number")
    rows = []
    indexed = metrics.set_index(["number", "protocol", "threshold"])
    for number in front["number"]:
        for protocol in data.protocol_names:
            found = [(number, protocol, t) in indexed.index for t in THRESHOLDS]
            if not any(found):
                continue
            cells = [_cell(number, "d"), protocol]
            for threshold, present in zip(THRESHOLDS, found, strict=True):
                hter = indexed.loc[(number, protocol, threshold), "hter"] if present else None
                cells.append(_pct(hter))
            main = (number, protocol, data.objective_hter)
            source = indexed.loc[main] if main in indexed.index else None
            cells.append(_cell(None if source is None else source["auc"], ".4f"))
            cells.append(_cell(None if source is None else source["tpr_at_fpr_1pct"], ".3f"))
            if not data.is_oracle:
                cells.append(_pct(selections.loc[number].get(f"selection_{protocol}")))
            rows.append(cells)
    return markdown_table(header, rows)


def _pm(record: dict[str, Any], name: str, scale: float, spec: str) -> str:
    mean, std = record.get(f"{name}_mean"), record.get(f"{name}_std")
    if mean is None or mean != mean:
        return "—"
    if std is None or std != std:
        return format(mean * scale, spec)
    return f"{format(mean * scale, spec)} ± {format(std * scale, spec)}"


def _leaderboard(data: ReportData, threshold: str) -> str:
    header = ["model", "training", "seeds", "GMACs", "params (M)", "latency (ms)"]
    header += ["target mean HTER (%)", "KD − CE (points, paired by seed)"]
    for protocol in data.protocol_names:
        header += [f"{protocol} HTER (%)", f"{protocol} AUC", f"{protocol} TPR@1%"]
    rows = []
    board = data.baselines_at.get(threshold, data.baselines)
    for record in board.to_dict("records"):
        kind = record.get("kind")
        params = record.get("n_params")
        row = [
            _cell(record.get("model")),
            "teacher" if kind == "teacher" else TRAINING.get(record.get("kd"), "—"),
            _cell(record.get("n_seeds"), "d"),
            _cell(record.get("gmacs"), ".3f"),
            _cell(None if params is None else float(params) / 1e6, ".3f"),
            _cell(record.get("latency_ms"), ".2f"),
            _pm(record, "mean_hter", 100, ".2f"),
            _pm(record, "kd_gain", 100, ".2f"),
        ]
        for protocol in data.protocol_names:
            row += [
                _pm(record, f"hter_{protocol}", 100, ".2f"),
                _pm(record, f"auc_{protocol}", 1, ".4f"),
                _pm(record, f"tpr_at_fpr_1pct_{protocol}", 1, ".3f"),
            ]
        rows.append(row)
    return markdown_table(header, rows)


def _run_info(data: ReportData) -> str:
    info = data.run_info
    states = ", ".join(f"{k} {v}" for k, v in info["states"].items()) or "none"
    lines = [
        f"- trials: {info['n_trials']} ({states}; rejected for budget: {info['rejected']})",
        f"- workers: {len(info['workers']) or 'not recorded'}; hosts: "
        f"{', '.join(info['hosts']) or 'not recorded'}",
        f"- total compute: {info['compute_hours']:.2f} hours",
        f"- storage: {info['storage']}",
        f"- config hash: {info['config_hash'] or 'not recorded'}",
        "- dataset and teacher hashes: "
        + ("; ".join(f"{k}: {v}" for k, v in info["hashes"].items()) or "not recorded"),
        "- versions (report): " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
    ]
    if info["study_versions"]:
        lines.append(
            "- versions (study): "
            + ", ".join(f"{k} {v}" for k, v in info["study_versions"].items())
        )
    return "\n".join(lines)


def _honesty(data: ReportData) -> list[str]:
    """The selection rule, the optimism gap and the rank correlations, at both thresholds."""
    parts = ["## Selection and honesty", f"Selection rule (`objective.select_on`): {data.rule}."]
    if data.is_oracle:
        parts.append(
            "This study selects on the target test set: its front is an oracle front and "
            "coincides with the oracle front at its own threshold (docs/flip.md §6)."
        )
    gaps = gap_summary(data.honesty)
    header = ["target HTER at", "front's best trial (by selection)", "its target HTER (%)"]
    header += ["oracle front's best trial", "its target HTER (%)", "gap at the best (points)"]
    header += ["mean gap, matched GMACs (points)", "worst gap (points)", "fronts coincide"]
    rows = [
        [
            short(row["threshold"]),
            _cell(row["honest_number"], "d"),
            _pct(row["honest_hter"]),
            _cell(row["oracle_number"], "d"),
            _pct(row["oracle_hter"]),
            _cell(100 * row["best_gap"], "+.2f"),
            _cell(100 * row["mean_gap"], "+.2f"),
            _cell(100 * row["worst_gap"], "+.2f"),
            "yes" if row["coincide"] else "no",
        ]
        for row in gaps.to_dict("records")
    ]
    parts.append(markdown_table(header, rows))
    parts.append(
        "Gap = the oracle front's target HTER minus this front's (negative: the oracle looks "
        "better). The oracle front is chosen on the target mean HTER at that threshold (and "
        "the study's other objectives) among the same candidates. At matched GMACs: for each "
        "trial of this front, the best oracle-front trial with no more GMACs; mean and worst "
        "over this front. At the best point: this front's best by its selection value against "
        "the oracle front's best by target HTER."
    )
    correlations = correlation_summary(data.honesty)
    header = ["trials"]
    for threshold in data.honesty:
        at = short(threshold)
        header += [f"n ({at})", f"Kendall τ ({at})", f"Spearman ρ ({at})"]
    rows = []
    for row in correlations.to_dict("records"):
        scope = row["scope"]
        cells = ["all (mean over protocols)" if scope == "all" else f"protocol {scope}"]
        for threshold in data.honesty:
            key = threshold.replace("-", "_")
            cells += [_cell(row.get(f"n_{key}"), "d")]
            cells += [_cell(row.get(f"tau_{key}"), ".3f"), _cell(row.get(f"rho_{key}"), ".3f")]
        rows.append(cells)
    parts.append(markdown_table(header, rows))
    parts.append(
        f"Rank correlations (scipy.stats) over the complete trials between the selection value "
        f"({data.selection_label}) and the target HTER: the mean over protocols, then each "
        "protocol's own selection value against its target HTER (n: the trials with both). 1: "
        "the rule orders trials as the target does."
    )
    return parts


def render_summary(data: ReportData) -> str:
    """The whole ``summary.md`` text."""
    parts = [
        f"# fasnas report: {data.study_name}",
        f"Headline threshold: **{data.objective_hter}**, {data.threshold_label}.",
        "\n".join(f"- {line}" for line in headline(data)),
        *_honesty(data),
        "## Pareto front",
        f"The {data.front_label}; target HTERs labelled with their threshold.",
    ]
    if len(data.pareto):
        parts.append(_front_table(data))
        parts += ["## Per-protocol breakdown", _breakdown_table(data)]
    else:
        parts.append("No trial is on the Pareto front yet.")
    if len(data.confirmed):
        header, rows = confirmed_table(data.confirmed, data.objective_hter, data.selection_label)
        parts += [
            "## Confirmed front (over seeds)",
            confirmed_note(
                data.confirmed,
                data.confirm_study_name,
                unconfirmed_front(data.trials, data.confirmed),
            ),
            markdown_table(header, rows),
        ]
    if len(data.baselines):
        parts += [
            "## Bench leaderboard",
            "Mean ± std over seeds of the target HTER of fixed models (not selected); the "
            "teacher is the first row.",
        ]
        order = [data.objective_hter] + [t for t in THRESHOLDS if t != data.objective_hter]
        for threshold in order:
            if threshold in data.baselines_at or threshold == data.objective_hter:
                parts += [f"### At the {short(threshold)}", _leaderboard(data, threshold)]
    parts += ["## How the study ran", _run_info(data)]
    return "\n\n".join(parts) + "\n"


def write_summary(data: ReportData, out_dir: Path) -> Path:
    """Write ``out_dir/summary.md`` atomically; returns its path.

    Raises:
        OutputError: the file cannot be written (naming it).
    """
    text = render_summary(data)
    return atomic_write(
        Path(out_dir) / "summary.md", text, error=OutputError, what="cannot write the summary"
    )
