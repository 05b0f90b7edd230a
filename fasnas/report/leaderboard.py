"""The bench leaderboard and the teacher's reference point.

Owns :func:`leaderboard_frame` (one row per bench baseline and training mode, mean and std
over seeds, the teacher first; :func:`bench_leaderboard` builds it from a bench study) and
:class:`Teacher`, the teacher's reference point as the report draws it: from a reference dict
(``{"name", "gmacs", "hter": {P: {threshold: x}}, "mean_hter": {threshold: x}}``, as
:func:`fasnas.teacher.reference.teacher_reference` computes it) or, for older studies, from the
``teacher`` study attribute ``fasnas bench`` stored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fasnas import record, selection
from fasnas.report.frames import protocol_frame, study_protocols, trials_frame

VIT_B16_GMACS = 17.58  # docs/flip.md §7: CLIP ViT-B/16 image tower at 224


@dataclass(frozen=True)
class Teacher:
    """The teacher's reference point: name, GMACs and HTER (fractions) per threshold."""

    name: str
    gmacs: float | None  # None when neither recorded nor known (ViT-B/16: 17.58)
    mean_hter: dict[str, float]  # threshold -> mean HTER over protocols
    hter: dict[str, dict[str, float]]  # protocol -> threshold -> HTER


SEEN_NOTE = "saw the source-validation videos: its source threshold is optimistic"


def teacher_of(study_attrs: Mapping[str, Any], objective_hter: str) -> Teacher | None:
    """The teacher's reference point from a study's user attributes, when they hold one."""
    return teacher_from(record.StudyRecord(study_attrs).teacher, objective_hter)


def teacher_from(reference: Mapping[str, Any] | None, objective_hter: str) -> Teacher | None:
    """The :class:`Teacher` of a reference dict (None when ``reference`` is not a dict).

    A teacher whose training saw the source-validation videos (``source_val_seen``: an
    imported FLIP checkpoint) is named with :data:`SEEN_NOTE`. A missing GMACs value defaults
    to ViT-B/16's for a ViT-B/16 teacher; a missing mean HTER at a threshold
    (``objective_hter`` or any other the protocols hold) is the mean over the protocols when
    every protocol has one.
    """
    raw = reference
    if not isinstance(raw, Mapping):
        return None
    name = str(raw.get("name", "teacher"))
    seen = raw.get("source_val_seen")
    if isinstance(seen, Mapping) and any(seen.values()):
        name += f" [{SEEN_NOTE}]"
    gmacs = raw.get("gmacs")
    if gmacs is None and "ViT-B/16" in name:
        gmacs = VIT_B16_GMACS
    mean = raw.get("mean_hter") if isinstance(raw.get("mean_hter"), dict) else {}
    hter = raw.get("hter") if isinstance(raw.get("hter"), dict) else {}
    hter = {
        str(p): {str(k): float(v) for k, v in by.items()}
        for p, by in hter.items()
        if isinstance(by, dict)
    }
    mean = {str(k): float(v) for k, v in mean.items() if v is not None}
    thresholds = dict.fromkeys([objective_hter, *(t for by in hter.values() for t in by)])
    for threshold in thresholds:
        values = [by[threshold] for by in hter.values() if threshold in by]
        if threshold not in mean and values and len(values) == len(hter):
            mean[threshold] = float(np.mean(values))
    return Teacher(
        name=name, gmacs=None if gmacs is None else float(gmacs), mean_hter=mean, hter=hter
    )


