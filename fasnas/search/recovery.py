"""Recovery of lost trials: stale-trial detection, failing them, and linked retries.

Owns the rules that decide which trials are lost and how they come back, so that no trial is
lost or silently duplicated.

**Stale trials.** Each running trial records ``worker`` = ``{host, pid, pid_start, index,
seed}`` and a ``heartbeat`` (Unix time, refreshed by its worker). A RUNNING trial is stale when
its worker runs on this host and that process is gone (or its pid now belongs to another
process: the recorded start time, field 22 of ``/proc/<pid>/stat``, differs), when its last
heartbeat is older than the grace period, or when it has no worker record
:data:`UNRECORDED_AFTER_S` seconds after it started (its process died between Optuna's
``ask()`` and the record, which is written first thing). On RDB storages
(SQLite, PostgreSQL, MySQL) Optuna's own heartbeat also fails stale trials, in every worker
before each trial, and calls :class:`RetryStaleTrial`; journal storages have no heartbeat, so
``fasnas study resume`` runs :func:`recover`.

**Failing.** :func:`fail_trial` records ``fail_reason`` and then moves the trial to FAIL through
the storage; a storage refuses to finish a finished trial (``UpdateFinishedTrialError``). That
refusal is not a claim everywhere (SQLite reads the state outside its write lock, and a trial
its worker failed itself, ``interrupted``, is already FAIL), so the retry has its own claim.

**Exactly one retry.** :func:`enqueue_retry` first claims ``retry.<n>`` in the study's ledger
(:func:`fasnas.search.ledger.claim`, atomic on PostgreSQL, SQLite and the journal file); only
the one winner enqueues, whether the claimants are concurrent ``study resume`` calls, workers'
own recovery or Optuna's heartbeat callback. A claimant that dies between its claim and the
enqueue leaves that trial unretried (``status`` lists it as awaiting a retry).

**Retries.** :func:`enqueue_retry` enqueues a WAITING trial with the same parameters and user
attributes ``retry_of`` (the trial it retries), ``retry_root`` (the first of the chain),
``retry_count``, ``retry_reason`` and ``seed`` (the original's, so a retry reproduces it). The
reverse link cannot be stored on the original: Optuna forbids changing the attributes of a
finished trial, and failing before enqueueing is what makes the claim safe. So ``retried_by``
is a *study* user attribute, ``retried_by.<n>`` = the retry's number, written right after the
retry is created (:func:`retry_links` reads both directions).

Retryable failures are those that say nothing about the architecture: ``interrupted`` (Ctrl-C,
SIGTERM), ``stale: ...``, ``artifact-store: ...``, ``setup: ...`` and a FAIL with no
``fail_reason`` (Optuna's heartbeat fails trials without one). A NaN loss or a build failure is
final. A chain is retried at most ``max_retries`` times. Trials the global budget refused
(``budget-spent``) are never retried.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from fasnas import record
from fasnas.search import ledger

RETRYABLE_PREFIXES = ("interrupted", "stale", "artifact-store", "setup")
BUDGET_SPENT = "budget-spent"
UNRECORDED_AFTER_S = 60.0  # a RUNNING trial still without a worker record after this is lost


def this_host() -> str:
    """The host name recorded in ``worker.host``."""
    return socket.gethostname()


def process_start(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode(errors="replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])  # field 22 of stat; fields[0] is field 3 (state)
    except (IndexError, ValueError):
        return None


def process_alive(pid: int, started: int | None = None) -> bool:
    """Whether ``pid`` runs on this host (and, given ``started``, is the same process)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if started is None:
        return True
    now = process_start(pid)
    return now is None or now == started


def fail_reason_of(trial) -> str | None:
    """The recorded ``fail_reason`` of a trial (None when it has none)."""
    reason = record.TrialRecord.of(trial).fail_reason
    return str(reason) if reason is not None else None


def is_budget_spent(trial) -> bool:
    """Whether the global budget refused this trial before it ran."""
    return (fail_reason_of(trial) or "").startswith(BUDGET_SPENT)


def is_retryable(trial) -> bool:
    """A FAIL trial whose failure says nothing about its architecture."""
    from optuna.trial import TrialState

    if trial.state != TrialState.FAIL or is_budget_spent(trial):
        return False
    reason = fail_reason_of(trial)
    return reason is None or reason.startswith(RETRYABLE_PREFIXES)


def heartbeat_of(trial) -> float | None:
    """Unix time of the trial's last heartbeat, else of its start, else None."""
    beat = record.TrialRecord.of(trial).heartbeat
    if isinstance(beat, int | float):
        return float(beat)
    if trial.datetime_start is not None:
        return trial.datetime_start.timestamp()
    return None


def stale_reason(
    trial,
    *,
    grace_period: float,
    host: str,
    now: float,
    unrecorded_after: float = UNRECORDED_AFTER_S,
) -> str | None:
    """Why a RUNNING trial is stale, or None when it may still be alive."""
    worker = record.TrialRecord.of(trial).worker
    if isinstance(worker, dict) and worker.get("host") == host and "pid" in worker:
        pid = int(worker["pid"])
        if not process_alive(pid):
            return f"stale: worker process {pid} on {host} is gone"
        if not process_alive(pid, worker.get("pid_start")):
            return f"stale: worker process {pid} on {host} is gone (its pid was reused)"
    started = trial.datetime_start.timestamp() if trial.datetime_start else None
    if not worker and started is not None and now - started > unrecorded_after:
        return f"stale: no worker record {now - started:.0f}s after it started"
    beat = heartbeat_of(trial)
    if beat is not None and now - beat > grace_period:
        return f"stale: no heartbeat for {now - beat:.0f}s (grace period {grace_period:.0f}s)"
    return None


