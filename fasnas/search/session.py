"""Sessions on an Optuna study: open it, record it at creation, refuse a process that disagrees.

Owns the link between a study config and an ``optuna.Study``. A study has a :class:`Role`: the
*search* study ``<name>`` (trials sampled from the space), the *bench* study
``<name>-bench`` (fixed baseline trials, :mod:`fasnas.search.bench`) or the *confirm* study
``<name>-confirm`` (the search's candidates re-trained with new seeds,
:mod:`fasnas.search.confirm`). All are opened by :func:`open_session` and run by the same
worker (:mod:`fasnas.search.worker`).

The record. At creation the study stores (through :mod:`fasnas.record`) ``config`` (the role's
fingerprint, :mod:`fasnas.search.fingerprint`), ``config_hash``, ``created_at``, ``budget``,
``objective_hter``, ``search`` and ``versions``. A process whose fingerprint differs refuses to
join with one line naming the first differing field; a joining process waits up to
:data:`RECORD_WAIT_S` for the creator to finish the record, and a ``study worker`` started
together with ``study start`` waits up to :data:`STUDY_WAIT_S` for the study to exist.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from fasnas import record
from fasnas.config import StudyConfig
from fasnas.errors import ConfigError, MissingStudyError, StorageError
from fasnas.schema import is_number
from fasnas.search.artifacts import AtomicFileSystemArtifactStore, open_artifact_store
from fasnas.search.bench import BenchSpace
from fasnas.search.budget import budget_for
from fasnas.search.confirm import ConfirmSpace
from fasnas.search.fingerprint import (
    bench_fingerprint,
    fingerprint_difference,
    require_space,
    study_fingerprint,
)
from fasnas.search.recovery import RetryStaleTrial
from fasnas.search.settings import make_sampler
from fasnas.storage import create_or_load, describe_url, open_storage, require_study
from fasnas.versions import installed_versions

RECORD_WAIT_S = 30.0  # how long a joining process waits for a study's creator to record it
STUDY_WAIT_S = 30.0  # how long `study worker` waits for a study that `study start` creates


@dataclass(frozen=True)
class Role:
    """Which study of a config a session works on, and how its trials are run."""

    name: str  # "search" or "bench"
    suffix: str  # appended to the config's name
    fingerprint: Callable[[StudyConfig], dict[str, Any]]
    fixed_only: bool  # only enqueued fixed trials run (the budget admits no fresh trial)
    measure_latency: bool  # always measure CPU latency (recorded, not an objective)
    early_stopping: bool  # the config's early stopping applies
    space: Callable[[StudyConfig], Any]  # what the role's trials are trained from
    worker_flag: str | None  # the `fasnas study worker` option that joins this role's study

    def study_name(self, config: StudyConfig) -> str:
        return config.name + self.suffix


def _search_space(config: StudyConfig) -> Any:
    from fasnas.space import SearchSpace

    return SearchSpace.load(require_space(config))


SEARCH = Role("search", "", study_fingerprint, False, False, True, _search_space, None)
BENCH = Role(
    "bench",
    record.BENCH_SUFFIX,
    bench_fingerprint,
    True,
    True,
    False,
    lambda config: BenchSpace(config.bench),
    "--bench",
)
# Confirmations train the search's own candidates: the same fingerprint, never pruned early
# (every protocol is needed for a mean), never sampled.
CONFIRM = Role(
    "confirm",
    record.CONFIRM_SUFFIX,
    study_fingerprint,
    True,
    False,
    False,
    lambda config: ConfirmSpace(),
    "--confirm",
)
ROLES = {role.name: role for role in (SEARCH, BENCH, CONFIRM)}


@dataclass
class StudySession:
    """An opened study with everything a worker or a command needs."""

    config: StudyConfig
    role: Role
    url: str
    study: Any  # optuna.Study
    artifact_store: AtomicFileSystemArtifactStore
    created: bool

    @property
    def where(self) -> str:
        return describe_url(self.url)


def record_study(study: Any, config: StudyConfig, role: Role, fingerprint: dict) -> None:
    """Store the study's record (creator only); ``config`` is written last: it marks it done."""
    import optuna

    objective = config.objective
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(objective.metric_names)
    now = time.time()
    n_trials = 0 if role.fixed_only else None
    record.write_study(
        study,
        created_at=now,
        budget=budget_for(config.search, now, n_trials, None, now),
        objective_hter=objective.hter,
        select_on=objective.select_on,
        search=asdict(config.search),
        config_hash=config.hash,
        versions=installed_versions(),
    )
    record.write_study(study, config=fingerprint)


