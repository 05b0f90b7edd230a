"""Tests of fasnas.search.worker and .budget: seeds, budgets, heartbeats, signals, Ctrl-C."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import optuna
import pg  # tests/pg.py (tests/ is on pytest's pythonpath)
import pytest
from optuna.trial import FrozenTrial, TrialState

from fasnas.search.budget import Budget
from fasnas.search.ledger import derive_seed
from fasnas.search.worker import (
    Heartbeat,
    InterruptGuard,
    WorkerInterrupted,
    default_index,
)

HERE = Path(__file__).parent


def test_worker_seeds_follow_the_documented_rule() -> None:
    digest = hashlib.sha256(b"fasnas-worker:0").digest()
    base = int.from_bytes(digest[:8], "big") % (2**31 - 1)
    assert derive_seed(0, 0) == base
    assert derive_seed(0, 5) == (base + 5 * 1_000_003) % (2**31 - 1)
    seeds = {derive_seed(7, join) for join in range(5000)}
    assert len(seeds) == 5000 and all(0 <= s < 2**31 - 1 for s in seeds)
    assert derive_seed(7, 3) != derive_seed(8, 3)
    assert default_index("h", 1) >= 1000 and default_index("h", 1) != default_index("h", 2)


def _frozen(number: int, state: TrialState, **user_attrs) -> FrozenTrial:
    return FrozenTrial(
        number=number,
        state=state,
        value=None,
        values=[0.1, 0.1] if state == TrialState.COMPLETE else None,
        datetime_start=None,
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs=user_attrs,
        system_attrs={},
        intermediate_values={},
        trial_id=number,
    )


def test_budget_counts_fresh_trials_only() -> None:
    trials = [
        _frozen(0, TrialState.COMPLETE),
        _frozen(1, TrialState.FAIL, fail_reason="interrupted"),  # counts: its chain goes on
        _frozen(2, TrialState.COMPLETE, retry_of=1),  # a retry: does not count again
        _frozen(3, TrialState.FAIL, fail_reason="budget-spent: ..."),  # refused: not counted
        _frozen(4, TrialState.RUNNING),
    ]
    budget = Budget(n_trials=3, deadline=None)
    assert budget.used(trials) == 3
    assert budget.stop_reason(trials, now=0.0) == "budget spent: 3 of 3 trials"
    assert Budget(n_trials=4, deadline=None).stop_reason(trials, now=0.0) is None
    waiting = [*trials, _frozen(5, TrialState.WAITING, retry_of=4)]
    assert budget.stop_reason(waiting, now=0.0) is None  # queued retries always run
    assert Budget(None, deadline=10.0).stop_reason(trials, now=11.0) == (
        "timeout: the study's deadline has passed"
    )
    assert Budget(None, None).stop_reason(trials, now=1e12) is None


def test_concurrent_fresh_trials_past_the_budget_are_refused() -> None:
    # budget 2; three workers asked at the same moment and got trials 1, 2 and 3
    trials = [
        _frozen(0, TrialState.COMPLETE),
        _frozen(1, TrialState.RUNNING),
        _frozen(2, TrialState.RUNNING),
        _frozen(3, TrialState.RUNNING),
        _frozen(4, TrialState.RUNNING, retry_of=0),
    ]
    budget = Budget(n_trials=2, deadline=None)
    assert budget.refusal(trials, 1, now=0.0) is None
    assert budget.refusal(trials, 2, now=0.0) == (
        "budget-spent: trial 2 is fresh trial 3 of a budget of 2 (other workers took the rest)"
    )
    assert budget.refusal(trials, 3, now=0.0).startswith("budget-spent: trial 3 is fresh trial 4")
    assert Budget(None, 5.0).refusal(trials, 1, now=6.0) == (
        "budget-spent: the study's deadline has passed"
    )


def test_heartbeat_thread_refreshes_the_attribute(tmp_path) -> None:
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "s.journal")))
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    with Heartbeat(storage, trial._trial_id, 0.1) as heartbeat:
        first = storage.get_trial(trial._trial_id).user_attrs["heartbeat"]
        time.sleep(0.5)
        later = storage.get_trial(trial._trial_id).user_attrs["heartbeat"]
    assert later > first + 0.1
    study.tell(trial, 1.0)
    assert heartbeat.beat() is False  # a finished trial takes no heartbeat


def test_a_signal_outside_a_trial_only_asks_to_stop() -> None:
    before = signal.getsignal(signal.SIGINT)
    with InterruptGuard() as guard:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert guard.requested == "SIGINT"
        with pytest.raises(WorkerInterrupted), guard.armed():
            pytest.fail("an armed block after a signal must not run")
    assert signal.getsignal(signal.SIGINT) is before


def test_a_signal_inside_a_trial_interrupts_it_once() -> None:
    with InterruptGuard() as guard:
        with pytest.raises(WorkerInterrupted, match="SIGTERM"), guard.armed():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        os.kill(os.getpid(), signal.SIGINT)  # a second signal while cleaning up is ignored
        time.sleep(0.05)
        assert guard.requested == "SIGTERM"


def _running_with_spec(storage_path: Path):
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(storage_path)))
    study = optuna.load_study(study_name="tiny", storage=storage)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if "student_spec" in trial.user_attrs:
            return trial
    return None


@pytest.mark.slow
def test_ctrl_c_fails_the_trial_as_interrupted_and_resume_retries_it(tmp_path) -> None:
    from fasnas.cli import main
    from fasnas.config import load_config
    from fasnas.search.session import open_session, set_budget

    path = pg.tiny_study(tmp_path, iterations=60, n_trials=1)
    session = open_session(load_config(path), create=True)
    set_budget(session, None, None)
    worker = pg.fasnas_process("study", "worker", str(path), "--index", "0")
    journal = tmp_path / "tiny.journal"
    try:
        running = pg.wait_for(lambda: _running_with_spec(journal), 120, what="a running trial")
        worker.send_signal(signal.SIGINT)
        out, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 130, out
    assert "interrupted" in out and "fasnas study resume" in out
    study = session.study
    interrupted = study.trials[running.number]
    assert interrupted.state == TrialState.FAIL
    assert interrupted.user_attrs["fail_reason"] == "interrupted"

    assert main(["study", "resume", str(path)]) == 0
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    retry = trials[1]
    assert retry.user_attrs["retry_of"] == 0 and study.user_attrs["retried_by.0"] == 1
    assert retry.params == interrupted.params
    assert retry.user_attrs["seed"] == interrupted.user_attrs["seed"]


def test_the_trial_line_shows_the_selection_value_and_the_target_hter_apart() -> None:
    import datetime

    from fasnas.search.worker import trial_line

    spec = {"family": "mobilenetv3", "arch": {"variant": "small", "width": 0.75}, "img_size": 96}
    trial = _frozen(
        7, TrialState.COMPLETE, family="mobilenetv3", student_spec=spec,
        **{"hter.M": 0.131, "hter.C": 0.151},
    )  # fmt: skip
    trial.values = [0.123, 0.021]
    trial.datetime_start = datetime.datetime(2026, 1, 1, 12, 0, 0)
    trial.datetime_complete = datetime.datetime(2026, 1, 1, 12, 0, 41)
    assert trial_line(trial, 400, "test-eer") == (
        "trial 7/400 mobilenetv3 small-0.75@96 0.021 GMACs select 12.3% target 14.1% "
        "(test-EER) 41 s"
    )
    assert "target 14.1% (source threshold)" in trial_line(trial, None, "source-threshold")
    assert trial_line(trial).startswith("trial 7 mobilenetv3")
    rejected = _frozen(8, TrialState.COMPLETE, family="vit", rejected="over budget")
    assert "rejected: over budget" in trial_line(rejected)
    bench = _frozen(9, TrialState.FAIL, baseline="resnet18", kd=True, bench_seed=2)
    assert trial_line(bench).endswith("fail: FAIL  [resnet18 KD seed 2]")
    confirm = _frozen(10, TrialState.COMPLETE, family="vit", confirm_of=3, confirm_index=1)
    assert trial_line(confirm).endswith("[confirms trial 3, seed 1]")
