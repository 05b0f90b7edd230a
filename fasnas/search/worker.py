"""Worker processes of a study: seeds, the trial loop, global budgets, heartbeats and signals.

Owns what one worker does between joining a study and leaving it. A worker is one process
(``fasnas study worker``, or one of the N that ``fasnas study start --workers N`` spawns) that
runs trials one after another until the study's global budget is spent
(:class:`Budget`), or it is told to stop.

- **Seeds.** Each worker process joins the study's ledger (:mod:`fasnas.search.ledger`) and
  gets a join index that no other process of the study has, however many start at once on
  however many machines; its sampler is seeded with :func:`fasnas.search.ledger.derive_seed`
  (study seed, join index), so no two workers share a seed and none replays another's
  proposals (a continued or resumed study's workers join with new indices). Local workers have
  indices 0..N-1 (a label); a ``study worker`` takes ``--index`` or, by default,
  :func:`default_index` (from its host name and pid, >= 1000). Every trial records ``worker`` =
  ``{host, pid, pid_start, index, join, seed}``.
- **Heartbeat.** While a trial runs, a thread writes the trial's ``heartbeat`` user attribute
  (Unix time) every ``search.heartbeat_interval`` seconds, on every storage; RDB storages also
  run Optuna's own heartbeat. ``fasnas study resume`` and ``status`` read it.
- **Signals.** SIGINT (Ctrl-C) and SIGTERM (pre-emption) stop a worker cleanly: the running
  trial is failed with ``fail_reason: interrupted`` (``study resume`` retries it) and the worker
  exits with code 130. Outside a trial the worker just stops before the next one; a second
  signal is ignored while it cleans up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fasnas import record
from fasnas.objective import StudentObjective, TrialFailed
from fasnas.search import ledger
from fasnas.search.artifact_settings import KEEP_ALL
from fasnas.search.budget import Budget
from fasnas.search.early_stop import build_early_stopper
from fasnas.search.recovery import process_start, this_host
from fasnas.search.retention import prune_weights
from fasnas.search.session import StudySession
from fasnas.search.settings import make_sampler

INTERRUPTED = "interrupted"
EXIT_INTERRUPTED = 130


def default_index(host: str, pid: int) -> int:
    """Index of a worker started without ``--index``: 1000 + a 32-bit hash of host and pid."""
    return 1000 + zlib.crc32(f"{host}:{pid}".encode())


@dataclass(frozen=True)
class WorkerInfo:
    """Who runs a trial; recorded as the trial's ``worker`` user attribute."""

    host: str
    pid: int
    pid_start: int | None  # process start (clock ticks since boot), tells a reused pid apart
    index: int
    join: int  # join index: this process's entry in the study's ledger
    seed: int  # sampler seed, derived from the study seed and ``join``

    @classmethod
    def joining(cls, index: int | None, study_seed: int, storage, study_name: str) -> WorkerInfo:
        """This process as worker ``index`` (default: :func:`default_index`), joined to the
        ledger of ``study_name`` (one new entry)."""
        host, pid = this_host(), os.getpid()
        index = default_index(host, pid) if index is None else index
        started = process_start(pid)
        who = {"host": host, "pid": pid, "pid_start": started, "index": index}
        join = ledger.join(storage, study_name, who)
        return cls(host, pid, started, index, join, ledger.derive_seed(study_seed, join))

    def as_attr(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "pid": self.pid,
            "pid_start": self.pid_start,
            "index": self.index,
            record.WORKER_JOIN: self.join,
            record.WORKER_SEED: self.seed,
        }


class WorkerInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived while a trial ran."""


class InterruptGuard:
    """Turns SIGINT/SIGTERM into a clean stop (main thread only; a no-op elsewhere).

    A signal sets :attr:`requested`; inside :meth:`armed` it also raises
    :class:`WorkerInterrupted`, so the running trial ends at once. Repeated signals are ignored.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested: str | None = None
        self._armed = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested is not None:
            return
        self.requested = signal.Signals(signum).name
        if self._armed:
            self._armed = False
            raise WorkerInterrupted(self.requested)

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    @contextlib.contextmanager
    def armed(self) -> Iterator[None]:
        """Within this block a signal interrupts the work at once."""
        if self.requested is not None:
            raise WorkerInterrupted(self.requested)
        self._armed = True
        try:
            yield
        finally:
            self._armed = False


