"""Tests of fasnas.search.recovery: stale trials, claims, linked retries (journal and RDB)."""

from __future__ import annotations

import os
import subprocess
import time
import warnings

import optuna
import pytest
from optuna.trial import TrialState

from fasnas.search.recovery import (
    RetryStaleTrial,
    fail_trial,
    is_retryable,
    process_alive,
    process_start,
    recover,
    retry_links,
    stale_reason,
    this_host,
)

HOST = this_host()


@pytest.fixture
def study(tmp_path):
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "s.journal")))
    return optuna.create_study(study_name="rec", storage=storage, directions=["minimize"] * 2)


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _trial(study, x: float, **attrs):
    """A RUNNING trial with parameter ``x`` and the given user attributes."""
    study.enqueue_trial({"x": x})
    trial = study.ask()
    assert trial.suggest_float("x", 0.0, 1.0) == x
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    return trial


def _fail(study, x: float, reason: str | None, **attrs):
    trial = _trial(study, x, **attrs)
    if reason is not None:
        trial.set_user_attr("fail_reason", reason)
    study.tell(trial, state=TrialState.FAIL)
    return trial


def test_process_identity() -> None:
    me = os.getpid()
    assert process_alive(me) and process_alive(me, process_start(me))
    assert not process_alive(me, (process_start(me) or 0) + 1)  # same pid, another process
    assert not process_alive(_dead_pid())


def test_stale_rules() -> None:
    now = time.time()
    me = {"host": HOST, "pid": os.getpid(), "pid_start": process_start(os.getpid())}
    gone = {"host": HOST, "pid": _dead_pid()}
    elsewhere = {"host": "another-host", "pid": _dead_pid()}
    trial = optuna.trial.create_trial(
        state=TrialState.RUNNING, user_attrs={"worker": me, "heartbeat": now - 5}
    )
    assert stale_reason(trial, grace_period=30, host=HOST, now=now) is None
    trial.user_attrs["worker"] = gone
    assert stale_reason(trial, grace_period=30, host=HOST, now=now) == (
        f"stale: worker process {gone['pid']} on {HOST} is gone"
    )
    trial.user_attrs["worker"] = elsewhere  # a dead pid on another host says nothing
    assert stale_reason(trial, grace_period=30, host=HOST, now=now) is None
    trial.user_attrs["heartbeat"] = now - 100
    assert stale_reason(trial, grace_period=30, host=HOST, now=now) == (
        "stale: no heartbeat for 100s (grace period 30s)"
    )


def _stat_start(pid: int) -> int:
    """Field 22 of /proc/<pid>/stat, read here independently of fasnas."""
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[19])


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux /proc")
def test_a_reused_pid_is_stale_although_the_process_lives(tmp_path) -> None:
    # a live process whose pid matches the record but which started at another time: the pid
    # was given to a new process after the worker died
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        now = time.time()
        started = _stat_start(sleeper.pid)
        worker = {"host": HOST, "pid": sleeper.pid, "pid_start": started - 1}
        trial = optuna.trial.create_trial(
            state=TrialState.RUNNING, user_attrs={"worker": worker, "heartbeat": now}
        )
        assert stale_reason(trial, grace_period=30, host=HOST, now=now) == (
            f"stale: worker process {sleeper.pid} on {HOST} is gone (its pid was reused)"
        )
        trial.user_attrs["worker"] = {**worker, "pid_start": started}  # the same process
        assert stale_reason(trial, grace_period=30, host=HOST, now=now) is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_running_trial_without_a_worker_record_is_lost_after_the_bound(study) -> None:
    trial = study.ask()  # its process died before writing the record
    frozen = study.trials[trial.number]
    started = frozen.datetime_start.timestamp()
    assert stale_reason(frozen, grace_period=600, host=HOST, now=started + 59) is None
    assert stale_reason(frozen, grace_period=600, host=HOST, now=started + 61) == (
        "stale: no worker record 61s after it started"
    )
    report = recover(study, grace_period=600, max_retries=3, now=started + 61)
    assert report.failed == [(trial.number, "stale: no worker record 61s after it started")]
    assert report.retried == [(trial.number, trial.number + 1)]


