"""Optuna studies: search settings, samplers, the study's config record, and the study commands.

Owns the link between a study config and an ``optuna.Study``: the ``search:`` section, the
record of the config a study was created with (and the refusal of workers that disagree), and
the functions behind ``fasnas study start | worker | resume | run``. Storage URLs live in
:mod:`fasnas.storage`, worker processes in :mod:`fasnas.workers`, crash recovery in
:mod:`fasnas.recovery`, artifacts in :mod:`fasnas.artifacts`, the status text in
:mod:`fasnas.status`.

Config sections read here (every key optional)::

    search:
      sampler: nsga2          # nsga2 (default) | tpe | gp | nsga3 | random; seeded per worker
      n_trials: 16            # global budget over all workers (null: no limit)
      timeout: null           # seconds from the study's creation, global (null: no limit)
      workers: 1              # local worker processes of `study start` and `study resume`
      heartbeat_interval: 60  # seconds between heartbeats of a running trial
      grace_period: 600       # a RUNNING trial silent for longer is stale (resume retries it)
      max_retries: 3          # retries of one lost trial before it is given up
    storage: null             # see fasnas.storage (default: journal:<name>.journal beside)
    artifacts: null           # see fasnas.artifacts (default: <name>-artifacts/ beside)

Budgets. ``n_trials`` counts the study's *fresh* trials: every trial except retries (a retry
continues its original) and trials the budget refused. Before each trial a worker stops when
the count has reached the budget and no trial waits in the queue; a fresh trial whose number
puts it past the budget (several workers asked at the same moment) is failed at once with
``fail_reason: budget-spent`` and never retried, so the count is exact. The timeout is a
deadline stored in the study (``budget.deadline``): ``search.timeout`` counts from the study's
creation, ``--timeout S`` on ``study start`` from the moment it is given; no fresh trial starts
after it. Queued retries run even when the budget is spent: they complete trials it already
paid for. ``study start`` on an existing study stores the budget it is given (the config's, or
``--n-trials``/``--timeout``) and continues the study.

The record. At creation the study stores, in its user attributes: ``config`` (the fingerprint
from :func:`study_fingerprint`: protocols, space, objective, sampler, seed, data options and
list hashes, teacher files' sha256, early stopping), ``config_hash``, ``created_at``,
``budget``, ``objective_hter``, ``search`` and ``versions``. A process whose fingerprint differs
refuses to join with one line naming the first differing field.

Run a study::

    fasnas study start studies/demo.yaml --workers 2
    fasnas study worker studies/demo.yaml --storage postgresql://fasnas@db/fasnas  # elsewhere
    fasnas study resume studies/demo.yaml
    fasnas study status studies/demo.yaml
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

from fasnas.config import StudyConfig
from fasnas.errors import CheckpointError, ConfigError, DataError, StorageError

SAMPLERS = ("nsga2", "tpe", "gp", "nsga3", "random")
RECORD_WAIT_S = 30.0  # how long a joining process waits for a study's creator to record it


@dataclass(frozen=True)
class SearchSettings:
    """The ``search:`` section of a study config."""

    sampler: str = "nsga2"  # one of SAMPLERS
    n_trials: int | None = 16  # global trial budget (all workers); None: no limit
    timeout: float | None = None  # global time budget in seconds from creation; None: none
    workers: int = 1  # local worker processes of `study start` / `study resume`
    heartbeat_interval: int = 60  # seconds between heartbeats of a running trial
    grace_period: int = 600  # seconds without heartbeat after which a trial is stale
    max_retries: int = 3  # retries of one lost trial
    threads: int | None = None  # torch CPU threads per worker; None: 1 (bit-reproducible)

    def torch_threads(self) -> int:
        """CPU threads each worker gives torch.

        One by default: with more, the same seed and parameters gave different losses on the
        CPU (threaded reductions), and small students on oversubscribed cores slowed down
        several-fold (OpenMP spinning). Use more workers, not more threads, to fill the cores;
        set ``search.threads`` to trade reproducibility for speed.
        """
        return self.threads if self.threads is not None else 1

    @classmethod
    def from_config(cls, config: StudyConfig) -> SearchSettings:
        """Read and validate ``search:``.

        Raises:
            ConfigError: On an unknown key or a bad value, naming the file and the key path.
        """
        raw = config.raw.get("search") or {}
        where = f"{config.path}: search"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping")
        names = {f.name for f in fields(cls)}
        for key in raw:
            if key not in names:
                raise ConfigError(f"{where}.{key}: unknown key; valid keys are {sorted(names)}")
        settings = cls(**raw)
        if settings.sampler not in SAMPLERS:
            raise ConfigError(
                f"{where}.sampler: expected one of {list(SAMPLERS)}, got {settings.sampler!r}"
            )
        if settings.threads is not None and (
            not isinstance(settings.threads, int) or settings.threads < 1
        ):
            threads = settings.threads
            raise ConfigError(f"{where}.threads: expected an integer >= 1, got {threads!r}")
        for key in ("n_trials", "timeout"):
            value = getattr(settings, key)
            if value is not None and (not _is_number(value) or value <= 0):
                raise ConfigError(
                    f"{where}.{key}: expected a positive number or null, got {value!r}"
                )
        if settings.n_trials is not None and not isinstance(settings.n_trials, int):
            raise ConfigError(f"{where}.n_trials: expected an integer, got {settings.n_trials!r}")
        for key in ("workers", "heartbeat_interval", "grace_period"):
            value = getattr(settings, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{where}.{key}: expected an integer >= 1, got {value!r}")
        if not isinstance(settings.max_retries, int) or settings.max_retries < 0:
            raise ConfigError(
                f"{where}.max_retries: expected an integer >= 0, got {settings.max_retries!r}"
            )
        if settings.grace_period <= settings.heartbeat_interval:
            raise ConfigError(
                f"{where}: `grace_period > heartbeat_interval` must hold, but got "
                f"(grace_period={settings.grace_period}, "
                f"heartbeat_interval={settings.heartbeat_interval})"
            )
        return settings


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def storage_url(config: StudyConfig, override: str | None = None) -> str:
    """The study's absolute storage URL: ``override``, the config's ``storage:``, or default."""
    from fasnas.storage import resolve_url

    value = override if override is not None else config.raw.get("storage")
    try:
        return resolve_url(value, config.path.parent, config.name)
    except ConfigError as error:
        raise ConfigError(f"{config.path}: {error}") from None


def make_sampler(name: str, seed: int, constraints_func: Callable | None = None):
    """One of the shipped multi-objective samplers, seeded, with the budget constraints."""
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # constraints_func: Optuna 5 deprecation
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed, constraints_func=constraints_func)
        if name == "nsga3":
            return optuna.samplers.NSGAIIISampler(seed=seed, constraints_func=constraints_func)
        if name == "tpe":
            return optuna.samplers.TPESampler(
                seed=seed, constraints_func=constraints_func, multivariate=True
            )
        if name == "gp":
            return optuna.samplers.GPSampler(seed=seed, constraints_func=constraints_func)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
    raise ConfigError(f"sampler: expected one of {list(SAMPLERS)}, got {name!r}")


def load_space(config: StudyConfig):
    """The study's search space (``space:`` is a path relative to the config)."""
    from fasnas.space import SearchSpace

    space = config.raw.get("space")
    if not isinstance(space, str):
        raise ConfigError(f"{config.path}: space: required, a path to search_spaces/X.yaml")
    return SearchSpace.load(config.path.parent / space)


