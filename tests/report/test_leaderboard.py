"""Tests of fasnas.report.leaderboard: the bench leaderboard and the teacher's reference point.

The bench study (tests/report/hand_study.py, bench_trials) has net_a CE-only, net_a KD and
net_b KD, two seeds each, with per-protocol HTERs set by hand.
"""

from __future__ import annotations

import math

import optuna
import pandas as pd
import pytest
from hand_study import TEACHER

from fasnas.report.leaderboard import leaderboard_frame, teacher_from, teacher_of
from fasnas.report.load import load_report_data

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_teacher_gmacs_defaults_for_vit_b16():
    teacher = teacher_of(
        {"teacher": {"name": "FLIP-IT ViT-B/16", "hter": {"M": {"test-eer": 0.02}}}}, "test-eer"
    )
    assert teacher.gmacs == pytest.approx(17.58)
    assert teacher.mean_hter == {"test-eer": pytest.approx(0.02)}  # mean of the one protocol
    assert teacher_of({}, "test-eer") is None


def test_leaderboard_from_a_bench_study(hand_url):
    data = load_report_data(hand_url, "hand", bench_study_name="hand-bench")
    board = data.baselines
    assert board["model"].tolist() == ["FLIP-IT ViT-B/16", "net_b", "net_a", "net_a"]
    assert board["kind"].tolist() == ["teacher", "baseline", "baseline", "baseline"]
    net_a_ce = board[(board["model"] == "net_a") & (board["kd"] == False)].iloc[0]  # noqa: E712
    # Seeds' mean HTERs 0.25 and 0.35: mean 0.30, sample std sqrt(2 * 0.05**2 / 1) = 0.0707.
    assert net_a_ce["mean_hter_mean"] == pytest.approx(0.30)
    assert net_a_ce["mean_hter_std"] == pytest.approx(math.sqrt(0.005))
    # Protocol M: 0.10 and 0.20 -> mean 0.15, std 0.0707; latency 2 and 3 -> 2.5.
    assert net_a_ce["hter_M_mean"] == pytest.approx(0.15)
    assert net_a_ce["hter_M_std"] == pytest.approx(math.sqrt(0.005))
    assert net_a_ce["latency_ms"] == pytest.approx(2.5)
    assert net_a_ce["n_seeds"] == 2
    assert board.iloc[0]["mean_hter_mean"] == pytest.approx(0.03)


def test_leaderboard_without_teacher_sorts_by_hter():
    frame = pd.DataFrame(
        {
            "number": [0, 1],
            "state": ["COMPLETE"] * 2,
            "rejected": [False, False],
            "baseline": ["slow", "fast"],
            "kd": [True, True],
            "gmacs": [1.0, 2.0],
            "n_params": [10, 20],
            "latency_ms": [1.0, 1.0],
        }
    )
    metrics = pd.DataFrame(
        [(n, "M", "test-eer", h, 0.9, 0.5) for n, h in ((0, 0.4), (1, 0.1))],
        columns=["number", "protocol", "threshold", "hter", "auc", "tpr_at_fpr_1pct"],
    )
    board = leaderboard_frame(frame, metrics, ["M"], "test-eer")
    assert board["model"].tolist() == ["fast", "slow"]
    assert math.isnan(board.iloc[0]["mean_hter_std"])  # one seed: no spread


def test_a_computed_teacher_reference_is_preferred_over_the_stored_one(hand_url):
    reference = {
        "name": "FLIP teacher (flip-it, tiny)",
        "gmacs": 0.25,
        "hter": {p: {"test-eer": 0.08} for p in "MCIO"},
        "mean_hter": {"test-eer": None, "source-threshold": None},
    }
    data = load_report_data(hand_url, "hand", teacher_reference=reference, importances=False)
    assert data.teacher.name == "FLIP teacher (flip-it, tiny)"
    assert data.teacher.gmacs == pytest.approx(0.25)
    assert data.teacher.mean_hter == {"test-eer": pytest.approx(0.08)}  # mean over protocols
    stored = load_report_data(hand_url, "hand", importances=False)  # an older study
    assert stored.teacher == teacher_from(TEACHER, "test-eer")
    assert stored.teacher.name == TEACHER["name"]
    assert teacher_from(None, "test-eer") is None


def test_a_teacher_that_saw_the_source_validation_videos_says_so():
    reference = {"name": "FLIP teacher", "hter": {"M": {"test-eer": 0.1}}}
    honest = teacher_from({**reference, "source_val_seen": {"M": False}}, "test-eer")
    assert honest.name == "FLIP teacher"
    seen = teacher_from({**reference, "source_val_seen": {"M": True}}, "test-eer")
    assert (
        seen.name
        == "FLIP teacher [saw the source-validation videos: its source threshold is optimistic]"
    )


def test_kd_minus_ce_is_paired_by_seed_with_its_spread(hand_url):
    from fasnas.report.leaderboard import kd_gain_median

    board = load_report_data(hand_url, "hand", bench_study_name="hand-bench").baselines
    net_a_kd = board[(board["model"] == "net_a") & (board["kd"] == True)].iloc[0]  # noqa: E712
    # net_a seed 0: KD 0.10 - CE 0.25 = -0.15; seed 1: 0.30 - 0.35 = -0.05.
    assert net_a_kd["kd_gain_mean"] == pytest.approx(-0.10)
    assert net_a_kd["kd_gain_std"] == pytest.approx(math.sqrt(0.005))
    assert net_a_kd["kd_gain_n"] == 2
    net_b = board[board["model"] == "net_b"].iloc[0]  # KD only: nothing to pair with
    assert math.isnan(net_b["kd_gain_mean"])
    net_a_ce = board[(board["model"] == "net_a") & (board["kd"] == False)].iloc[0]  # noqa: E712
    assert math.isnan(net_a_ce["kd_gain_mean"])
    assert kd_gain_median(board) == pytest.approx(-0.10)
