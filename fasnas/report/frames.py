"""The report's tidy frames, computed from the trials apart from any drawing.

Owns the frames a report shows and their vocabulary: :func:`trials_frame` (one row per trial,
with the front candidates and the front marked through :mod:`fasnas.report.pareto`),
:func:`protocol_frame` (per-protocol metrics in long format) and :func:`hypervolume_frame` (the
hypervolume after each finished trial), plus the threshold names and a study's protocols in
display order (parameter importances are :mod:`.importances`). Trial
attributes are read through :mod:`fasnas.record` only. HTER values are fractions (0..1) as the
objective stores them; GMACs count one multiply-add as one MAC.

A trial's first value is its *selection* value (:mod:`fasnas.selection`); ``mean_hter`` is
always the *target* mean HTER at the objective's threshold. They are the same number for a
``target-test`` study (the values[0] of a study made before ``select_on`` existed), and two
numbers for an honest one (``source-val``, ``leave-one-source-out``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fasnas import record, selection
from fasnas.report.pareto import front_masks, hypervolume_history, is_feasible

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

THRESHOLDS = ("test-eer", "source-threshold")  # metric sets each protocol records
THRESHOLD_LABELS = {
    "test-eer": (
        "test-EER threshold (FLIP's convention: picked on the test scores; paper-comparable)"
    ),
    "source-threshold": (
        "source threshold (fixed on source validation data; an honest deployment figure)"
    ),
}
MCIO_ORDER = ("M", "C", "I", "O")
PROTOCOL_METRICS = (
    "hter",
    "eer",
    "auc",
    "tpr_at_fpr_1pct",
    "apcer",
    "bpcer",
    "acer",
    "far",
    "frr",
    "threshold",
    "n_videos",
)
HV_REFERENCE_HTER = 0.5  # a chance-level detector
HV_GMACS_MARGIN = 1.1  # reference GMACs = the largest GMACs on the front's candidates x 1.1
BASE_COLUMNS = (
    "number",
    "state",
    "selection",
    "mean_hter",
    "partial_hter",
    "gmacs",
    "latency_ms",
    "n_params",
    "family",
    "init",
    "img_size",
    "seed",
    "datetime_start",
    "datetime_complete",
    "duration_s",
    "train_seconds",
    "worker",
    "host",
    "rejected",
    "feasible",
    "eligible",
    "fail_reason",
    "prune_reason",
)
FLOAT_COLUMNS = ["selection", "mean_hter", "partial_hter", "gmacs", "latency_ms", "duration_s"]
FLOAT_COLUMNS += ["train_seconds"]
ENTRY_COLUMNS = (  # (frame column, trial record key) of a bench entry or a confirmation
    ("baseline", record.BASELINE),
    ("kd", record.KD),
    ("bench_seed", record.BENCH_SEED),
    ("confirm_of", record.CONFIRM_OF),
    ("confirm_index", record.CONFIRM_INDEX),
)


def protocol_order(names: Iterable[str]) -> list[str]:
    """M, C, I, O first (in that order), then any other protocol alphabetically."""
    names = set(names)
    return [p for p in MCIO_ORDER if p in names] + sorted(names - set(MCIO_ORDER))


def study_protocols(study_attrs: Mapping[str, Any], trials: Sequence[FrozenTrial]) -> list[str]:
    """A study's protocols: its config's ``protocols``, else those the trials have metrics of."""
    config = record.StudyRecord(study_attrs).config
    if config is not None and isinstance(config.get("protocols"), list):
        return [str(p) for p in config["protocols"]]
    found = set()
    for trial in trials:
        found.update(record.TrialRecord.of(trial).metric_protocols())
    return protocol_order(found)


def _worker_label(worker: Any) -> str | None:
    if isinstance(worker, dict):
        return f"{worker.get('host', '?')}:{worker.get('pid', '?')}"
    return None if worker is None else str(worker)


def _column_key(threshold: str) -> str:
    return threshold.replace("-", "_")


def _floats(values: list[Any]) -> np.ndarray | pd.Series:
    """A float column; None becomes NaN, and text that is not a number too."""
    try:
        return np.array(values, dtype=float)
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").astype(float)


def trials_frame(
    trials: Sequence[FrozenTrial],
    n_objectives: int,
    protocols: Sequence[str],
    objective_hter: str,
    select_on: str = selection.TARGET_TEST,
) -> pd.DataFrame:
    """One row per trial, in trial-number order.

    Columns: number, state, ``values_<k>``, selection (the first value: the mean selection
    value; COMPLETE, not rejected), ``selection_<P>`` (the selection value of protocol P),
    mean_hter (the target mean HTER at ``objective_hter``; COMPLETE, not rejected),
    ``mean_hter_<threshold>`` (the same at each threshold), partial_hter and
    ``partial_hter_<threshold>`` (mean over the protocols a trial finished), gmacs, latency_ms,
    n_params, family, init, img_size, seed, ``hter_<threshold>_<P>`` (threshold ``test_eer`` or
    ``source_threshold``), ``kd_<key>`` (the distill spec), ``params_<name>`` (Optuna params),
    datetime_start, datetime_complete, duration_s, train_seconds, worker, host, rejected,
    feasible, eligible (a front candidate), pareto, dominated (a candidate off the front),
    fail_reason, prune_reason, and for bench trials baseline, kd, bench_seed, for
    confirmations confirm_of, confirm_index.

    ``select_on`` is the study's rule: for ``target-test`` the first value IS the target mean
    HTER at ``objective_hter`` (and stands in for it where metrics are missing); otherwise the
    target mean HTER comes from the trial's metrics at every protocol (NaN when one is missing).
    """
    hter_keys = [
        (protocol, threshold, f"hter_{_column_key(threshold)}_{protocol}")
        for protocol in protocols
        for threshold in THRESHOLDS
    ]
    per_protocol = [
        (protocol, [(t, key) for p, t, key in hter_keys if p == protocol])
        for protocol in protocols
    ]
    value_keys = [f"values_{k}" for k in range(n_objectives)]
    trials = sorted(trials, key=lambda t: t.number)
    candidate, on_front = front_masks(trials, n_objectives)
    records = []
    for trial, eligible in zip(trials, candidate.tolist(), strict=True):
        attrs = record.TrialRecord.of(trial)
        values = trial.values or []
        state = trial.state.name
        rejected = attrs.rejected is not None
        complete = state == "COMPLETE" and bool(values)
        start, end = trial.datetime_start, trial.datetime_complete
        worker = attrs.get(record.WORKER)
        row = {
            "number": trial.number,
            "state": state,
            "mean_hter": values[0] if complete and not rejected else math.nan,
            "gmacs": attrs.get(record.GMACS, values[1] if len(values) > 1 else None),
            "latency_ms": attrs.get(record.LATENCY_MS, values[2] if len(values) > 2 else None),
            "n_params": attrs.get(record.PARAMS),
            "family": attrs.get(record.FAMILY, trial.params.get("family")),
            "init": attrs.init,
            "img_size": attrs.get(record.IMG_SIZE, trial.params.get("img_size")),
            "seed": attrs.get(record.SEED),
            "datetime_start": start,
            "datetime_complete": end,
            "duration_s": (end - start).total_seconds() if start and end else None,
            "train_seconds": attrs.get(record.TRAIN_SECONDS),
            "worker": _worker_label(worker),
            "host": worker.get("host") if isinstance(worker, dict) else None,
            "rejected": rejected,
            "feasible": is_feasible(trial),
            "eligible": eligible,
            "fail_reason": attrs.fail_reason,
            "prune_reason": attrs.get(record.PRUNE_REASON),
        }
        for k, key in enumerate(value_keys):
            row[key] = values[k] if k < len(values) else math.nan
        partial = []
        for protocol, per_threshold in per_protocol:
            metrics = attrs.metrics(protocol)
            for threshold, key in per_threshold:
                found = metrics.get(threshold) if metrics is not None else None
                value = found.get("hter") if isinstance(found, dict) else None
                row[key] = value
                if value is not None and threshold == objective_hter:
                    partial.append(value)
        row["partial_hter"] = sum(partial) / len(partial) if partial else None
        row["selection"] = values[0] if complete and not rejected else None
        row.update(_selections(attrs, protocols, select_on, objective_hter))
        distill = attrs.get(record.DISTILL_SPEC)
        if isinstance(distill, dict):
            row.update({"kd_" + key: value for key, value in distill.items()})
        row.update({"params_" + key: value for key, value in trial.params.items()})
        for column, key in ENTRY_COLUMNS:
            if key in attrs.attrs:
                row[column] = attrs.get(key)
        records.append(row)
    selection_keys = [f"selection_{p}" for p in protocols]
    ordered = list(BASE_COLUMNS) + value_keys + [key for _, _, key in hter_keys] + selection_keys
    extra = sorted({key for row in records for key in row} - set(ordered))
    numeric = set(FLOAT_COLUMNS + value_keys + [key for _, _, key in hter_keys] + selection_keys)
    columns = {
        name: _floats([r.get(name) for r in records])
        if name in numeric
        else [r.get(name) for r in records]
        for name in ordered + extra
    }
    frame = pd.DataFrame(columns)
    for name in ("rejected", "feasible", "eligible"):
        frame[name] = frame[name].astype(bool)
    frame["number"] = frame["number"].astype(int)
    frame["pareto"] = on_front
    frame["dominated"] = candidate & ~on_front
    _target_means(frame, protocols, objective_hter, select_on)
    return frame


def _selections(
    attrs: record.TrialRecord, protocols: Sequence[str], select_on: str, hter: str
) -> dict[str, Any]:
    """``selection_<P>``: the recorded selection value, else the rule's value of the metrics
    (a trial made before ``select_on`` existed records neither ``selection.<P>`` nor, in hand
    studies, ``hter.<P>``), else None."""
    recorded = attrs.selection_values()
    found: dict[str, Any] = {}
    for protocol in protocols:
        value = recorded.get(protocol)
        metrics = attrs.metrics(protocol)
        if value is None and metrics is not None:
            try:
                value = selection.protocol_value(metrics, select_on, hter)
            except (KeyError, TypeError, ValueError, ZeroDivisionError):
                value = None
        found[f"selection_{protocol}"] = value
    return found


def _target_means(
    frame: pd.DataFrame, protocols: Sequence[str], objective_hter: str, select_on: str
) -> None:
    """Add ``mean_hter_<threshold>`` and ``partial_hter_<threshold>``; set ``mean_hter``."""
    done = (frame["state"] == "COMPLETE") & ~frame["rejected"] & frame["selection"].notna()
    for threshold in THRESHOLDS:
        key = _column_key(threshold)
        columns = frame[[f"hter_{key}_{p}" for p in protocols]]
        full = columns.mean(axis=1, skipna=False) if len(protocols) else np.nan
        frame[f"mean_hter_{key}"] = pd.Series(full, index=frame.index, dtype=float).where(done)
        partial = columns.mean(axis=1) if len(protocols) else np.nan
        frame[f"partial_hter_{key}"] = pd.Series(partial, index=frame.index, dtype=float)
    target = f"mean_hter_{_column_key(objective_hter)}"
    if select_on == selection.TARGET_TEST:
        # The first value is the target HTER (what a study made before select_on minimised).
        frame[target] = frame["mean_hter"].where(frame["mean_hter"].notna(), frame[target])
    else:
        frame["mean_hter"] = frame[target]


def protocol_frame(trials: Sequence[FrozenTrial], protocols: Sequence[str]) -> pd.DataFrame:
    """Long format: one row per (trial number, protocol, threshold) with every recorded metric.

    Rows come in trial-number order, then protocol order, then ``THRESHOLDS`` order.
    The metric ``threshold`` (its value) is the column ``threshold_value``; ``threshold`` names
    the rule (``test-eer`` or ``source-threshold``).
    """
    get_all = operator.itemgetter(*PROTOCOL_METRICS)
    rows = []
    for trial in sorted(trials, key=lambda t: t.number):
        attrs = record.TrialRecord.of(trial)
        for protocol in protocols:
            metrics = attrs.metrics(protocol)
            if metrics is None:
                continue
            for threshold in THRESHOLDS:
                values = metrics.get(threshold)
                if not isinstance(values, dict):
                    continue
                try:
                    picked = get_all(values)
                except KeyError:
                    picked = tuple(values.get(name) for name in PROTOCOL_METRICS)
                rows.append((trial.number, protocol, threshold, *picked))
    names = ["number", "protocol", "threshold"] + [
        "threshold_value" if name == "threshold" else name for name in PROTOCOL_METRICS
    ]
    frame = pd.DataFrame(rows, columns=names)
    for name in names[3:]:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    return frame


def hypervolume_frame(
    trials: pd.DataFrame, reference: tuple[float, float] | None = None
) -> tuple[pd.DataFrame, tuple[float, float]]:
    """Hypervolume of the study's own (selection value, GMACs) after each finished trial, in
    trial-number order: the search's progress as the search saw it (for a ``target-test`` study,
    the mean HTER it minimised).

    Only front candidates (``eligible``) count. ``compute_hours`` is the cumulative duration of
    the finished trials so far (all states). Default reference: HTER 0.5, and the largest
    candidate GMACs x 1.1.

    Returns:
        ``(frame with number, compute_hours, hypervolume; (ref_hter, ref_gmacs))``.
    """
    finished = trials[trials["state"].isin(["COMPLETE", "PRUNED", "FAIL"])]
    candidates = finished[finished["eligible"]]
    if reference is None:
        top = candidates["gmacs"].max() if len(candidates) else math.nan
        reference = (HV_REFERENCE_HTER, float(top) * HV_GMACS_MARGIN if top == top else 1.0)
    points = np.column_stack(
        [
            finished["gmacs"].to_numpy(dtype=float),
            np.where(finished["eligible"], finished["selection"], np.nan),
        ]
    )
    history = hypervolume_history(points, (reference[1], reference[0]))
    hours = np.cumsum(np.nan_to_num(finished["duration_s"].to_numpy(dtype=float))) / 3600.0
    frame = pd.DataFrame(
        {
            "number": finished["number"].to_numpy(),
            "compute_hours": hours,
            "hypervolume": history,
        }
    )
    return frame, (float(reference[0]), float(reference[1]))