def trial_line(trial) -> str:
    """One line per finished trial: number, family, GMACs, mean HTER, seconds."""
    attrs = trial.user_attrs
    seconds = (
        (trial.datetime_complete - trial.datetime_start).total_seconds()
        if trial.datetime_complete and trial.datetime_start
        else float("nan")
    )
    family = attrs.get("family", "?")
    retry = f" (retry of {attrs['retry_of']})" if "retry_of" in attrs else ""
    if trial.values:
        hter, gmacs = trial.values[0], trial.values[1]
        note = " (rejected: over budget)" if "rejected" in attrs else ""
        return (
            f"trial {trial.number:4d}  {family:<14} {gmacs:8.4f} GMACs  "
            f"mean HTER {100 * hter:6.2f}%  {seconds:6.1f}s{note}{retry}"
        )
    reason = attrs.get("fail_reason") or attrs.get("prune_reason") or trial.state.name
    return f"trial {trial.number:4d}  {family:<14} {trial.state.name.lower()}: {reason}{retry}"


# ---------------------------------------------------------------------------- the record


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def space_sha256(config: StudyConfig) -> str:
    """sha256 of the search space's parsed content (formatting and comments do not count)."""
    import yaml

    path = config.path.parent / str(config.raw.get("space"))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read search space ({error})") from None
    return _sha256_bytes(json.dumps(data, sort_keys=True, default=str).encode())


