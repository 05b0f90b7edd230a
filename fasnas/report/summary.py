"""``summary.md``: the report's headline numbers as Markdown, for papers and issues.

Owns the Markdown rendering of :class:`fasnas.report.load.ReportData`: the headline (and which
threshold it uses), the Pareto table, the per-protocol breakdown at both thresholds, the bench
leaderboard and how the study ran. The sentences come from
:func:`fasnas.report.headline.headline`, so the page and the summary never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fasnas._io import atomic_write
from fasnas.errors import OutputError
from fasnas.report.frames import THRESHOLDS
from fasnas.report.headline import headline
from fasnas.report.load import ReportData

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
    header += ["mean HTER (%)"] + [f"{p} (%)" for p in data.protocol_names]
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
        rows.append(row)
    return markdown_table(header, rows)


def _breakdown_table(data: ReportData) -> str:
    metrics = data.protocols
    front = data.pareto
    metrics = metrics[metrics["number"].isin(front["number"])]
    header = ["trial", "protocol"]
    header += [f"HTER {t} (%)" for t in THRESHOLDS] + ["AUC", "TPR@FPR=1%"]
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
            rows.append(cells)
    return markdown_table(header, rows)


def _pm(record: dict[str, Any], name: str, scale: float, spec: str) -> str:
    mean, std = record.get(f"{name}_mean"), record.get(f"{name}_std")
    if mean is None or mean != mean:
        return "—"
    if std is None or std != std:
        return format(mean * scale, spec)
    return f"{format(mean * scale, spec)} ± {format(std * scale, spec)}"


def _leaderboard(data: ReportData) -> str:
    header = ["model", "training", "seeds", "GMACs", "params (M)", "latency (ms)"]
    header += ["mean HTER (%)"]
    for protocol in data.protocol_names:
        header += [f"{protocol} HTER (%)", f"{protocol} AUC", f"{protocol} TPR@1%"]
    rows = []
    for record in data.baselines.to_dict("records"):
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


def render_summary(data: ReportData) -> str:
    """The whole ``summary.md`` text."""
    parts = [
        f"# fasnas report: {data.study_name}",
        f"Headline threshold: **{data.objective_hter}**, {data.threshold_label}.",
        "\n".join(f"- {line}" for line in headline(data)),
        "## Pareto front",
    ]
    if len(data.pareto):
        parts.append(_front_table(data))
        parts += ["## Per-protocol breakdown", _breakdown_table(data)]
    else:
        parts.append("No trial is on the Pareto front yet.")
    if len(data.baselines):
        parts += [
            "## Bench leaderboard",
            f"Mean ± std over seeds at the {data.objective_hter} threshold; the teacher is the "
            "first row.",
            _leaderboard(data),
        ]
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
