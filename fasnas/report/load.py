"""Loading a report: the study read once from storage, every frame computed, the headline.

Owns :func:`load_report_data` and what it returns, :class:`ReportData`: it opens the storage
through :mod:`fasnas.storage` (a report never creates anything), reads each study's trials once
(:func:`fasnas.storage.fast_read.read_trials`), builds the frames (:mod:`.frames`), the
leaderboard and the teacher's reference point (:mod:`.leaderboard`) and how the study ran
(:func:`run_info`), the study's selection rule and how honest its front is (:mod:`.honesty`:
the oracle fronts, the optimism gap and the rank correlations, at each threshold). Nothing here
imports plotly; study attributes are read through :mod:`fasnas.record` only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from fasnas import record, selection
from fasnas.errors import StorageError
from fasnas.report.confirmed import confirmed_frame
from fasnas.report.frames import (
    THRESHOLD_LABELS,
    THRESHOLDS,
    hypervolume_frame,
    protocol_frame,
    protocol_order,
    study_protocols,
    trials_frame,
)
from fasnas.report.honesty import Honesty, honesty_by_threshold, mark_oracle_fronts, oracle_column
from fasnas.report.importances import importance_frame
from fasnas.report.leaderboard import Teacher, leaderboard_frame, teacher_from, teacher_of
from fasnas.storage import describe_url, open_storage, study_names
from fasnas.storage.fast_read import read_trials
from fasnas.versions import installed_versions

if TYPE_CHECKING:
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial

VERSION_PACKAGES = (
    "fasnas",
    "optuna",
    "torch",
    "timm",
    "open_clip_torch",
    "plotly",
    "pandas",
    "numpy",
)


# ----------------------------------------------------------------------------------------------
# Storage


def storage_of(storage: str | BaseStorage) -> BaseStorage:
    """An Optuna storage object as is; a URL opened by :func:`fasnas.storage.open_storage`
    with ``must_exist=True`` (a report never creates a file or a table).

    Raises:
        StorageError: ``storage`` is neither, or the URL cannot be opened.
    """
    import optuna

    if isinstance(storage, optuna.storages.BaseStorage):
        return storage
    if not isinstance(storage, str):
        raise StorageError(
            f"storage: expected a storage URL (journal:x.journal, sqlite:///x.db, "
            f"postgresql://...) or an Optuna storage object, got {storage!r}"
        )
    return open_storage(storage, must_exist=True, writable=False)


def storage_description(storage: str | BaseStorage) -> str:
    """A short, password-free description: ``SQLite file /x.db``, ``journal (...)``, ..."""
    import optuna

    if isinstance(storage, str):
        return describe_url(storage)
    if isinstance(storage, optuna.storages.RDBStorage):
        url = storage.engine.url
        kind = url.get_backend_name()
        where = url.database if kind == "sqlite" else url.render_as_string(hide_password=True)
        return f"{kind} ({where})"
    if isinstance(storage, optuna.storages.JournalStorage):
        return f"journal ({type(getattr(storage, '_backend', None)).__name__})"
    if isinstance(storage, optuna.storages.InMemoryStorage):
        return "in-memory"
    return type(storage).__name__


def study_id_of(storage: BaseStorage, study_name: str) -> int:
    """The id of ``study_name`` in ``storage``; a one-line StorageError listing the studies."""
    try:
        return storage.get_study_id_from_name(study_name)
    except KeyError:
        raise StorageError(
            f"study {study_name!r} not found in {storage_description(storage)}; "
            f"studies there: {study_names(storage)}"
        ) from None


def study_exists(storage: str | BaseStorage, study_name: str) -> bool:
    """Whether ``storage`` holds a study named ``study_name``."""
    return study_name in study_names(storage_of(storage))


# ----------------------------------------------------------------------------------------------
# The data


@dataclass
class ReportData:
    """Everything a report shows; frames are tidy, one row per observation.

    Attributes:
        study_name: The study's name.
        directions: ``"minimize"``/``"maximize"`` per objective.
        metric_names: Optuna's metric names (or ``objective 0``, ...).
        objective_hter: The HTER the study minimises: ``"test-eer"`` or ``"source-threshold"``.
        protocol_names: Protocol names in display order (M, C, I, O first).
        trials: One row per trial (see :func:`trials_frame`).
        protocols: Long format: number, protocol, threshold, hter, auc, ... (every trial).
        hypervolume: number, compute_hours, hypervolume (one row per finished trial).
        hv_reference: ``(hter, gmacs)`` bounding the hypervolume.
        importances: target, param, importance (empty when too few trials).
        importances_note: Why importances are missing, or how they were computed.
        run_info: How the study ran (states, workers, compute, storage, hashes, versions).
        teacher: The teacher's reference point, when known (see :func:`load_report_data`).
        baselines: The ``fasnas bench`` leaderboard at ``objective_hter`` (empty without a
            bench study).
        bench_study_name: The bench study read, if any.
        select_on: The study's selection rule (:mod:`fasnas.selection`; ``target-test`` for a
            study made before the rule existed).
        honesty: Per threshold, the honest front against the oracle front
            (:class:`~fasnas.report.honesty.Honesty`).
        baselines_at: Per threshold, the bench leaderboard (``baselines`` is one of them).
        confirmed: The confirmed candidates (:func:`fasnas.report.confirmed.confirmed_frame`;
            empty without a confirm study).
        confirm_study_name: The confirm study read, if any.
        budget_gmacs: A deployment budget to draw (``report.budget_gmacs``), if any.
    """

    study_name: str
    directions: list[str]
    metric_names: list[str]
    objective_hter: str
    protocol_names: list[str]
    trials: pd.DataFrame
    protocols: pd.DataFrame
    hypervolume: pd.DataFrame
    hv_reference: tuple[float, float]
    importances: pd.DataFrame
    importances_note: str
    run_info: dict[str, Any]
    teacher: Teacher | None = None
    baselines: pd.DataFrame = field(default_factory=pd.DataFrame)
    bench_study_name: str | None = None
    select_on: str = selection.TARGET_TEST
    honesty: dict[str, Honesty] = field(default_factory=dict)
    baselines_at: dict[str, pd.DataFrame] = field(default_factory=dict)
    confirmed: pd.DataFrame = field(default_factory=pd.DataFrame)
    confirm_study_name: str | None = None
    budget_gmacs: float | None = None  # report.budget_gmacs: a line and the best point under it

    @property
    def pareto(self) -> pd.DataFrame:
        """The Pareto trials (the study's own front: chosen by its selection rule), cheapest
        first."""
        front = self.trials[self.trials["pareto"]]
        return front.sort_values(["gmacs", "selection", "number"], kind="stable")

    def oracle_front(self, threshold: str) -> pd.DataFrame:
        """The oracle front at ``threshold`` (chosen on the target HTER), cheapest first."""
        column = oracle_column(threshold)
        if column not in self.trials:
            return self.trials.iloc[:0]
        front = self.trials[self.trials[column]]
        return front.sort_values(["gmacs", "number"], kind="stable")

    @property
    def is_oracle(self) -> bool:
        """Whether the study selected on the target (``target-test``): its front is an oracle."""
        return self.select_on not in selection.HONEST

    @property
    def rule(self) -> str:
        """The selection rule in one line (:func:`fasnas.selection.describe`)."""
        return selection.describe(self.select_on, self.objective_hter)

    @property
    def selection_label(self) -> str:
        """What the study's first value is, in a few words (``mean source-val EER``, ...)."""
        return SELECTION_LABELS.get(self.select_on, "mean HTER")

    @property
    def front_label(self) -> str:
        """How the study's front was chosen, for legends and headings."""
        if self.is_oracle:
            return "front selected on the target (an oracle)"
        return f"front selected on the sources ({self.selection_label})"

    @property
    def threshold_label(self) -> str:
        """The headline threshold in words."""
        return THRESHOLD_LABELS.get(self.objective_hter, self.objective_hter)


SELECTION_LABELS = {
    selection.SOURCE_VAL: "mean source-val EER",
    selection.LOSO: "mean inner HTER",
    selection.TARGET_TEST: "mean HTER",
}


def objective_hter_of(study_attrs: Mapping[str, Any], metric_names: Sequence[str]) -> str:
    """The minimised HTER: the study's ``objective_hter`` record, else the metric name's."""
    value = record.StudyRecord(study_attrs).objective_hter
    if value in THRESHOLDS:
        return value
    if metric_names:
        for threshold in THRESHOLDS:
            if f"({threshold})" in metric_names[0]:
                return threshold
    return "test-eer"


def _hash_fields(config: Mapping[str, Any]) -> dict[str, Any]:
    """Entries of the study's ``config`` attribute whose key names a hash (data, teacher...)."""
    found: dict[str, Any] = {}
    for key, value in config.items():
        lowered = key.lower()
        if "hash" in lowered or "sha" in lowered:
            found[key] = value
    return found


def run_info(
    trials: pd.DataFrame, storage: str | BaseStorage, study_attrs: Mapping[str, Any]
) -> dict[str, Any]:
    """How the study ran: trials by state, workers, compute, storage, hashes, versions."""
    states = Counter(trials["state"]) if len(trials) else Counter()
    workers = sorted({w for w in trials.get("worker", pd.Series(dtype=object)).dropna()})
    hosts = sorted({h for h in trials.get("host", pd.Series(dtype=object)).dropna()})
    durations = trials["duration_s"].dropna() if len(trials) else pd.Series(dtype=float)
    starts = trials["datetime_start"].dropna() if len(trials) else pd.Series(dtype=object)
    ends = trials["datetime_complete"].dropna() if len(trials) else pd.Series(dtype=object)
    study = record.StudyRecord(study_attrs)
    failures = Counter(
        str(reason).split(":", 1)[0]
        for reason in trials.get("fail_reason", pd.Series(dtype=object)).dropna()
    )
    return {
        "n_trials": int(len(trials)),
        "states": {state: int(count) for state, count in sorted(states.items())},
        "rejected": int(trials["rejected"].sum()) if len(trials) else 0,
        "workers": workers,
        "hosts": hosts,
        "compute_hours": float(durations.sum()) / 3600.0,
        "first_start": min(starts) if len(starts) else None,
        "last_complete": max(ends) if len(ends) else None,
        "storage": storage_description(storage),
        "config_hash": study.config_hash,
        "hashes": _hash_fields(study.config or {}),
        "failure_reasons": dict(failures.most_common()),
        "study_versions": study.versions,
        "versions": installed_versions(VERSION_PACKAGES),
    }


# ----------------------------------------------------------------------------------------------
# Reading and loading


@dataclass
class _Study:
    storage: BaseStorage
    name: str
    directions: list[str]
    metric_names: list[str]
    user_attrs: dict[str, Any]
    trials: list[FrozenTrial]


def _read_study(storage: BaseStorage, study_name: str) -> _Study:
    import optuna

    study_id = study_id_of(storage, study_name)
    directions = [d.name.lower() for d in storage.get_study_directions(study_id)]
    study = optuna.load_study(study_name=study_name, storage=storage)
    names = study.metric_names or [f"objective {k}" for k in range(len(directions))]
    return _Study(
        storage=storage,
        name=study_name,
        directions=directions,
        metric_names=list(names),
        user_attrs=dict(storage.get_study_user_attrs(study_id)),
        trials=read_trials(storage, study_id),
    )


def load_report_data(
    storage: str | BaseStorage,
    study_name: str,
    *,
    bench_study_name: str | None = None,
    confirm_study_name: str | None = None,
    hv_reference: tuple[float, float] | None = None,
    importances: bool = True,
    teacher_reference: Mapping[str, Any] | None = None,
) -> ReportData:
    """Read a study (and optionally its bench study) once and compute every report frame.

    Args:
        storage: A storage URL as :mod:`fasnas.storage` resolves them (``journal:x.journal``,
            ``sqlite:///x.db``, ``postgresql://...``, ``redis://...``) or an Optuna storage.
        study_name: The search study.
        bench_study_name: A ``fasnas bench`` study in the same storage; its baselines become
            the leaderboard and overlay points. See :func:`fasnas.record.bench_study_name`.
        confirm_study_name: A ``fasnas study confirm`` study in the same storage; its runs
            give the confirmed front (:mod:`fasnas.report.confirmed`).
        hv_reference: ``(hter, gmacs)`` bounding the hypervolume; default ``(0.5, 1.1 x the
            largest candidate GMACs)``.
        importances: Compute parameter importances (importing ``optuna.importance`` pulls in
            scikit-learn and SciPy: about 1 s of a 10,000-trial report here).
        teacher_reference: The teacher's reference point computed from the teacher files
            (:func:`fasnas.teacher.reference.teacher_reference`); preferred over the
            ``teacher`` attribute ``fasnas bench`` stored on the study (or its bench study),
            which older studies still report from.

    Raises:
        StorageError: the storage cannot be opened, or a study is not in it.
    """
    given = storage
    storage = storage_of(storage)
    study = _read_study(storage, study_name)
    n_objectives = len(study.directions)
    objective_hter = objective_hter_of(study.user_attrs, study.metric_names)
    select_on = _select_on(study)
    protocols = study_protocols(study.user_attrs, study.trials)
    trials = trials_frame(study.trials, n_objectives, protocols, objective_hter, select_on)
    mark_oracle_fronts(trials, n_objectives)
    metrics = protocol_frame(study.trials, protocols)
    hypervolume, reference = hypervolume_frame(trials, hv_reference)
    label = SELECTION_LABELS.get(select_on, "mean HTER")
    targets = [(label, 0)] + ([("GMACs", 1)] if n_objectives > 1 else [])
    eligible = set(trials.loc[trials["eligible"], "number"].tolist()) if len(trials) else set()
    if importances:
        importance, note = importance_frame(study.trials, eligible, study.directions, targets)
    else:
        importance = pd.DataFrame({"target": [], "param": [], "importance": []})
        note = "Parameter importances were turned off for this report."
    teacher = teacher_from(teacher_reference, objective_hter)
    if teacher is None:
        teacher = teacher_of(study.user_attrs, objective_hter)
    boards: dict[str, pd.DataFrame] = {}
    if bench_study_name is not None:
        bench = _read_study(storage, bench_study_name)
        found = study_protocols(bench.user_attrs, bench.trials)
        bench_protocols = protocol_order(set(protocols) | set(found))
        bench_trials = trials_frame(
            bench.trials, len(bench.directions), bench_protocols, objective_hter, _select_on(bench)
        )
        bench_metrics = protocol_frame(bench.trials, bench_protocols)
        if teacher is None:
            teacher = teacher_of(bench.user_attrs, objective_hter)
        boards = {
            t: leaderboard_frame(bench_trials, bench_metrics, bench_protocols, t, teacher)
            for t in THRESHOLDS
        }
    confirmed = pd.DataFrame()
    if confirm_study_name is not None:
        runs = _read_study(storage, confirm_study_name).trials
        framed = trials_frame(runs, n_objectives, protocols, objective_hter, select_on)
        confirmed = confirmed_frame(trials, framed, n_objectives)
    return ReportData(
        study_name=study_name,
        directions=study.directions,
        metric_names=study.metric_names,
        objective_hter=objective_hter,
        protocol_names=protocols,
        trials=trials,
        protocols=metrics,
        hypervolume=hypervolume,
        hv_reference=reference,
        importances=importance,
        importances_note=note,
        run_info=run_info(trials, given, study.user_attrs),
        teacher=teacher,
        baselines=boards.get(objective_hter, pd.DataFrame()),
        bench_study_name=bench_study_name,
        select_on=select_on,
        honesty=honesty_by_threshold(trials, protocols, select_on),
        baselines_at=boards,
        confirmed=confirmed,
        confirm_study_name=confirm_study_name,
    )


def _select_on(study: _Study) -> str:
    """The study's selection rule; ``target-test`` for a study made before the rule existed."""
    return selection.select_on_of(record.StudyRecord(study.user_attrs).select_on)
