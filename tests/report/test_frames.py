"""Tests of fasnas.report.frames on the hand study (tests/report/hand_study.py).

The frames are read through load_report_data, as a report builds them: the trials frame with
its candidates and front, the per-protocol metrics in long format, the hypervolume history and
the parameter importances.
"""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from hand_study import HAND_TRIALS, make_study
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from fasnas.report.load import load_report_data

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_front_dominated_and_excluded_trials(hand_url):
    data = load_report_data(hand_url, "hand", hv_reference=(0.5, 2.0))
    trials = data.trials.set_index("number")
    assert trials.index.tolist() == list(range(7))
    assert set(trials.index[trials["pareto"]]) == {0, 1}
    assert set(trials.index[trials["dominated"]]) == {2}
    assert set(trials.index[trials["eligible"]]) == {0, 1, 2}
    assert trials.loc[3, "state"] == "FAIL" and trials.loc[4, "state"] == "PRUNED"
    assert bool(trials.loc[5, "rejected"]) and not bool(trials.loc[6, "feasible"])
    assert math.isnan(trials.loc[5, "mean_hter"])  # rejected: placeholder HTER not reported
    assert data.pareto["number"].tolist() == [1, 0]  # cheapest first


def test_trials_frame_columns(hand_url):
    data = load_report_data(hand_url, "hand")
    trials = data.trials.set_index("number")
    assert data.protocol_names == ["M", "C", "I", "O"]
    assert data.objective_hter == "test-eer"
    assert trials.loc[0, "hter_test_eer_I"] == pytest.approx(0.15)
    assert trials.loc[0, "hter_source_threshold_I"] == pytest.approx(0.25)
    assert trials.loc[0, "gmacs"] == pytest.approx(1.0)
    assert trials.loc[0, "n_params"] == 1_000_000
    assert trials.loc[2, "kd_w_kd"] == pytest.approx(2.5)
    assert trials.loc[2, "params_w_kd"] == pytest.approx(0.7)
    assert trials.loc[1, "worker"] == "node1:101"
    assert trials.loc[0, "duration_s"] == pytest.approx(1800.0)
    assert trials.loc[4, "partial_hter"] == pytest.approx(0.40)  # only M finished
    assert math.isnan(trials.loc[3, "partial_hter"])
    assert trials.loc[3, "fail_reason"].startswith("nan-loss")


def test_protocol_frame_long_format(hand_url):
    data = load_report_data(hand_url, "hand")
    metrics = data.protocols
    # 3 complete trials x 4 protocols x 2 thresholds + the pruned trial's M x 2.
    assert len(metrics) == 3 * 4 * 2 + 2
    chosen = (metrics["number"] == 0) & (metrics["protocol"] == "I")
    row = metrics[chosen & (metrics["threshold"] == "test-eer")].iloc[0]
    assert row["hter"] == pytest.approx(0.15)
    assert row["tpr_at_fpr_1pct"] == pytest.approx(0.70)
    assert row["threshold_value"] == pytest.approx(0.5)
    assert metrics[metrics["number"] == 0]["protocol"].drop_duplicates().tolist() == list("MCIO")


def test_hypervolume_frame(hand_url):
    data = load_report_data(hand_url, "hand", hv_reference=(0.5, 2.0))
    frame = data.hypervolume
    assert frame["number"].tolist() == list(range(7))
    assert frame["hypervolume"].tolist() == pytest.approx([0.40] + [0.55] * 6)
    assert frame["compute_hours"].tolist() == pytest.approx([0.5 * (k + 1) for k in range(7)])
    default = load_report_data(hand_url, "hand")
    assert default.hv_reference == pytest.approx((0.5, 1.1))
    assert default.hypervolume["hypervolume"].iloc[:2].tolist() == pytest.approx([0.04, 0.19])


def test_three_objectives_front(tmp_path):
    # (HTER, GMACs, latency): #1 is worse than #0 on HTER and GMACs but faster, so both stay;
    # #2 is dominated by #0 on all three.
    url = f"sqlite:///{tmp_path / 'three.db'}"
    study = optuna.create_study(study_name="three", storage=url, directions=["minimize"] * 3)
    rows = [(0.1, 1.0, 5.0), (0.2, 2.0, 1.0), (0.3, 3.0, 6.0)]
    study.add_trials(
        [
            create_trial(state=TrialState.COMPLETE, values=list(r), user_attrs={"family": "a"})
            for r in rows
        ]
    )
    data = load_report_data(url, "three")
    assert data.trials["pareto"].tolist() == [True, True, False]
    assert data.trials["latency_ms"].tolist() == pytest.approx([5.0, 1.0, 6.0])


def test_importances_rank_the_parameter_that_sets_gmacs():
    # GMACs = width exactly; noise is unrelated to both objectives.
    distributions = {"width": FloatDistribution(0, 1), "noise": FloatDistribution(0, 1)}
    rng = np.random.default_rng(0)
    trials = []
    for _ in range(60):
        width, noise = float(rng.random()), float(rng.random())
        trials.append(
            create_trial(
                state=TrialState.COMPLETE,
                values=[0.5 - 0.4 * width, width],
                params={"width": width, "noise": noise},
                distributions=distributions,
                user_attrs={"family": "a", "gmacs": width},
            )
        )
    storage = optuna.storages.InMemoryStorage()
    make_study(storage, "imp", trials=trials)
    data = load_report_data(storage, "imp")
    importances = data.importances.set_index(["target", "param"])["importance"]
    assert set(data.importances["target"]) == {"mean HTER", "GMACs"}
    assert importances["GMACs", "width"] > importances["GMACs", "noise"]
    assert importances["mean HTER", "width"] > importances["mean HTER", "noise"]
    assert "60" in data.importances_note


def test_importances_need_ten_trials(hand_url):
    data = load_report_data(hand_url, "hand")
    assert data.importances.empty
    assert "at least 10" in data.importances_note and "has 3" in data.importances_note


def test_importances_can_be_turned_off():
    storage = optuna.storages.InMemoryStorage()
    make_study(storage, "many", trials=HAND_TRIALS[:3] * 4)
    data = load_report_data(storage, "many", importances=False)
    assert data.importances.empty and "turned off" in data.importances_note
