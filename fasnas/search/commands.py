"""What the ``fasnas study`` and ``fasnas bench`` commands do, given a loaded config.

Owns the command-level flow: check every option, open the session (nothing is written before
both), then run local workers and print one line per trial and a summary. The CLI parses and
calls one function here; bench and search run through the same session and worker code.

Run a study::

    fasnas study start studies/demo.yaml --workers 2
    fasnas study worker studies/demo.yaml --storage postgresql://fasnas@db/fasnas  # elsewhere
    fasnas study resume studies/demo.yaml
    fasnas study confirm studies/demo.yaml --top 5 --seeds 3 --workers 2
    fasnas bench studies/demo.yaml --workers 2
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fasnas.config import StudyConfig
from fasnas.device import check_device
from fasnas.errors import ConfigError
from fasnas.search import confirm
from fasnas.search.bench import completed_keys, enqueue_entries
from fasnas.search.processes import assign_devices, check_devices, spawn_workers
from fasnas.search.recovery import last_trial_of, recover
from fasnas.search.session import (
    BENCH,
    CONFIRM,
    SEARCH,
    STUDY_WAIT_S,
    Role,
    StudySession,
    check_budget_options,
    load_study,
    open_session,
    set_budget,
)
from fasnas.search.worker import run_worker
from fasnas.status import study_counts_line

Echo = Callable[[str], Any]


@dataclass
class StudyOutcome:
    """What a command did; ``exit_code`` is the command's exit status."""

    exit_code: int
    lines: list[str] = field(default_factory=list)


@dataclass
class BenchOutcome(StudyOutcome):
    """What ``fasnas bench`` did: entries run now, already complete, and not complete."""

    ran: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)


def _echo_default() -> Echo:
    return functools.partial(print, flush=True)


def check_workers(workers: Any, default: int) -> int:
    """The worker count (``--workers``, or the config's), refused before anything is written.

    Raises:
        ConfigError: Naming ``--workers``.
    """
    count = workers if workers is not None else default
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ConfigError(f"--workers: expected an integer >= 1, got {count!r}")
    return count


def local_workers(config: StudyConfig, workers: Any, default: int | None = None) -> int:
    """The local worker count (``--workers``, else ``default``, else ``search.workers`` or one
    per ``search.devices`` slot) with every listed GPU checked; before anything is written.

    Raises:
        ConfigError: Naming ``--workers`` or the ``search.devices`` entry.
    """
    count = check_workers(workers, config.search.local_workers if default is None else default)
    check_devices(config)
    return count


def _run_local(
    session: StudySession, count: int, storage: str | None, echo: Echo, quiet: bool = False
) -> int:
    """Run ``count`` workers on the session: in this process when one, else as processes;
    ``quiet`` workers print no per-trial lines (failures and their summaries only)."""
    if count == 1:
        device = assign_devices(session.config, 1)[0]
        if device is not None:
            config = dataclasses.replace(session.config, device=device)
            session = dataclasses.replace(session, config=config)
            echo(f"devices: worker 0 -> {device}")
        return run_worker(session, index=0, echo=echo, quiet=quiet).exit_code
    return spawn_workers(
        session.config,
        count,
        storage=storage,
        role_flag=session.role.worker_flag,
        echo=echo,
        quiet=quiet,
        trial_of=lambda pid: last_trial_of(session.study, pid),
    )


def start_study(
    config: StudyConfig,
    *,
    workers: int | None = None,
    n_trials: int | None = None,
    timeout: float | None = None,
    storage: str | None = None,
    echo: Echo | None = None,
    quiet: bool = False,
) -> StudyOutcome:
    """``fasnas study start``: create the study once (or continue it), then run local workers.

    Workers are ``workers`` processes (default ``search.workers``) with indices 0..N-1; a single
    worker runs in this process, on the session opened here. The budget given here
    (``n_trials``/``timeout`` or the config's) is stored in the study, global.
    """
    echo = echo or _echo_default()
    count = local_workers(config, workers)
    check_budget_options(n_trials, timeout)
    session = open_session(config, storage=storage, create=True)
    budget = set_budget(session, n_trials, timeout)
    verb = "created" if session.created else "continuing"
    limit = "no trial limit" if budget["n_trials"] is None else f"{budget['n_trials']} trials"
    echo(f"study {config.name!r} {verb} in {session.where} ({limit})")
    code = _run_local(session, count, storage, echo, quiet)
    line = study_counts_line(session.study)
    echo(line)
    return StudyOutcome(code, [line])