def data_lists(config: StudyConfig) -> list[tuple[str, str]]:
    """The ``(domain, split)`` lists the study's protocols read, in a stable order."""
    from fasnas.data.protocols import config_protocol

    wanted: dict[tuple[str, str], None] = {}
    for name in config.protocols:
        protocol = config_protocol(config, name)
        for domain in protocol.train_domains:
            wanted[domain, "train"] = None
        if protocol.shots:
            wanted[protocol.target, "shot"] = None
        wanted[protocol.target, "test"] = None
    return sorted(wanted)


def data_sha256(config: StudyConfig) -> dict[str, str]:
    """sha256 of each list the study reads (real then fake), keyed ``<domain>/<split>``.

    Raises:
        DataError: When a list file is missing or unreadable.
    """
    from fasnas.data.layout import Layout

    layout = Layout(config.data.root, config.data.benchmark)
    hashes = {}
    for domain, split in data_lists(config):
        digest = hashlib.sha256()
        for list_class in ("real", "fake"):
            path = layout.list_path(domain, list_class, split)
            try:
                data = path.read_bytes()
            except OSError as error:
                raise DataError(f"{path}: cannot read list file ({error.strerror})") from None
            digest.update(f"{list_class}:{len(data)}\n".encode() + data)
        hashes[f"{domain}/{split}"] = digest.hexdigest()
    return hashes


def teacher_sha256(config: StudyConfig) -> dict[str, str]:
    """sha256 of each protocol's teacher file.

    Raises:
        CheckpointError: When a teacher file is missing.
    """
    from fasnas.teacher.checkpoints import sha256_file

    hashes = {}
    for protocol in config.protocols:
        path = config.teacher.file_for(protocol)
        if not path.is_file():
            raise CheckpointError(
                f"{path}: no teacher for protocol {protocol}; run `fasnas teacher train --config "
                f"{config.path} --protocol {protocol}` or `fasnas teacher import ... --out {path}`"
            )
        hashes[protocol] = sha256_file(path)
    return hashes


def study_fingerprint(config: StudyConfig, settings: SearchSettings | None = None) -> dict:
    """What every process of a study must agree on (JSON-ready; paths are not part of it).

    Raises:
        ConfigError, DataError, CheckpointError: When the space, a list or a teacher file is
            missing or malformed.
    """
    from fasnas.objective import ObjectiveSettings

    settings = settings or SearchSettings.from_config(config)
    objective = ObjectiveSettings.from_config(config)
    data = config.data
    return {
        "protocols": list(config.protocols),
        "space": load_space(config).name,
        "space_sha256": space_sha256(config),
        "objective": asdict(objective),
        "sampler": settings.sampler,
        "seed": config.seed,
        "data": {
            "benchmark": data.benchmark,
            "size": data.size,
            "val_fraction": data.val_fraction,
            "celeb": data.celeb,
            "shots": data.shots,
            "seed": data.seed,
        },
        "data_sha256": data_sha256(config),
        "teacher": {
            "variant": config.teacher.variant,
            "model": config.teacher.model,
            "mode": config.teacher.mode,
        },
        "teacher_sha256": teacher_sha256(config),
        "early_stopping": config.raw.get("early_stopping"),
    }


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _show(value: Any) -> str:
    if isinstance(value, str) and len(value) == 64:
        return value[:12]  # a sha256: its first 12 hex digits say enough
    return json.dumps(value, default=str)


def fingerprint_difference(stored: dict, mine: dict) -> str | None:
    """The first field where two fingerprints differ, as ``field: study X, here Y``; or None."""
    ours, theirs = _flatten(json.loads(json.dumps(mine, default=str))), _flatten(stored)
    for key in sorted(set(ours) | set(theirs)):
        if ours.get(key, "<missing>") != theirs.get(key, "<missing>"):
            study_value = _show(theirs[key]) if key in theirs else "(not recorded)"
            here = _show(ours[key]) if key in ours else "(not set)"
            return f"{key}: the study has {study_value}, this config has {here}"
    return None


