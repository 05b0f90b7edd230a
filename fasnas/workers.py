"""Worker processes of a study: seeds, the trial loop, global budgets, heartbeats and signals.

Owns what one worker does between joining a study and leaving it. A worker is one process
(``fasnas study worker``, or one of the N that ``fasnas study start --workers N`` spawns) that
runs trials one after another until the study's global budget is spent
(:class:`Budget`), or it is told to stop.

- **Seeds.** Each worker's sampler is seeded with :func:`derive_seed` (study seed, worker
  index, and the number of trials in the study when the worker joined). Local workers have
  indices 0..N-1; a ``study worker`` takes ``--index`` or, by default, :func:`default_index`
  (from its host name and pid, >= 1000). The join point matters: worker 0 of a continued or
  resumed study must not replay the proposals of worker 0's first run (a seeded sampler's
  random phase would propose the same parameters again). Every trial records ``worker`` =
  ``{host, pid, pid_start, index, joined_at, seed}``.
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
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fasnas.config import StudyConfig

INTERRUPTED = "interrupted"
EXIT_INTERRUPTED = 130


def derive_seed(study_seed: int, worker_index: int, joined_at: int = 0) -> int:
    """The sampler seed of worker ``worker_index`` that joined when the study had
    ``joined_at`` trials: sha256 of the three, in ``[0, 2**31 - 1)``."""
    text = f"fasnas-worker:{study_seed}:{worker_index}:{joined_at}"
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**31 - 1)


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
    joined_at: int  # trials in the study when this worker joined
    seed: int

    @classmethod
    def current(cls, index: int | None, study_seed: int, joined_at: int) -> WorkerInfo:
        """This process as worker ``index`` (default: :func:`default_index`)."""
        from fasnas.recovery import process_start, this_host

        host, pid = this_host(), os.getpid()
        index = default_index(host, pid) if index is None else index
        seed = derive_seed(study_seed, index, joined_at)
        return cls(host, pid, process_start(pid), index, joined_at, seed)

    def as_attr(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "pid": self.pid,
            "pid_start": self.pid_start,
            "index": self.index,
            "joined_at": self.joined_at,
            "seed": self.seed,
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
            self.storage.set_trial_user_attr(self.trial_id, "heartbeat", time.time())
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


@dataclass(frozen=True)
class Budget:
    """The study's global budget (study attribute ``budget``); see :mod:`fasnas.study`."""

    n_trials: int | None
    deadline: float | None

    @classmethod
    def of(cls, study) -> Budget:
        raw = study.user_attrs.get("budget") or {}
        return cls(raw.get("n_trials"), raw.get("deadline"))

    @staticmethod
    def counts(trial) -> bool:
        """Whether a trial uses budget: a fresh trial (not a retry) that the budget admitted."""
        from fasnas.recovery import is_budget_spent

        return "retry_of" not in trial.user_attrs and not is_budget_spent(trial)

    def used(self, trials: Sequence) -> int:
        """Fresh trials so far (every state)."""
        return sum(1 for trial in trials if self.counts(trial))

    def stop_reason(self, trials: Sequence, now: float) -> str | None:
        """Why a worker should not start another trial, or None (queued trials always run)."""
        from optuna.trial import TrialState

        if any(trial.state == TrialState.WAITING for trial in trials):
            return None
        used = self.used(trials)
        if self.n_trials is not None and used >= self.n_trials:
            return f"budget spent: {used} of {self.n_trials} trials"
        if self.deadline is not None and now >= self.deadline:
            return "timeout: the study's deadline has passed"
        return None

    def refusal(self, trials: Sequence, number: int, now: float) -> str | None:
        """Why the fresh trial ``number`` must not run (it came past the budget), or None."""
        rank = sum(1 for trial in trials if trial.number <= number and self.counts(trial))
        if self.n_trials is not None and rank > self.n_trials:
            return (
                f"budget-spent: trial {number} is fresh trial {rank} of a budget of "
                f"{self.n_trials} (other workers took the rest)"
            )
        if self.deadline is not None and now >= self.deadline:
            return "budget-spent: the study's deadline has passed"
        return None


class TrialRunner:
    """The function a worker hands to ``study.optimize``: records, checks, beats, runs."""

    def __init__(
        self, objective, info: WorkerInfo, heartbeat_interval: float, guard: InterruptGuard
    ) -> None:
        self.objective = objective
        self.info = info
        self.heartbeat_interval = heartbeat_interval
        self.guard = guard

    def __call__(self, trial) -> Any:
        from fasnas.objective import TrialFailed

        study = trial.study
        trial.set_user_attr("worker", self.info.as_attr())
        if "retry_of" not in trial.user_attrs:
            trials = study.get_trials(deepcopy=False)
            refusal = Budget.of(study).refusal(trials, trial.number, time.time())
            if refusal is not None:
                trial.set_user_attr("fail_reason", refusal)
                raise TrialFailed(refusal)
        try:
            with (
                self.guard.armed(),
                Heartbeat(study._storage, trial._trial_id, self.heartbeat_interval),
            ):
                return self.objective(trial)
        except KeyboardInterrupt:
            with contextlib.suppress(Exception):
                trial.set_user_attr("fail_reason", INTERRUPTED)
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


