"""Tests of fasnas.status: the snapshot of a study and the text a user reads."""

from __future__ import annotations

import datetime
import warnings

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from fasnas.status import StatusSnapshot, format_status, status_snapshot

T0 = datetime.datetime(2026, 1, 1, 12, 0, 0)
NOW = (T0 + datetime.timedelta(seconds=1000)).timestamp()


def _add(study, state, *, values=None, start=None, seconds=None, **user_attrs) -> None:
    begin = T0 + datetime.timedelta(seconds=start) if start is not None else None
    end = begin + datetime.timedelta(seconds=seconds) if seconds is not None else None
    study.add_trial(
        FrozenTrial(
            number=0,
            state=state,
            value=None,
            values=values,
            datetime_start=begin,
            datetime_complete=end,
            params={},
            distributions={},
            user_attrs=user_attrs,
            system_attrs={},
            intermediate_values={},
            trial_id=0,
        )
    )


@pytest.fixture
def study(tmp_path):
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "s.journal")))
    study = optuna.create_study(study_name="demo", storage=storage, directions=["minimize"] * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["mean HTER (test-eer)", "GMACs"])
    study.set_user_attr("budget", {"n_trials": 8, "deadline": None})
    study.set_user_attr("search", {"sampler": "nsga2", "grace_period": 600})
    study.set_user_attr("config", {"protocols": ["M", "C"]})
    study.set_user_attr("created_at", T0.timestamp())
    done = TrialState.COMPLETE
    _add(study, done, values=[0.10, 0.020], start=0, seconds=100, family="vit")  # 0: front
    _add(study, done, values=[0.20, 0.010], start=0, seconds=200, family="mnv3")  # 1: front
    _add(study, done, values=[0.30, 0.030], start=0, seconds=300, family="vit")  # 2: dominated
    _add(study, TrialState.FAIL, start=0, seconds=10, fail_reason="interrupted")  # 3
    _add(study, TrialState.FAIL, start=0, seconds=10, fail_reason="nan-loss: loss is nan")  # 4
    _add(study, TrialState.FAIL, start=0, seconds=0, fail_reason="budget-spent: ...")  # 5
    beat = NOW - 20
    _add(  # 6: the retry of 3, protocol M done
        study,
        TrialState.RUNNING,
        start=950,
        family="vit",
        retry_of=3,
        heartbeat=beat,
        worker={"host": "gpu-1", "pid": 11, "index": 0},
        **{
            "metrics.M": {"test-eer": {"hter": 0.1}},
            "artifact.M": {"result": "r", "weights": "w"},
        },
    )
    _add(
        study,
        TrialState.RUNNING,
        start=750,
        family="mnv3",
        heartbeat=NOW - 5,
        worker={"host": "gpu-2", "pid": 22, "index": 1},
    )  # 7
    _add(study, TrialState.FAIL, start=0, seconds=100, fail_reason="stale: no heartbeat")  # 8
    _add(study, done, values=[1.0, 0.001], start=0, seconds=0, rejected="over budget")  # 9
    study.set_user_attr("retried_by.3", 6)
    return study


def test_snapshot_counts_links_front_and_eta(study) -> None:
    s = status_snapshot(study, storage="journal file x", now=NOW)
    assert s.states == {"complete": 4, "fail": 4, "running": 2}
    # fresh trials: 0 1 2 3 4 7 8 9 (5 was refused by the budget, 6 is a retry)
    assert s.used == 8 and s.n_trials == 8
    assert s.retried == [(3, 6)]
    assert s.awaiting == [(8, "stale: no heartbeat")]
    assert s.final == {"nan-loss": 1} and s.budget_spent == 1 and s.rejected == 1
    assert [t.number for t in s.front] == [1, 0]  # cheapest first; 2 is dominated, 9 rejected
    assert s.front[0].values == (0.20, 0.010)
    running = {r.number: r for r in s.running}
    assert running[6].protocols_done == ("M",) and running[6].retry_of == 3
    assert running[6].age_s == pytest.approx(50)
    assert running[6].heartbeat_age_s == pytest.approx(20)
    assert running[6].stale is None and running[7].stale is None
    # mean of finished, non-rejected trials: (100 + 200 + 300) / 3 = 200 s; one queued (8)
    # work = 1 x 200 + (200 - 50) + max(200 - 250, 0) = 350 s over 2 running workers
    assert s.mean_trial_s == pytest.approx(200)
    assert s.eta_s == pytest.approx(175)