def check_record(study: Any, config: StudyConfig, role: Role, fingerprint: dict, url: str):
    """Refuse to join a study whose record differs from this config (waits for its creator).

    Raises:
        StorageError: When the fingerprints differ, naming the first differing field.
    """
    deadline = time.monotonic() + RECORD_WAIT_S
    stored = record.StudyRecord.of(study).config
    while stored is None and time.monotonic() < deadline:
        time.sleep(0.2)
        stored = record.StudyRecord.of(study).config
    kind = "study" if role is SEARCH else f"{role.name} study"
    where = f"{config.path}: {kind} {role.study_name(config)!r} in {describe_url(url)}"
    if stored is None:
        raise StorageError(f"{where} has no fasnas config record; was it made by fasnas?")
    difference = fingerprint_difference(stored, fingerprint)
    if difference is not None:
        hint = "; delete that study (`optuna delete-study`) or use another storage"
        raise StorageError(
            f"{where} disagrees with this config: {difference}" + (hint if role is BENCH else "")
        )


def open_session(
    config: StudyConfig,
    *,
    role: Role = SEARCH,
    storage: str | None = None,
    create: bool = False,
    sampler_seed: int | None = None,
    wait_s: float = 0.0,
) -> StudySession:
    """Open the study of ``config`` in ``role``; every check runs before anything is written.

    Order: fingerprint (space parsed, teachers and lists hashed), the artifact store (a probe
    write), the storage (connection, credentials), then the study itself: created (only with
    ``create``) and recorded, or loaded and compared with this config.

    Args:
        config: The study config (every section validated when it was loaded).
        role: :data:`SEARCH`, :data:`BENCH` or :data:`CONFIRM`.
        storage: A storage URL overriding the config's (``--storage``).
        create: Create the study when it does not exist (``study start``, ``bench``).
        sampler_seed: Seed of this process's sampler (default: the config's seed).
        wait_s: Without ``create``, how long to wait for a missing storage or study to appear
            (a ``study start`` launched at the same moment is creating it).

    Raises:
        StorageError: Unreachable storage, bad credentials, a missing study (without
            ``create``), a record that disagrees, or an artifact store that cannot be written.
        ConfigError, DataError, CheckpointError: A missing space, list or teacher file.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    settings = config.search
    fingerprint = role.fingerprint(config)
    url = config.storage_url(storage)
    artifact_store = open_artifact_store(config, check=True)
    seed = config.seed if sampler_seed is None else sampler_seed
    sampler = make_sampler(settings.sampler, seed)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            opened = open_storage(
                url,
                must_exist=not create,
                heartbeat_interval=settings.heartbeat_interval,
                grace_period=settings.grace_period,
                stale_callback=RetryStaleTrial(settings.max_retries),
            )
            study, created = create_or_load(
                opened,
                role.study_name(config),
                config.objective.directions,
                sampler,
                url=url,
                create=create,
            )
            break
        except MissingStudyError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.25)
    if created:
        record_study(study, config, role, fingerprint)
    else:
        check_record(study, config, role, fingerprint, url)
    return StudySession(config, role, url, study, artifact_store, created)


def check_budget_options(n_trials: Any, timeout: Any) -> None:
    """Refuse a bad ``--n-trials``/``--timeout`` before anything is written.

    Raises:
        ConfigError: Naming the option.
    """
    for name, value in (("--n-trials", n_trials), ("--timeout", timeout)):
        if value is not None and (not is_number(value) or value <= 0):
            raise ConfigError(f"{name}: expected a positive number, got {value!r}")


def set_budget(session: StudySession, n_trials: int | None, timeout: float | None) -> dict:
    """Store the global budget given to ``study start`` (the config's unless overridden)."""
    check_budget_options(n_trials, timeout)
    study = session.study
    created_at = float(record.StudyRecord.of(study).created_at or time.time())
    budget = budget_for(session.config.search, created_at, n_trials, timeout, time.time())
    record.write_study(study, budget=budget)
    return budget


def load_study(config: StudyConfig, storage: str | None = None, *, role: Role = SEARCH) -> Any:
    """The existing study of ``config`` in ``role``, opened read-only (no record check).

    Raises:
        StorageError: The storage is unreachable or the study does not exist.
    """
    import optuna

    url = config.storage_url(storage)
    opened = open_storage(url, must_exist=True, writable=False)
    name = role.study_name(config)
    require_study(opened, name, url)
    return optuna.load_study(study_name=name, storage=opened)