def _early_stopper(config: StudyConfig, study):
    try:
        from fasnas.early_stop import build_early_stopper
    except ImportError:  # pragma: no cover - early stopping is optional
        return None
    return build_early_stopper(config, study)


def run_worker(
    config: StudyConfig,
    *,
    index: int | None = None,
    storage: str | None = None,
    echo: Callable[[str], Any] = print,
    session=None,
) -> WorkerResult:
    """Join the existing study of ``config`` and run trials until its budget is spent.

    Args:
        config: The study config (must agree with the study's record).
        index: This worker's index (default: :func:`default_index`).
        storage: A storage URL overriding the config's.
        echo: Where the one-line-per-trial output goes.
        session: An already opened :class:`~fasnas.study.StudySession` to reuse.

    Returns:
        The :class:`WorkerResult`; exit code 130 after SIGINT/SIGTERM.

    Raises:
        FasnasError: The study cannot be joined (missing, disagreeing, unreachable), or the
            artifact store failed during a trial (that trial is failed, retryable).
    """
    import optuna

    from fasnas.objective import StudentObjective, TrialFailed, constraints
    from fasnas.study import make_sampler, open_session, trial_line

    if session is None:
        session = open_session(config, storage=storage, create=False)
    joined_at = len(session.study.get_trials(deepcopy=False))
    info = WorkerInfo.current(index, config.seed, joined_at)
    sampler = make_sampler(session.settings.sampler, info.seed, constraints)
    study = optuna.load_study(
        study_name=config.name, storage=session.study._storage, sampler=sampler
    )
    # one line per trial is ours (trial_line); Optuna's own "Trial N failed" warnings would
    # print tracebacks for interrupted trials
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    import torch

    torch.set_num_threads(session.settings.torch_threads())
    objective = StudentObjective(
        config,
        session.space,
        after_protocol=_early_stopper(config, study),
        artifact_store=session.artifact_store,
    )
    prefix = f"[worker {info.index} {info.host}:{info.pid}]"
    echo(f"{prefix} joined study {config.name!r} (sampler seed {info.seed})")
    ran = 0

    def report(study, trial) -> None:
        nonlocal ran
        ran += 1
        echo(f"{prefix} {trial_line(trial)}")

    guard = InterruptGuard()
    runner = TrialRunner(objective, info, session.settings.heartbeat_interval, guard)
    with guard:
        while True:
            if guard.requested is not None:
                reason = f"{INTERRUPTED} ({guard.requested})"
                break
            reason = Budget.of(study).stop_reason(study.get_trials(deepcopy=False), time.time())
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


def worker_command(config: StudyConfig, index: int, storage: str | None) -> list[str]:
    """The command line of local worker ``index`` (``python -m fasnas study worker ...``)."""
    command = [sys.executable, "-m", "fasnas", "study", "worker", str(config.path)]
    command += ["--index", str(index)]
    return command + (["--storage", storage] if storage else [])


def spawn_workers(
    config: StudyConfig,
    count: int,
    *,
    storage: str | None = None,
    echo: Callable[[str], Any] = print,
) -> int:
    """Run ``count`` local study workers (indices 0..count-1) and wait for them
    (:func:`run_processes`)."""
    return run_processes([worker_command(config, i, storage) for i in range(count)], echo=echo)


def run_processes(commands: Sequence[list[str]], *, echo: Callable[[str], Any] = print) -> int:
    """Run local worker processes, one per command line, and wait for them.

    SIGINT and SIGTERM sent to this process are forwarded to the workers, which stop cleanly.

    Returns:
        0 when every worker finished normally, 130 when one was interrupted, else the largest
        exit code (a worker prints its own one-line error).
    """
    processes = [subprocess.Popen(command) for command in commands]
    echo(f"started {len(processes)} workers: pids {[p.pid for p in processes]}")

    def forward(signum: int, frame: Any) -> None:
        for process in processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in InterruptGuard.SIGNALS:
            previous[signum] = signal.signal(signum, forward)
    try:
        codes = [process.wait() for process in processes]
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if any(code == EXIT_INTERRUPTED or code < 0 for code in codes):
        return EXIT_INTERRUPTED
    return max(codes)