def leaderboard_frame(
    bench: pd.DataFrame,
    metrics: pd.DataFrame,
    protocols: Sequence[str],
    threshold: str,
    teacher: Teacher | None = None,
) -> pd.DataFrame:
    """The bench leaderboard: one row per (baseline, kd), mean and std over seeds.

    Columns: model, init (how the baseline's weights started), kd, kind
    (``teacher``/``baseline``), n_seeds, gmacs, n_params, latency_ms,
    ``mean_hter_mean``/``_std``, and ``<metric>_<P>_mean``/``_std`` for metric in hter, auc,
    tpr_at_fpr_1pct at ``threshold``; on KD rows ``kd_gain_mean``/``_std``/``_n``: the target
    mean HTER of KD minus CE, paired by seed (negative: distillation helps). Standard deviations
    use ddof=1 (NaN for one seed). The teacher, when known, is the first row.
    """
    rows = []
    if teacher is not None:
        row: dict[str, Any] = {
            "model": teacher.name,
            "kd": None,
            "kind": "teacher",
            "n_seeds": None,
            "gmacs": teacher.gmacs,
            "mean_hter_mean": teacher.mean_hter.get(threshold),
        }
        for protocol in protocols:
            row[f"hter_{protocol}_mean"] = teacher.hter.get(protocol, {}).get(threshold)
        rows.append(row)
    done = bench[(bench["state"] == "COMPLETE") & ~bench["rejected"]] if len(bench) else bench
    if len(done) and "baseline" in done:
        at = metrics[metrics["threshold"] == threshold]
        wide = at.pivot_table(
            index="number", columns="protocol", values=["hter", "auc", "tpr_at_fpr_1pct"]
        )
        wide.columns = [f"{metric}_{protocol}" for metric, protocol in wide.columns]
        hter_cols = [f"hter_{p}" for p in protocols if f"hter_{p}" in wide]
        wide["mean_hter"] = wide[hter_cols].mean(axis=1) if hter_cols else np.nan
        # The seeds' mean HTER at ``threshold`` comes from their metrics; a trial without
        # metrics keeps its own target mean HTER at that threshold (trials_frame's).
        joined = done.rename(columns={"mean_hter": "objective_hter"}).set_index("number")
        joined = joined.join(wide, how="left")
        fallback = f"mean_hter_{threshold.replace('-', '_')}"
        fallback = fallback if fallback in joined else "objective_hter"
        if fallback in joined:
            joined["mean_hter"] = joined["mean_hter"].fillna(joined[fallback])
        if "kd" not in joined:
            joined["kd"] = None
        value_cols = ["mean_hter"] + [
            f"{m}_{p}" for m in ("hter", "auc", "tpr_at_fpr_1pct") for p in protocols
        ]
        value_cols = [c for c in value_cols if c in joined]
        for (baseline, kd), group in joined.groupby(["baseline", "kd"], dropna=False, sort=True):
            row = {
                "model": baseline,
                "init": str(group["init"].iloc[0]) if "init" in group else "scratch",
                "kd": None if kd is None or kd != kd else bool(kd),
                "kind": "baseline",
                "n_seeds": int(len(group)),
                "gmacs": float(group["gmacs"].mean()),
                "n_params": group["n_params"].mean() if "n_params" in group else None,
                "latency_ms": float(group["latency_ms"].mean()),
            }
            for column in value_cols:
                values = group[column].astype(float)
                row[f"{column}_mean"] = float(values.mean())
                row[f"{column}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            if row["kd"]:
                row.update(_kd_gain(joined, baseline))
            rows.append(row)
    frame = pd.DataFrame(rows)
    if len(frame) > 1:
        head, rest = frame.iloc[:1], frame.iloc[1:]
        if teacher is not None:
            rest = rest.sort_values("mean_hter_mean", kind="stable")
            frame = pd.concat([head, rest], ignore_index=True)
        else:
            frame = frame.sort_values("mean_hter_mean", kind="stable").reset_index(drop=True)
    return frame


def _kd_gain(joined: pd.DataFrame, baseline: str) -> dict[str, float]:
    """KD minus CE of one baseline's mean HTER, paired by bench seed: mean, std, n pairs."""
    rows = joined[joined["baseline"] == baseline]
    if "bench_seed" not in rows:
        return {}
    by_seed = rows.pivot_table(index="bench_seed", columns="kd", values="mean_hter")
    if True not in by_seed or False not in by_seed:
        return {}
    gains = (by_seed[True] - by_seed[False]).dropna().to_numpy(dtype=float)
    return {
        "kd_gain_mean": float(gains.mean()) if len(gains) else math.nan,
        "kd_gain_std": float(gains.std(ddof=1)) if len(gains) > 1 else math.nan,
        "kd_gain_n": len(gains),
    }


def kd_gain_median(board: pd.DataFrame) -> float:
    """The median over baselines of the mean KD-minus-CE difference (NaN without pairs)."""
    if "kd_gain_mean" not in board:
        return math.nan
    gains = board["kd_gain_mean"].to_numpy(dtype=float)
    gains = gains[np.isfinite(gains)]
    return float(np.median(gains)) if len(gains) else math.nan


def bench_leaderboard(
    study: Any, threshold: str, reference: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """The leaderboard of a ``fasnas bench`` study (an ``optuna.Study``) at ``threshold``.

    ``reference`` is the teacher's reference point (see :func:`teacher_from`); the protocols
    are the study's (see :func:`~fasnas.report.frames.study_protocols`).
    """
    trials = study.get_trials(deepcopy=False)
    protocols = study_protocols(study.user_attrs, trials)
    rule = selection.select_on_of(record.StudyRecord.of(study).select_on)
    frame = trials_frame(trials, len(study.directions), protocols, threshold, rule)
    metrics = protocol_frame(trials, protocols)
    teacher = teacher_from(reference, threshold)
    return leaderboard_frame(frame, metrics, protocols, threshold, teacher)
