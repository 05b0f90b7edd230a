"""The report's tidy frames, computed from the trials apart from any drawing.

Owns the frames a report shows and their vocabulary: :func:`trials_frame` (one row per trial,
with the front candidates and the front marked through :mod:`fasnas.report.pareto`),
:func:`protocol_frame` (per-protocol metrics in long format), :func:`hypervolume_frame` (the
hypervolume after each finished trial) and :func:`importance_frame` (PED-ANOVA parameter
importances), plus the threshold names and a study's protocols in display order. Trial
attributes are read through :mod:`fasnas.record` only. HTER values are fractions (0..1) as the
objective stores them; GMACs count one multiply-add as one MAC.
"""

from __future__ import annotations

import copy
import math
import operator
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fasnas import record
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
MIN_TRIALS_FOR_IMPORTANCE = 10
MAX_TRIALS_FOR_IMPORTANCE = 1000  # a seeded sample keeps big studies fast
BASE_COLUMNS = (
    "number",
    "state",
    "mean_hter",
    "partial_hter",
    "gmacs",
    "latency_ms",
    "n_params",
    "family",
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
FLOAT_COLUMNS = ["mean_hter", "partial_hter", "gmacs", "latency_ms", "duration_s", "train_seconds"]
BENCH_COLUMNS = (  # (frame column, trial record key) of a bench entry
    ("baseline", record.BASELINE),
    ("kd", record.KD),
    ("bench_seed", record.BENCH_SEED),
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
    trials: Sequence[FrozenTrial], n_objectives: int, protocols: Sequence[str], objective_hter: str
) -> pd.DataFrame:
    """One row per trial, in trial-number order.

    Columns: number, state, ``values_<k>``, mean_hter (COMPLETE, not rejected), partial_hter
    (mean over the protocols a PRUNED trial finished), gmacs, latency_ms, n_params, family,
    img_size, seed, ``hter_<threshold>_<P>`` (threshold ``test_eer`` or ``source_threshold``),
    ``kd_<key>`` (the distill spec), ``params_<name>`` (Optuna params), datetime_start,
    datetime_complete, duration_s, train_seconds, worker, host, rejected, feasible, eligible
    (a front candidate), pareto, dominated (a candidate off the front), fail_reason,
    prune_reason, and for bench trials baseline, kd, bench_seed.
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
        distill = attrs.get(record.DISTILL_SPEC)
        if isinstance(distill, dict):
            row.update({"kd_" + key: value for key, value in distill.items()})
        row.update({"params_" + key: value for key, value in trial.params.items()})
        for column, key in BENCH_COLUMNS:
            if key in attrs.attrs:
                row[column] = attrs.get(key)
        records.append(row)
    ordered = list(BASE_COLUMNS) + value_keys + [key for _, _, key in hter_keys]
    extra = sorted({key for row in records for key in row} - set(ordered))
    numeric = set(FLOAT_COLUMNS + value_keys + [key for _, _, key in hter_keys])
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
    return frame


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
    """Hypervolume of (mean HTER, GMACs) after each finished trial, in trial-number order.

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
            np.where(finished["eligible"], finished["mean_hter"], np.nan),
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


def importance_frame(
    trials: Sequence[FrozenTrial],
    eligible_numbers: set[int],
    directions: Sequence[str],
    targets: Sequence[tuple[str, int]],
    *,
    max_trials: int = MAX_TRIALS_FOR_IMPORTANCE,
    seed: int = 0,
) -> tuple[pd.DataFrame, str]:
    """PED-ANOVA parameter importances of each ``(name, objective index)`` target.

    Uses Optuna's :class:`~optuna.importance.PedAnovaImportanceEvaluator` (fast; what
    optuna-dashboard uses) on the front candidates, a seeded sample of at most ``max_trials``
    of them, copied into an in-memory study.

    Returns:
        ``(frame with target, param, importance; a note for the page)``.
    """
    import optuna

    empty = pd.DataFrame({"target": [], "param": [], "importance": []})
    chosen = [t for t in trials if t.number in eligible_numbers]
    if len(chosen) < MIN_TRIALS_FOR_IMPORTANCE:
        return empty, (
            f"Parameter importances need at least {MIN_TRIALS_FOR_IMPORTANCE} finished trials "
            f"on the front's candidates; this study has {len(chosen)}."
        )
    sampled = len(chosen) > max_trials
    if sampled:
        picks = np.random.default_rng(seed).choice(len(chosen), size=max_trials, replace=False)
        chosen = [chosen[i] for i in sorted(picks)]
    rows = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study = _study_of(chosen, directions)
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()
            for name, index in targets:
                importances = optuna.importance.get_param_importances(
                    study, evaluator=evaluator, target=_objective(index)
                )
                rows += [(name, param, float(value)) for param, value in importances.items()]
    except Exception as error:  # noqa: BLE001 - an optional analysis never fails the report
        return empty, f"Parameter importances unavailable: {type(error).__name__}: {error}"
    note = (
        f"PED-ANOVA importances (Optuna) for reaching the best 10% of each target, over "
        f"{len(chosen)} finished front candidates"
        + (f" (a seeded sample of {max_trials})" if sampled else "")
        + "."
    )
    return pd.DataFrame(rows, columns=["target", "param", "importance"]), note


def _study_of(trials: Sequence[FrozenTrial], directions: Sequence[str]):
    """An in-memory ``optuna.Study`` over ``trials``, which it shares instead of copying.

    ``study.add_trials`` deep-copies every trial (most of the importance time at 1,000 trials);
    the evaluators only read ``get_trials``, which this study answers from the given list.
    """
    import optuna

    class GivenTrialsStudy(optuna.Study):
        def get_trials(self, deepcopy=True, states=None):
            chosen = [t for t in trials if states is None or t.state in states]
            return copy.deepcopy(chosen) if deepcopy else chosen

    storage = optuna.storages.InMemoryStorage()
    name = "fasnas-report-importances"
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created" line
    try:
        storage.create_new_study(
            [optuna.study.StudyDirection[d.upper()] for d in directions], study_name=name
        )
    finally:
        optuna.logging.set_verbosity(verbosity)
    return GivenTrialsStudy(study_name=name, storage=storage)


def _objective(index: int) -> Callable[[FrozenTrial], float]:
    return lambda trial: trial.values[index]