def _versions() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for package in ("fasnas", "optuna", "torch", "timm", "open_clip_torch"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def budget_for(settings: SearchSettings, created_at: float, n_trials, timeout, now: float) -> dict:
    """The ``budget`` study attribute: ``{"n_trials", "deadline"}`` (see the module docstring)."""
    budget_trials = n_trials if n_trials is not None else settings.n_trials
    if timeout is not None:
        deadline = now + float(timeout)
    elif settings.timeout is not None:
        deadline = created_at + float(settings.timeout)
    else:
        deadline = None
    return {"n_trials": budget_trials, "deadline": deadline}


def record_study(study, config: StudyConfig, fingerprint: dict, settings: SearchSettings) -> None:
    """Store the study's record (creator only); ``config`` is written last: it marks it done."""
    import warnings

    import optuna

    from fasnas.objective import ObjectiveSettings

    objective = ObjectiveSettings.from_config(config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(objective.metric_names)
    now = time.time()
    study.set_user_attr("created_at", now)
    study.set_user_attr("budget", budget_for(settings, now, None, None, now))
    study.set_user_attr("objective_hter", objective.hter)
    study.set_user_attr("search", asdict(settings))
    study.set_user_attr("config_hash", config.hash)
    study.set_user_attr("versions", _versions())
    study.set_user_attr("config", json.loads(json.dumps(fingerprint, default=str)))


def check_record(study, config: StudyConfig, fingerprint: dict, url: str) -> None:
    """Refuse to join a study whose record differs from this config (waits for its creator).

    Raises:
        StorageError: When the fingerprints differ, naming the first differing field.
    """
    from fasnas.storage import describe_url

    deadline = time.monotonic() + RECORD_WAIT_S
    stored = study.user_attrs.get("config")
    while not isinstance(stored, dict) and time.monotonic() < deadline:
        time.sleep(0.2)
        stored = study.user_attrs.get("config")
    where = f"{config.path}: study {config.name!r} in {describe_url(url)}"
    if not isinstance(stored, dict):
        raise StorageError(f"{where} has no fasnas config record; was it made by fasnas?")
    difference = fingerprint_difference(stored, fingerprint)
    if difference is not None:
        raise StorageError(f"{where} disagrees with this config: {difference}")


# ---------------------------------------------------------------------------- sessions


@dataclass
class StudySession:
    """An opened study with everything a worker or a command needs."""

    config: StudyConfig
    url: str
    study: Any  # optuna.Study
    settings: SearchSettings
    space: Any  # SearchSpace
    artifact_store: Any  # AtomicFileSystemArtifactStore
    created: bool


def open_session(
    config: StudyConfig,
    *,
    storage: str | None = None,
    create: bool = False,
    sampler_seed: int | None = None,
) -> StudySession:
    """Open the study of ``config``; every check runs before anything is written.

    Order: settings, space, fingerprint (teachers and lists hashed), the artifact store (a
    probe write), the storage (connection, credentials), then the study itself: created (only
    with ``create``) and recorded, or loaded and compared with this config.

    Args:
        config: The study config.
        storage: A storage URL overriding the config's (``--storage``).
        create: Create the study when it does not exist (``study start``).
        sampler_seed: Seed of this process's sampler (default: the config's seed).

    Raises:
        StorageError: Unreachable storage, bad credentials, a missing study (without
            ``create``), a record that disagrees, or an artifact store that cannot be written.
        ConfigError, DataError, CheckpointError: A bad config, a missing list or teacher.
    """
    import optuna

    from fasnas.artifacts import open_artifact_store
    from fasnas.objective import ObjectiveSettings, constraints
    from fasnas.recovery import RetryStaleTrial
    from fasnas.storage import create_or_load, open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    settings = SearchSettings.from_config(config)
    directions = ObjectiveSettings.from_config(config).directions
    space = load_space(config)
    fingerprint = study_fingerprint(config, settings)
    url = storage_url(config, storage)
    artifact_store = open_artifact_store(config, check=True)
    opened = open_storage(
        url,
        must_exist=not create,
        heartbeat_interval=settings.heartbeat_interval,
        grace_period=settings.grace_period,
        stale_callback=RetryStaleTrial(settings.max_retries),
    )
    seed = config.seed if sampler_seed is None else sampler_seed
    sampler = make_sampler(settings.sampler, seed, constraints)
    study, created = create_or_load(
        opened, config.name, directions, sampler, url=url, create=create
    )
    if created:
        record_study(study, config, fingerprint, settings)
    else:
        check_record(study, config, fingerprint, url)
    return StudySession(config, url, study, settings, space, artifact_store, created)


def set_budget(session: StudySession, n_trials: int | None, timeout: float | None) -> dict:
    """Store the global budget given to ``study start`` (the config's unless overridden)."""
    for name, value in (("--n-trials", n_trials), ("--timeout", timeout)):
        if value is not None and (not _is_number(value) or value <= 0):
            raise ConfigError(f"{name}: expected a positive number, got {value!r}")
    study = session.study
    created_at = float(study.user_attrs.get("created_at", time.time()))
    budget = budget_for(session.settings, created_at, n_trials, timeout, time.time())
    study.set_user_attr("budget", budget)
    return budget


# ---------------------------------------------------------------------------- commands


@dataclass
class StudyOutcome:
    """What a study command did; ``exit_code`` is the command's exit status."""

    exit_code: int
    lines: list[str]


def _echo_default() -> Callable[[str], Any]:
    return functools.partial(print, flush=True)


def _run_local(
    session: StudySession,
    workers: int | None,
    storage: str | None,
    echo: Callable[[str], Any],
) -> int:
    from fasnas.workers import run_worker, spawn_workers

    count = workers if workers is not None else session.settings.workers
    if not isinstance(count, int) or count < 1:
        raise ConfigError(f"--workers: expected an integer >= 1, got {count!r}")
    if count == 1:
        return run_worker(
            session.config, index=0, storage=storage, echo=echo, session=session
        ).exit_code
    return spawn_workers(session.config, count, storage=storage, echo=echo)


def start_study(
    config: StudyConfig,
    *,
    workers: int | None = None,
    n_trials: int | None = None,
    timeout: float | None = None,
    storage: str | None = None,
    echo: Callable[[str], Any] | None = None,
) -> StudyOutcome:
    """``fasnas study start``: create the study once (or continue it), then run local workers.

    Workers are ``workers`` processes (default ``search.workers``) with indices 0..N-1 and
    seeds :func:`fasnas.workers.derive_seed`; a single worker runs in this process, on the
    session opened here. The budget
    given here (``n_trials``/``timeout`` or the config's) is stored in the study, global.
    """
    from fasnas.storage import describe_url

    echo = echo or _echo_default()
    session = open_session(config, storage=storage, create=True)
    budget = set_budget(session, n_trials, timeout)
    verb = "created" if session.created else "continuing"
    limit = "no trial limit" if budget["n_trials"] is None else f"{budget['n_trials']} trials"
    echo(f"study {config.name!r} {verb} in {describe_url(session.url)} ({limit})")
    code = _run_local(session, workers, storage, echo)
    from fasnas.status import study_counts_line

    line = study_counts_line(session.study)
    echo(line)
    return StudyOutcome(code, [line])


def attach_worker(
    config: StudyConfig,
    *,
    storage: str | None = None,
    index: int | None = None,
    echo: Callable[[str], Any] | None = None,
) -> StudyOutcome:
    """``fasnas study worker``: attach one worker (this process) to an existing study."""
    from fasnas.workers import run_worker

    result = run_worker(config, index=index, storage=storage, echo=echo or _echo_default())
    return StudyOutcome(result.exit_code, [result.summary()])


def resume_study(
    config: StudyConfig,
    *,
    workers: int | None = None,
    storage: str | None = None,
    echo: Callable[[str], Any] | None = None,
) -> StudyOutcome:
    """``fasnas study resume``: fail stale trials, enqueue their retries, then run workers."""
    from fasnas.recovery import recover

    echo = echo or _echo_default()
    session = open_session(config, storage=storage, create=False)
    report = recover(
        session.study,
        grace_period=session.settings.grace_period,
        max_retries=session.settings.max_retries,
    )
    lines = report.lines()
    for line in lines:
        echo(line)
    code = _run_local(session, workers, storage, echo)
    from fasnas.status import study_counts_line

    lines.append(study_counts_line(session.study))
    echo(lines[-1])
    return StudyOutcome(code, lines)


def run_study(
    config: StudyConfig,
    *,
    n_trials: int | None = None,
    timeout: float | None = None,
    progress: bool = True,
    echo: Callable[[str], Any] | None = None,
):
    """``fasnas study run``: create (or continue) the study and run trials in this process.

    Same as ``study start --workers 1`` (``progress`` is kept for the CLI; one line is printed
    per trial instead of a bar).

    Returns:
        The ``optuna.Study``.
    """
    del progress
    echo = echo or _echo_default()
    start = time.perf_counter()
    outcome = start_study(config, workers=1, n_trials=n_trials, timeout=timeout, echo=echo)
    if outcome.exit_code:  # the in-process worker returns 0, or 130 after SIGINT/SIGTERM
        raise KeyboardInterrupt
    session_study = _load_study(config)
    elapsed = time.perf_counter() - start
    echo(f"{len(session_study.trials)} trials in the study; this run took {elapsed:.0f}s")
    return session_study


def _load_study(config: StudyConfig, storage: str | None = None):
    import optuna

    from fasnas.storage import open_storage

    url = storage_url(config, storage)
    return optuna.load_study(study_name=config.name, storage=open_storage(url, must_exist=True))
