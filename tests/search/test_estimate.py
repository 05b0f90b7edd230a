"""Tests of ``fasnas study estimate`` (fasnas.search.estimate) on the tiny study of tests/pg.py."""

from __future__ import annotations

import optuna
import pg  # tests/pg.py (tests/ is on pytest's pythonpath)
import pytest
from optuna.trial import TrialState, create_trial

from fasnas.cli import main
from fasnas.config import load_config
from fasnas.search.estimate import Estimate, SampleTiming, estimate_study, measured_savings


def test_trial_seconds_scale_steps_by_iterations_protocols_and_folds(tmp_path) -> None:
    path = pg.tiny_study(tmp_path / "run", protocols=("M", "C"), iterations=10, n_trials=7)
    config = load_config(path)
    estimate = estimate_study(config, samples=2, steps=2)
    assert len(estimate.samples) == 2 and estimate.device == "cpu"
    for sample in estimate.samples:
        assert sample.step_seconds > 0 and sample.gmacs > 0
        assert sample.trial_seconds == pytest.approx(sample.step_seconds * 10 * 2)
    assert estimate.hours() == pytest.approx(7 * estimate.trial_seconds / 3600)
    assert not (path.parent / "tiny.journal").exists()  # nothing written to the storage

    loso = pg.tiny_study(
        tmp_path / "loso",
        protocols=("M",),
        iterations=10,
        extra="objective: {select_on: leave-one-source-out}\n",
    )
    folds = estimate_study(load_config(loso), samples=1, steps=2).samples[0]
    # M's three sources are held out in turn: four trainings per protocol
    assert folds.trial_seconds == pytest.approx(folds.step_seconds * 10 * 4)


def test_early_stopping_savings_are_measured_from_pruned_trials() -> None:
    study = optuna.create_study(directions=["minimize", "minimize"])
    complete = {f"metrics.{p}": {} for p in "MCIO"}
    study.add_trial(
        create_trial(state=TrialState.COMPLETE, values=[0.1, 1.0], user_attrs=complete)
    )
    study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs={"metrics.M": {}}))
    # 2 trials x 4 protocols = 8 runs without early stopping; the pruned one skipped 3
    assert measured_savings(study, list("MCIO")) == pytest.approx(3 / 8)
    assert measured_savings(optuna.create_study(), list("MCIO")) is None


def test_the_lines_give_hours_and_the_savings() -> None:
    estimate = Estimate("cuda:0", 100, 4, [SampleTiming("net@224", 0.5, 0.01, 36.0)], 0.25)
    lines = estimate.lines()
    assert "100 trials: 1.00 GPU-hours; 0.25 h wall with 4 worker(s)" in lines
    assert lines[-1].endswith("(25% of protocol runs in this study): 0.75 GPU-hours")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [(["--device", "cuda:9"], "--device: 'cuda:9' requested"), (["--samples", "0"], "--samples")],
)
def test_bad_options_exit_2_naming_them(tmp_path, capsys, argv, expected) -> None:
    path = pg.tiny_study(tmp_path / "run")
    try:
        code = main(["study", "estimate", str(path), *argv])
    except SystemExit as stop:  # argparse refuses a non-positive count itself
        code = stop.code
    assert code == 2 and expected in capsys.readouterr().err
