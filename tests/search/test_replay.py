"""``fasnas study replay``: every trial of a 2-worker study re-runs to identical metrics."""

from __future__ import annotations

import pg  # tests/pg.py (tests/ is on pytest's pythonpath)
import pytest
from optuna.trial import TrialState

from fasnas.cli import main
from fasnas.config import load_config
from fasnas.search.replay import compare, flat_metrics, replay_trial
from fasnas.search.session import load_study


def test_flat_metrics_leave_times_out_and_compare_counts_differences() -> None:
    stored = {"test-eer": {"hter": 0.25, "auc": 0.5}, "train_seconds": 3.0, "final_loss": 0.7}
    assert dict(flat_metrics(stored)) == {
        "test-eer.hter": 0.25,
        "test-eer.auc": 0.5,
        "final_loss": 0.7,
    }
    same = {**stored, "train_seconds": 9.0}
    assert compare(stored, same)[1] == 0
    lines, differ = compare(stored, {**stored, "final_loss": 0.75})
    assert differ == 1
    assert any(
        "final_loss" in line and "diff +0.05" in line and "DIFFERS" in line for line in lines
    )


@pytest.mark.slow
def test_a_two_worker_study_replays_to_identical_metrics(tmp_path, capsys) -> None:
    path = pg.tiny_study(tmp_path, protocols=("M",), iterations=6, n_trials=2)
    assert main(["study", "start", str(path), "--workers", "2"]) == 0
    study = load_study(load_config(path))
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 2
    # the two trials came from two workers with distinct join indices and sampler seeds
    assert len({t.user_attrs["worker"]["join"] for t in complete}) == 2
    for trial in complete:
        lines: list[str] = []
        assert replay_trial(load_config(path), trial.number, echo=lines.append) == 0, lines
        assert lines[-1] == f"replay of trial {trial.number}: identical"
        assert "  M: identical" in lines
        assert any(line.strip().startswith("test-eer.hter") for line in lines)
    capsys.readouterr()
    assert main(["study", "replay", str(path), "--trial", "7"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --trial: study 'tiny' has no trial 7 (trials 0..1)"]