class Heartbeat:
    """A thread writing the trial's ``heartbeat`` user attribute every ``interval`` seconds."""

    def __init__(self, storage, trial_id: int, interval: float) -> None:
        self.storage = storage
        self.trial_id = trial_id
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fasnas-heartbeat", daemon=True)

    def beat(self) -> bool:
        """Write one heartbeat; False once the trial is finished or the storage fails."""
        try:
            record.write_heartbeat(self.storage, self.trial_id, time.time())
        except Exception:  # noqa: BLE001 - a finished trial or a storage hiccup ends the beat
            return False
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if not self.beat():
                return

    def __enter__(self) -> Heartbeat:
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class TrialRunner:
    """The function a worker hands to ``study.optimize``: records, checks, beats, runs."""

    def __init__(
        self,
        objective: Any,
        info: WorkerInfo,
        heartbeat_interval: float,
        guard: InterruptGuard,
        fixed_only: bool = False,
    ) -> None:
        self.objective = objective
        self.info = info
        self.heartbeat_interval = heartbeat_interval
        self.guard = guard
        self.fixed_only = fixed_only

    def __call__(self, trial: Any) -> Any:
        study = trial.study
        record.write_worker(trial, self.info.as_attr())
        if not record.TrialRecord.of(trial).is_fixed:
            trials = study.get_trials(deepcopy=False)
            budget = Budget.of(study, fixed_only=self.fixed_only)
            refusal = budget.refusal(trials, trial.number, time.time())
            if refusal is not None:
                record.mark_failed(trial, refusal)
                raise TrialFailed(refusal)
        try:
            with (
                self.guard.armed(),
                Heartbeat(study._storage, trial._trial_id, self.heartbeat_interval),
            ):
                return self.objective(trial)
        except KeyboardInterrupt:
            with contextlib.suppress(Exception):
                record.mark_failed(trial, INTERRUPTED)
            raise


@dataclass
class WorkerResult:
    """How a worker ended."""

    index: int
    trials: int  # trials this worker ran
    stop_reason: str
    exit_code: int  # 0, or 130 when interrupted

    def summary(self) -> str:
        return f"worker {self.index}: {self.trials} trial(s) run; stopped: {self.stop_reason}"


HTER_LABELS = {"test-eer": "test-EER", "source-threshold": "source threshold"}


def arch_label(spec: Any) -> str:
    """``small-0.75@96`` from a recorded student spec (its arch values, then its input size)."""
    if not isinstance(spec, dict):
        return ""
    arch = spec.get("arch") or {}
    values = "-".join(str(value) for value in arch.values())
    return f"{values}@{spec.get('img_size')}"


def trial_line(trial: Any, total: int | None = None, hter: str | None = None) -> str:
    """One line per finished trial, e.g. ``trial 7/400 mobilenetv3 small-0.75@96 0.021 GMACs
    select 12.3% target 14.1% (test-EER) 41 s``: number of the budget ``total``, family and
    architecture@input size, GMACs, its selection value (what the sampler got,
    :mod:`fasnas.selection`), its target mean HTER at the objective's threshold ``hter``
    (recorded only, under an honest rule), seconds, and which retry, bench entry or
    confirmation it is."""
    trial_record = record.TrialRecord.of(trial)
    seconds = (
        (trial.datetime_complete - trial.datetime_start).total_seconds()
        if trial.datetime_complete and trial.datetime_start
        else float("nan")
    )
    name = f"trial {trial.number}" + (f"/{total}" if total else "")
    what = " ".join(
        part for part in (trial_record.family, arch_label(trial_record.student_spec)) if part
    )
    retry = f" (retry of {trial_record.retry_of})" if trial_record.is_retry else ""
    if trial_record.bench_key is not None:
        model, kd, seed = trial_record.bench_key
        retry += f"  [{model} {'KD' if kd else 'CE'} seed {seed}]"
    if trial_record.confirm_key is not None:
        number, index = trial_record.confirm_key
        retry += f"  [confirms trial {number}, seed {index}]"
    if trial.values:
        selected, gmacs = trial.values[0], trial.values[1]
        if trial_record.rejected:
            score = "rejected: over budget"
        else:
            target = list(trial_record.objective_hters().values())
            mean = sum(target) / len(target) if target else float("nan")
            which = f" ({HTER_LABELS.get(hter, hter)})" if hter else ""
            score = f"select {100 * selected:.1f}% target {100 * mean:.1f}%{which}"
        return f"{name} {what} {gmacs:.3g} GMACs {score} {seconds:.0f} s{retry}"
    reason = trial_record.reason or trial.state.name
    return f"{name} {what} {trial.state.name.lower()}: {reason}{retry}"