def test_the_text_reads_clearly(study) -> None:
    text = format_status(status_snapshot(study, storage="journal file /s/demo.journal", now=NOW))
    lines = text.splitlines()
    assert lines[0] == "study 'demo' in journal file /s/demo.journal"
    assert lines[1].startswith("sampler nsga2, created 2026-01-01 12:00, budget 8 trials, no time")
    assert (
        "trials: 8 of 8 fresh trials used | 4 complete | 0 pruned | 2 running | 0 waiting | "
        "4 failed"
    ) in lines
    assert "  failed and retried: #3 -> #6" in lines
    assert "  failed, awaiting `fasnas study resume` to retry them: #8 (stale: no heartbeat)" in (
        lines
    )
    assert "  failed for good (the architecture failed): 1 nan-loss" in lines
    assert "  1 trial(s) not run: the budget was already spent" in lines
    assert "  1 complete trial(s) were rejected untrained: over the budget" in lines
    assert (
        "  #6    vit          worker 0 on gpu-1 pid 11, running 50s, heartbeat 20s ago, "
        "protocols done: M, retry of #3"
    ) in lines
    front = lines.index(next(line for line in lines if line.startswith("Pareto front")))
    assert lines[front + 2].split() == ["1", "mnv3", "20.00%", "0.0100"]
    assert lines[front + 3].split() == ["0", "vit", "10.00%", "0.0200"]
    assert lines[-1] == (
        "ETA: about 2m55s; 1 trial(s) to start at ~3m20s each, 2 worker(s) running; "
        "lost trials count only after `fasnas study resume`"
    )


def test_a_lost_running_trial_is_flagged_and_not_counted_as_a_worker(study) -> None:
    later = NOW + 3600  # both running trials' heartbeats are now older than the grace period
    s = status_snapshot(study, storage="x", now=later)
    assert all(r.stale and r.stale.startswith("stale: no heartbeat") for r in s.running)
    text = format_status(s)
    assert "LOST? stale: no heartbeat for 3620s (grace period 600s)" in text
    assert "assuming one worker (none running)" in text


def test_an_empty_study() -> None:
    snapshot = StatusSnapshot(
        name="new",
        storage="x",
        sampler="tpe",
        metric_names=[],
        created_at=None,
        now=0.0,
        n_trials=4,
        deadline=None,
        used=0,
        states={},
        eta_note="unknown until a trial finishes",
    )
    lines = format_status(snapshot).splitlines()
    assert "running: none" in lines
    assert "Pareto front so far: empty (no complete trial yet)" in lines
    assert lines[-1] == "ETA: unknown until a trial finishes"


def test_the_rule_of_a_study_made_before_select_on_is_target_test(study) -> None:
    s = status_snapshot(study, storage="x", now=NOW)
    assert s.select_on == "target-test"
    lines = format_status(s).splitlines()
    assert lines[2] == (
        "selection rule: target-test: mean target HTER at the test-eer threshold, "
        "oracle (selects on the target)"
    )
    heading = next(line for line in lines if line.startswith("Pareto front"))
    assert "chosen on the target, an oracle: mean HTER (test-eer) vs GMACs" in heading


def test_an_honest_study_shows_its_rule_and_the_target_hter_of_the_front(tmp_path) -> None:
    from fasnas import record, selection

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="honest", storage=storage, directions=["minimize"] * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([selection.metric_name("source-val", "test-eer"), "GMACs"])
    record.write_study(study, select_on="source-val", objective_hter="test-eer")
    done = TrialState.COMPLETE
    # (mean source-val EER, GMACs); the target HTERs (hter.<P>) were never selected on.
    for values, hters in (([0.04, 0.02], (0.10, 0.20)), ([0.08, 0.01], (0.05, 0.05))):
        attrs = {record.hter_key(p): h for p, h in zip("MC", hters, strict=True)}
        _add(study, done, values=values, start=0, seconds=60, family="vit", **attrs)
    _add(study, done, values=[0.09, 0.03], start=0, seconds=60, family="vit")  # dominated
    s = status_snapshot(study, storage="x", now=NOW)
    assert s.select_on == "source-val"
    assert [(t.number, t.target_hter) for t in s.front] == [
        (1, pytest.approx(0.05)),
        (0, pytest.approx(0.15)),
    ]
    lines = format_status(s).splitlines()
    assert lines[2] == (
        "selection rule: source-val: mean EER on held-out source-validation videos "
        "(never the target)"
    )
    front = lines.index(next(line for line in lines if line.startswith("Pareto front")))
    assert "chosen on the sources: mean source-val EER vs GMACs" in lines[front]
    header = lines[front + 1]
    assert header.index("mean source-val EER") < header.index("target mean HTER (test-eer)")
    assert lines[front + 2].split() == ["1", "vit", "8.00%", "0.0100", "5.00%"]
    assert lines[front + 3].split() == ["0", "vit", "4.00%", "0.0200", "15.00%"]


def test_status_and_recovery_agree_on_the_protocols_a_trial_finished(tmp_path) -> None:
    from optuna.storages.journal import JournalFileBackend

    from fasnas.search.artifacts import finished_protocols

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "p.journal")))
    study = optuna.create_study(study_name="p", storage=storage, directions=["minimize"] * 2)
    study.set_user_attr("config", {"protocols": ["M", "C", "I"]})
    ids = {"result": "r", "weights": "w"}
    # killed after saving M's artifacts, before its metrics; C has metrics but no weights
    attrs = {"artifact.M": ids, "metrics.C": {}, "artifact.C": {"result": "r"}}
    _add(study, TrialState.RUNNING, start=990, heartbeat=NOW, **attrs)
    running = status_snapshot(study, storage="x", now=NOW).running[0]
    reused = finished_protocols(study.trials[0].user_attrs, ("M", "C", "I"))
    assert running.protocols_done == tuple(reused) == ("M",)
    assert "protocols done: M" in format_status(status_snapshot(study, storage="x", now=NOW))