def attach_worker(
    config: StudyConfig,
    *,
    storage: str | None = None,
    index: int | None = None,
    role: Role = SEARCH,
    device: str | None = None,
    echo: Echo | None = None,
    quiet: bool = False,
) -> StudyOutcome:
    """``fasnas study worker``: attach one worker (this process) to an existing study of
    ``role`` (``--bench``, ``--confirm``: the companion study), on ``device`` (``--device``,
    default: the config's).

    Raises:
        ConfigError: A ``--device`` this machine lacks (before anything is written).
    """
    if device is not None:
        check_device(device, "--device")
        config = dataclasses.replace(config, device=device)
    session = open_session(config, role=role, storage=storage, wait_s=STUDY_WAIT_S)
    result = run_worker(session, index=index, echo=echo or _echo_default(), quiet=quiet)
    return StudyOutcome(result.exit_code, [result.summary()])


def _recover(session: StudySession, echo: Echo) -> list[str]:
    settings = session.config.search
    report = recover(
        session.study, grace_period=settings.grace_period, max_retries=settings.max_retries
    )
    lines = report.lines()
    for line in lines:
        echo(line)
    return lines


def resume_study(
    config: StudyConfig,
    *,
    workers: int | None = None,
    storage: str | None = None,
    role: Role = SEARCH,
    echo: Echo | None = None,
) -> StudyOutcome:
    """``fasnas study resume``: fail stale trials, enqueue their retries, then run workers
    (on the study of ``role``: ``--bench``, ``--confirm`` resume a companion study)."""
    echo = echo or _echo_default()
    count = local_workers(config, workers)
    session = open_session(config, role=role, storage=storage, create=False)
    lines = _recover(session, echo)
    code = _run_local(session, count, storage, echo)
    lines.append(study_counts_line(session.study))
    echo(lines[-1])
    return StudyOutcome(code, lines)


def run_study(
    config: StudyConfig,
    *,
    n_trials: int | None = None,
    timeout: float | None = None,
    echo: Echo | None = None,
    quiet: bool = False,
) -> Any:
    """``fasnas study run``: ``study start --workers 1`` in this process; returns the study.
    ``quiet`` prints no per-trial lines (failures and the summaries only)."""
    echo = echo or _echo_default()
    start = time.perf_counter()
    outcome = start_study(
        config, workers=1, n_trials=n_trials, timeout=timeout, echo=echo, quiet=quiet
    )
    if outcome.exit_code:  # the in-process worker returns 0, or 130 after SIGINT/SIGTERM
        raise KeyboardInterrupt
    study = load_study(config)
    elapsed = time.perf_counter() - start
    echo(f"{len(study.trials)} trials in the study; this run took {elapsed:.0f}s")
    return study


def run_bench(
    config: StudyConfig,
    *,
    workers: int = 1,
    storage: str | None = None,
    echo: Echo | None = None,
    quiet: bool = False,
) -> BenchOutcome:
    """``fasnas bench``: enqueue every entry not yet done as a fixed trial, run them, and print
    the leaderboard (mean ± std over seeds, with the teacher's reference point).

    Exit code 0 when every entry is COMPLETE, 1 when one is not, 130 after an interrupt.

    Raises:
        ConfigError: A bad ``--workers``.
        StorageError: The storage cannot be opened or the bench study disagrees.
        DataError, CheckpointError: Missing data lists or teacher files.
    """
    echo = echo or _echo_default()
    count = local_workers(config, workers, 1)
    session = open_session(config, role=BENCH, storage=storage, create=True)
    study = session.study
    verb = "created" if session.created else "continuing"
    echo(f"bench study {study.study_name!r} {verb} in {session.where}")
    lines = _recover(session, echo) if not session.created else []
    before = completed_keys(study)
    queued = enqueue_entries(study, config.bench)
    echo(f"bench: {len(queued)} runs queued, {len(before)} already complete")
    code = _run_local(session, count, storage, echo, quiet) if queued else 0
    done = completed_keys(study)
    failed = [entry.label for entry in config.bench.entries() if entry.key not in done]
    summary = (
        f"bench: {len(done - before)} run, {len(before)} already complete, "
        f"{len(failed)} not complete" + (f" ({', '.join(failed)})" if failed else "")
    )
    echo(summary)
    lines.append(summary)
    for line in leaderboard_lines(config, study):
        echo(line)
        lines.append(line)
    exit_code = code or (1 if failed else 0)
    return BenchOutcome(exit_code, lines, len(done - before), len(before), failed)