def build_objective(session: StudySession, study: Any) -> Any:
    """The objective a worker of ``session`` runs: its role's space, latency and early stop."""
    config, role = session.config, session.role
    space = role.space(config)
    stopper = None
    if role.early_stopping:
        objective = config.objective
        stopper = build_early_stopper(
            config.early_stopping, study, config.protocols, objective.hter, objective.select_on
        )
    return StudentObjective(
        config,
        space,
        after_protocol=stopper,
        artifact_store=session.artifact_store,
        measure_latency=role.measure_latency,
    )


def run_worker(
    session: StudySession,
    *,
    index: int | None = None,
    echo: Callable[[str], Any] = print,
    quiet: bool = False,
) -> WorkerResult:
    """Run trials of the opened study until its budget is spent or the queue is empty.

    Args:
        session: The opened study (:func:`fasnas.search.session.open_session`).
        index: This worker's index (default: :func:`default_index`).
        echo: Where the one-line-per-trial output goes.
        quiet: Print only failed trials, interruptions and the summary line.

    Returns:
        The :class:`WorkerResult`; exit code 130 after SIGINT/SIGTERM.

    Raises:
        FasnasError: The artifact store, data or a teacher failed during a trial (that trial
            is failed, retryable).
    """
    import optuna
    import torch

    config, role = session.config, session.role
    name = session.study.study_name
    info = WorkerInfo.joining(index, config.seed, session.study._storage, name)
    sampler = make_sampler(config.search.sampler, info.seed)
    study = optuna.load_study(study_name=name, storage=session.study._storage, sampler=sampler)
    # one line per trial is ours (trial_line); Optuna's own "Trial N failed" warnings would
    # print tracebacks for interrupted trials
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    torch.set_num_threads(config.search.torch_threads())
    objective = build_objective(session, study)
    prefix = f"[worker {info.index} {info.host}:{info.pid}]"
    if not quiet:
        echo(
            f"{prefix} joined study {name!r} as its worker #{info.join} (sampler seed {info.seed})"
        )
    ran = 0

    retention = config.artifacts if role.name == "search" else None
    store = session.artifact_store

    def report(study: Any, trial: Any) -> None:
        nonlocal ran
        ran += 1
        if not quiet or trial.state.name == "FAIL":
            total = Budget.of(study, fixed_only=role.fixed_only).n_trials
            echo(f"{prefix} {trial_line(trial, total, config.objective.hter)}")
        if retention is not None and retention.keep != KEEP_ALL and store is not None:
            pruned = prune_weights(study, store, retention, config.protocols)
            if pruned.removed:
                echo(f"{prefix} {pruned.line()}")

    guard = InterruptGuard()
    runner = TrialRunner(objective, info, config.search.heartbeat_interval, guard, role.fixed_only)
    with guard:
        while True:
            if guard.requested is not None:
                reason = f"{INTERRUPTED} ({guard.requested})"
                break
            budget = Budget.of(study, fixed_only=role.fixed_only)
            reason = budget.stop_reason(study.get_trials(deepcopy=False), time.time())
            if reason is not None:
                break
            try:
                study.optimize(runner, n_trials=1, catch=(TrialFailed,), callbacks=[report])
            except KeyboardInterrupt:
                reason = f"{INTERRUPTED} ({guard.requested or 'SIGINT'})"
                break
            except optuna.exceptions.UpdateFinishedTrialError as error:
                # another process failed our trial (its heartbeat looked stale) and retried it
                echo(f"{prefix} {' '.join(str(error).split())}; another process retries it")
    interrupted = reason.startswith(INTERRUPTED)
    if interrupted:
        echo(f"{prefix} interrupted: its trial is failed; `fasnas study resume` retries it")
    result = WorkerResult(info.index, ran, reason, EXIT_INTERRUPTED if interrupted else 0)
    echo(f"{prefix} {result.summary()}")
    return result