def last_trial_of(study, pid: int, host: str | None = None) -> tuple[int, bool] | None:
    """``(number, still RUNNING)`` of the last trial that process ``pid`` on ``host`` (this
    host) ran, or None when it ran none."""
    from optuna.trial import TrialState

    host = host or this_host()
    ran = [
        trial
        for trial in study.get_trials(deepcopy=False)
        if record.TrialRecord.of(trial).worker.get("pid") == pid
        and record.TrialRecord.of(trial).worker.get("host") == host
    ]
    if not ran:
        return None
    last = max(ran, key=lambda trial: trial.number)
    return last.number, last.state == TrialState.RUNNING


def trial_by_number(study, number: int):
    """The ``FrozenTrial`` numbered ``number`` in ``study``, read from its storage."""
    storage = study._storage
    trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    return storage.get_trial(trial_id)


def retry_links(study, trials: Iterable | None = None) -> dict[int, int]:
    """``{original number: retry number}`` from ``retry_of`` attributes and ``retried_by.*``."""
    links = record.StudyRecord.of(study).retried_by()
    for trial in trials if trials is not None else study.get_trials(deepcopy=False):
        original = record.TrialRecord.of(trial).retry_of
        if original is not None:
            links.setdefault(original, trial.number)
    return links


def claim_retry(study, number: int) -> bool:
    """Claim the one retry of trial ``number`` in the study's ledger (True: this process won)."""
    who = {"host": this_host(), "pid": os.getpid()}
    return ledger.claim(study._storage, study.study_name, record.retry_claim_key(number), who)


def enqueue_retry(study, trial, reason: str) -> int | None:
    """Enqueue the retry of the finished ``trial`` and link both ways; returns its number, or
    None when another process claimed that retry first."""
    import optuna
    from optuna.trial import TrialState

    if not claim_retry(study, trial.number):
        return None
    user_attrs = record.retry_attrs(record.TrialRecord.of(trial), trial.number, reason)
    template = optuna.trial.create_trial(
        state=TrialState.WAITING,
        system_attrs={"fixed_params": dict(trial.params)},
        user_attrs=user_attrs,
    )
    storage = study._storage
    trial_id = storage.create_new_trial(study._study_id, template_trial=template)
    number = storage.get_trial_number_from_id(trial_id)
    record.claim_retry(study, trial.number, number)
    return number


def fail_trial(study, trial, reason: str) -> bool:
    """Record ``fail_reason`` and move a RUNNING trial to FAIL; False if it already finished."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage = study._storage
    try:
        record.mark_failed_in_storage(storage, trial._trial_id, reason)
        return bool(storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL))
    except UpdateFinishedTrialError:
        return False


class RetryStaleTrial:
    """Optuna ``heartbeat_stale_trial_callback`` (RDB storages): enqueue a linked retry.

    Optuna calls it with the trial it has just failed for a stale heartbeat, in the process
    that failed it (on SQLite two processes may both believe they did); the ledger claim in
    :func:`enqueue_retry` leaves exactly one retry.
    """

    def __init__(self, max_retries: int) -> None:
        self.max_retries = max_retries

    def __call__(self, study, trial) -> None:
        if record.TrialRecord.of(trial).retry_count >= self.max_retries:
            return
        enqueue_retry(study, trial, "stale: heartbeat older than the grace period")


@dataclass
class RecoveryReport:
    """What :func:`recover` did: trials failed as stale, retries enqueued, chains given up."""

    failed: list[tuple[int, str]] = field(default_factory=list)  # (number, reason)
    retried: list[tuple[int, int]] = field(default_factory=list)  # (original, retry)
    given_up: list[tuple[int, str]] = field(default_factory=list)  # (number, reason)

    def lines(self) -> list[str]:
        """One line per action, for the terminal."""
        out = [f"trial {n}: failed ({reason})" for n, reason in self.failed]
        out += [f"trial {n}: retried as trial {m}" for n, m in self.retried]
        out += [f"trial {n}: not retried ({reason})" for n, reason in self.given_up]
        return out or ["nothing to recover: no stale trial, no failed trial awaiting a retry"]


def recover(
    study,
    *,
    grace_period: float,
    max_retries: int,
    host: str | None = None,
    now: float | None = None,
    unrecorded_after: float = UNRECORDED_AFTER_S,
) -> RecoveryReport:
    """Fail stale RUNNING trials, then enqueue a retry for every retryable failure without one.

    Args:
        study: The study (its storage may be RDB or journal).
        grace_period: Seconds without heartbeat after which a RUNNING trial is stale.
        max_retries: Retries allowed per chain (``retry_count`` of the retry).
        host: This host's name (default: :func:`this_host`).
        now: Unix time (default: now).
        unrecorded_after: Seconds after which a RUNNING trial without a worker record is lost.
    """
    import warnings

    import optuna
    from optuna.trial import TrialState

    report = RecoveryReport()
    host = host or this_host()
    now = time.time() if now is None else now
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # RDB heartbeat: fails + RetryStaleTrial
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        reason = stale_reason(
            trial, grace_period=grace_period, host=host, now=now, unrecorded_after=unrecorded_after
        )
        if reason is not None and fail_trial(study, trial, reason):
            report.failed.append((trial.number, reason))
    trials = study.get_trials(deepcopy=False)
    links = retry_links(study, trials)
    for trial in trials:
        if not is_retryable(trial) or trial.number in links:
            continue
        reason = fail_reason_of(trial) or "stale: failed by the storage's heartbeat"
        if record.TrialRecord.of(trial).retry_count >= max_retries:
            report.given_up.append((trial.number, f"{max_retries} retries already"))
            continue
        retry = enqueue_retry(study, trial, reason)
        if retry is not None:
            report.retried.append((trial.number, retry))
    return report