def confirm_study(
    config: StudyConfig,
    *,
    top: int,
    seeds: int,
    workers: int = 1,
    storage: str | None = None,
    echo: Echo | None = None,
) -> StudyOutcome:
    """``fasnas study confirm``: re-train the ``top`` best candidates with ``seeds`` new seeds
    each in ``<name>-confirm`` (:mod:`fasnas.search.confirm`), run them, print the confirmed
    front.

    Exit code 0 when every planned run is COMPLETE, 1 when one is not, 130 after an interrupt.

    Raises:
        ConfigError: A bad ``--top``/``--seeds``/``--workers``, or a study with no complete
            candidate.
        StorageError: The storage cannot be opened, the study does not exist, or a study's
            record disagrees with the config.
    """
    from fasnas.report.confirmed import confirmation_lines, confirmed_of

    echo = echo or _echo_default()
    count = local_workers(config, workers, 1)
    confirm.check_counts(top, seeds)
    search = open_session(config, role=SEARCH, storage=storage).study
    candidates = confirm.pick_candidates(
        search.get_trials(deepcopy=False), len(search.directions), top
    )
    if not candidates:
        raise ConfigError(
            f"--top: study {search.study_name!r} has no COMPLETE candidate to confirm yet"
        )
    entries = confirm.plan_entries(candidates, seeds, config.seed)
    session = open_session(config, role=CONFIRM, storage=storage, create=True)
    study = session.study
    verb = "created" if session.created else "continuing"
    echo(f"confirm study {study.study_name!r} {verb} in {session.where}")
    lines = _recover(session, echo) if not session.created else []
    queued = confirm.enqueue_entries(study, entries)
    numbers = [t.number for t in candidates]
    echo(
        f"confirm: {len(candidates)} candidates (trials {numbers}) x {seeds} seeds: "
        f"{len(queued)} runs queued, {len(entries) - len(queued)} already there"
    )
    waiting = confirm.entry_keys(study, ("WAITING",))
    code = _run_local(session, count, storage, echo) if waiting else 0
    done = confirm.entry_keys(study, ("COMPLETE",))
    missing = [entry for entry in entries if entry.key not in done]
    summary = [f"confirm: {len(entries) - len(missing)} of {len(entries)} runs complete"]
    summary += confirmation_lines(confirmed_of(search, study), config.objective.hter)
    for line in summary:
        echo(line)
    return StudyOutcome(code or (1 if missing else 0), lines + summary)


def leaderboard_lines(config: StudyConfig, study: Any) -> list[str]:
    """The leaderboard of a bench study as text lines (mean ± std over seeds)."""
    from fasnas.report.leaderboard import bench_leaderboard, kd_gain_median
    from fasnas.teacher.reference import teacher_reference

    threshold = config.objective.hter
    board = bench_leaderboard(study, threshold, teacher_reference(config))
    lines = [f"leaderboard (HTER at the {threshold} threshold, mean ± std over seeds):"]
    for row in board.to_dict("records"):
        kd = {None: "", True: " KD", False: " CE"}.get(row.get("kd"), "")
        if row.get("init") not in (None, "scratch") and row.get("init") == row.get("init"):
            kd += f" ({row['init']})"
        hter = _pct(row.get("mean_hter_mean"), row.get("mean_hter_std"))
        gmacs = row.get("gmacs")
        shown = "?" if gmacs is None or gmacs != gmacs else f"{gmacs:.3f}"
        line = f"  {row['model'] + kd:<30} mean HTER {hter:<16} {shown} GMACs"
        gain = row.get("kd_gain_mean")
        if gain is not None and gain == gain:
            line += f"  KD - CE {_pct(gain, row.get('kd_gain_std'))}"
        lines.append(line)
    median = kd_gain_median(board)
    if median == median:
        lines.append(f"median over baselines of KD - CE: {100 * median:+.2f} points")
    return lines


def _pct(mean: Any, std: Any) -> str:
    if mean is None or mean != mean:
        return "unknown"
    if std is None or std != std:
        return f"{100 * mean:.2f}%"
    return f"{100 * mean:.2f} ± {100 * std:.2f}%"