def test_recover_fails_stale_trials_and_retries_each_once(study) -> None:
    now = time.time()
    alive = {"host": HOST, "pid": os.getpid(), "pid_start": process_start(os.getpid())}
    _trial(study, 0.1, worker={"host": HOST, "pid": _dead_pid()}, heartbeat=now, seed=123)
    _trial(study, 0.2, worker=alive, heartbeat=now)
    _fail(study, 0.3, "interrupted", seed=5)
    _fail(study, 0.4, "nan-loss: loss is nan")
    _fail(study, 0.5, "budget-spent: trial 4 is fresh trial 5 of a budget of 4")
    done = _trial(study, 0.6)
    study.tell(done, [0.1, 0.2])

    report = recover(study, grace_period=30, max_retries=3, now=now)

    assert [n for n, _ in report.failed] == [0]
    assert report.retried == [(0, 6), (2, 7)]
    trials = study.trials
    assert trials[0].state == TrialState.FAIL
    assert trials[0].user_attrs["fail_reason"].startswith("stale: worker process")
    assert trials[1].state == TrialState.RUNNING  # its worker is alive
    for original, retry in report.retried:
        waiting = trials[retry]
        assert waiting.state == TrialState.WAITING
        assert waiting.system_attrs["fixed_params"] == trials[original].params
        assert waiting.user_attrs["retry_of"] == original
        assert waiting.user_attrs["retry_root"] == original
        assert waiting.user_attrs["retry_count"] == 1
        assert study.user_attrs[f"retried_by.{original}"] == retry
    assert trials[6].user_attrs["seed"] == 123 and trials[7].user_attrs["seed"] == 5
    assert retry_links(study) == {0: 6, 2: 7}
    assert not is_retryable(trials[3]) and not is_retryable(trials[4])

    again = recover(study, grace_period=30, max_retries=3, now=now)
    assert again.failed == [] and again.retried == []
    assert len(study.trials) == 8
    assert again.lines() == [
        "nothing to recover: no stale trial, no failed trial awaiting a retry"
    ]


def test_a_retried_retry_keeps_its_root_and_the_chain_is_bounded(study) -> None:
    _fail(study, 0.3, "interrupted")
    first = recover(study, grace_period=30, max_retries=2)
    assert first.retried == [(0, 1)]
    retry = study.ask()  # pops the retry
    assert retry.number == 1 and retry.suggest_float("x", 0.0, 1.0) == 0.3
    retry.set_user_attr("fail_reason", "interrupted")
    study.tell(retry, state=TrialState.FAIL)
    second = recover(study, grace_period=30, max_retries=2)
    assert second.retried == [(1, 2)]
    attrs = study.trials[2].user_attrs
    assert (attrs["retry_of"], attrs["retry_root"], attrs["retry_count"]) == (1, 0, 2)
    popped = study.ask()
    popped.set_user_attr("fail_reason", "stale: worker process 1 on h is gone")
    study.tell(popped, state=TrialState.FAIL)
    third = recover(study, grace_period=30, max_retries=2)
    assert third.retried == [] and third.given_up == [(2, "2 retries already")]


def test_only_one_claim_wins(study) -> None:
    trial = _trial(study, 0.5)
    study.tell(trial, [0.1, 0.1])
    frozen = study.trials[0]
    assert fail_trial(study, frozen, "stale: test") is False
    assert study.trials[0].state == TrialState.COMPLETE
    assert "fail_reason" not in study.trials[0].user_attrs
    running = _trial(study, 0.6)
    assert fail_trial(study, study.trials[1], "stale: test") is True
    assert fail_trial(study, study.trials[1], "stale: again") is False
    assert study.trials[1].user_attrs["fail_reason"] == "stale: test"
    del running


@pytest.mark.slow
def test_rdb_heartbeat_fails_and_retries_through_optuna(tmp_path) -> None:
    from fasnas.storage import open_storage

    url = f"sqlite:///{tmp_path}/hb.db"
    storage = open_storage(
        url, heartbeat_interval=1, grace_period=2, stale_callback=RetryStaleTrial(3)
    )
    study = optuna.create_study(study_name="hb", storage=storage, directions=["minimize"] * 2)
    study.enqueue_trial({"x": 0.25})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    trial.set_user_attr("seed", 9)
    storage.record_heartbeat(trial._trial_id)  # then silence, as after a SIGKILL
    time.sleep(3.5)
    report = recover(study, grace_period=2, max_retries=3)
    trials = study.trials
    assert trials[0].state == TrialState.FAIL and "fail_reason" not in trials[0].user_attrs
    assert len(trials) == 2 and trials[1].state == TrialState.WAITING
    assert trials[1].user_attrs["retry_of"] == 0 and trials[1].user_attrs["seed"] == 9
    assert trials[1].user_attrs["retry_reason"].startswith("stale: heartbeat")
    assert trials[1].system_attrs["fixed_params"] == {"x": 0.25}
    assert report.retried == []  # Optuna's callback retried it; recover added nothing
    assert retry_links(study) == {0: 1}
