"""Tests of fasnas.report.data: a hand-built study whose front, hypervolume and frames are known.

The study (SQLite, two objectives: mean HTER, GMACs), trial by trial:

    #0 COMPLETE  (0.10, 1.00)  family a   -> on the front
    #1 COMPLETE  (0.20, 0.50)  family b   -> on the front
    #2 COMPLETE  (0.30, 0.60)  family a   -> dominated by #1 (0.2 <= 0.3 and 0.5 <= 0.6)
    #3 FAIL      no values     fail_reason "nan-loss: ..."
    #4 PRUNED    no values     partial metrics.M (test-eer HTER 0.40)
    #5 COMPLETE  (1.00, 0.05)  rejected (over budget): placeholder values, never on the front
    #6 COMPLETE  (0.05, 0.40)  infeasible (constraints [0.5]): would dominate all, excluded

Each trial runs 30 minutes, so compute hours after trial k are 0.5 (k + 1).

Hypervolume of (GMACs, HTER) w.r.t. the reference (HTER 0.5, 2.0 GMACs):
    after #0: box [1.0, 2.0] x [0.1, 0.5] = 1.0 * 0.4 = 0.40
    after #1: + box [0.5, 2.0] x [0.2, 0.5] = 1.5 * 0.3 = 0.45, overlap [1.0, 2.0] x [0.2, 0.5]
              = 0.30, so 0.40 + 0.45 - 0.30 = 0.55; #2 .. #6 add nothing.
With the default reference (HTER 0.5, 1.1 x the largest candidate GMACs 1.0 = 1.1):
    after #0: 0.1 * 0.4 = 0.04; after #1: 0.04 + 0.6 * 0.3 - 0.1 * 0.3 = 0.19.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import warnings

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from fasnas.errors import StorageError
from fasnas.report import data as report_data
from fasnas.report.data import (
    hypervolume_2d,
    hypervolume_history,
    leaderboard_frame,
    load_report_data,
    pareto_mask,
    read_trials,
    teacher_of,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
START = dt.datetime(2025, 3, 1, 12, 0, 0)
DISTRIBUTIONS = {
    "family": CategoricalDistribution(["a", "b"]),
    "w_kd": FloatDistribution(0.0, 2.0),
}


def metric_set(hter: float, auc: float = 0.9) -> dict:
    return {
        "hter": hter,
        "eer": hter,
        "auc": auc,
        "tpr_at_fpr_1pct": 1 - 2 * hter,
        "threshold": 0.5,
        "far": hter,
        "frr": hter,
        "apcer": hter,
        "bpcer": hter,
        "acer": hter,
        "n_videos": 40,
    }


def protocol_result(hter: float) -> dict:
    """test-eer HTER ``hter``; source-threshold HTER ``hter + 0.1``."""
    return {
        "test-eer": metric_set(hter),
        "source-threshold": metric_set(hter + 0.1, auc=0.9),
        "train_seconds": 10.0,
        "eval_seconds": 1.0,
        "final_loss": 0.2,
    }


def trial(number: int, state: TrialState, values, family: str, **attrs):
    user_attrs = {
        "family": family,
        "img_size": 112,
        "gmacs": values[1] if values else 0.7,
        "params": 1_000_000 * (number + 1),
        "constraints": [0.0],
        "distill_spec": {"w_kd": 0.5 + number, "temperature": 4.0, "lr": 1e-3},
        "worker": {"host": "node1" if number % 2 else "node0", "pid": 100 + number % 2},
        **attrs,
    }
    frozen = create_trial(
        state=state,
        values=values,
        params={"family": family, "w_kd": 0.5 + number / 10},
        distributions=DISTRIBUTIONS,
        user_attrs=user_attrs,
    )
    frozen.datetime_start = START + dt.timedelta(hours=number)
    frozen.datetime_complete = frozen.datetime_start + dt.timedelta(minutes=30)
    return frozen


def full_metrics(hters: list[float]) -> dict:
    """metrics.<P> and hter.<P> for M, C, I, O."""
    attrs = {}
    for protocol, hter in zip("MCIO", hters, strict=True):
        attrs[f"metrics.{protocol}"] = protocol_result(hter)
        attrs[f"hter.{protocol}"] = hter
    return attrs


HAND_TRIALS = [
    trial(0, TrialState.COMPLETE, [0.10, 1.00], "a", **full_metrics([0.05, 0.10, 0.15, 0.10])),
    trial(1, TrialState.COMPLETE, [0.20, 0.50], "b", **full_metrics([0.20, 0.20, 0.20, 0.20])),
    trial(2, TrialState.COMPLETE, [0.30, 0.60], "a", **full_metrics([0.30, 0.30, 0.30, 0.30])),
    trial(3, TrialState.FAIL, None, "b", fail_reason="nan-loss: loss became nan"),
    trial(
        4,
        TrialState.PRUNED,
        None,
        "a",
        prune_reason="early stop",
        **{"metrics.M": protocol_result(0.40)},
    ),
    trial(5, TrialState.COMPLETE, [1.00, 0.05], "b", rejected="over budget", constraints=[1.0]),
    trial(6, TrialState.COMPLETE, [0.05, 0.40], "a", constraints=[0.5]),
]

TEACHER = {
    "name": "FLIP-IT ViT-B/16",
    "gmacs": 17.58,
    "hter": {p: {"test-eer": 0.03, "source-threshold": 0.05} for p in "MCIO"},
    "mean_hter": {"test-eer": 0.03, "source-threshold": 0.05},
}


def make_study(url: str, name: str = "hand", trials=HAND_TRIALS, *, attrs: dict | None = None):
    study = optuna.create_study(study_name=name, storage=url, directions=["minimize"] * 2)
    study.set_metric_names(["mean HTER (test-eer)", "GMACs"])
    for key, value in (attrs or {}).items():
        study.set_user_attr(key, value)
    study.add_trials(trials)
    return study


@pytest.fixture(scope="module")
def hand_url(tmp_path_factory) -> str:
    """The hand study and its bench study ``hand-bench`` (see bench_trials); read-only."""
    url = f"sqlite:///{tmp_path_factory.mktemp('hand') / 'hand.db'}"
    make_study(
        url,
        attrs={
            "teacher": TEACHER,
            "config_hash": "abc123",
            "config": {"protocols": ["M", "C", "I", "O"], "data_hashes": {"MCIO": "d00d"}},
        },
    )
    make_study(url, "hand-bench", trials=bench_trials())
    return url


# ----------------------------------------------------------------------------------------------
# Pareto front


def test_pareto_mask_hand_cases():
    # 2-D: (1,3), (2,2), (3,1) trade off; (2,3) is dominated by (1,3) and (2,2); the duplicate
    # (2,2) rows do not dominate each other; (1,4) is dominated by (1,3) (equal x, worse y).
    points = np.array([[1, 3], [2, 2], [3, 1], [2, 3], [2, 2], [1, 4]], dtype=float)
    assert pareto_mask(points).tolist() == [True, True, True, False, True, False]
    # 3-D: (1,1,5) and (5,5,1) trade off; (2,2,5) is dominated by (1,1,5).
    points = np.array([[1, 1, 5], [5, 5, 1], [2, 2, 5]], dtype=float)
    assert pareto_mask(points).tolist() == [True, True, False]
    assert pareto_mask(np.zeros((0, 2))).tolist() == []


@pytest.mark.parametrize("n_objectives", [2, 3])
def test_pareto_mask_matches_optuna_best_trials(n_objectives):
    rng = np.random.default_rng(n_objectives)
    # Rounded values make ties and duplicates common.
    points = np.round(rng.random((300, n_objectives)) * 8) / 8
    study = optuna.create_study(directions=["minimize"] * n_objectives)
    study.add_trials([create_trial(state=TrialState.COMPLETE, values=list(row)) for row in points])
    expected = {t.number for t in study.best_trials}
    assert set(np.flatnonzero(pareto_mask(points)).tolist()) == expected


# ----------------------------------------------------------------------------------------------
# Hypervolume


def test_hypervolume_history_by_hand():
    # (GMACs, HTER) rows of trials #0, #1, #2 of the module docstring, reference (2.0, 0.5).
    history = hypervolume_history(np.array([[1.0, 0.1], [0.5, 0.2], [0.6, 0.3]]), (2.0, 0.5))
    assert history == pytest.approx([0.40, 0.55, 0.55])
    # Outside the box, NaN and a duplicate change nothing; a point dominating all replaces them:
    # (0.2, 0.05) alone gives (2.0 - 0.2) * (0.5 - 0.05) = 0.81.
    more = np.array([[3.0, 0.01], [0.1, 0.6], [np.nan, 0.1], [1.0, 0.1], [0.2, 0.05]])
    history = hypervolume_history(np.vstack([[1.0, 0.1], [0.5, 0.2], more]), (2.0, 0.5))
    assert history == pytest.approx([0.40, 0.55, 0.55, 0.55, 0.55, 0.55, 0.81])


def brute_force_area(points: np.ndarray, reference: tuple[float, float]) -> float:
    """Union of the boxes [x, rx] x [y, ry], summed over a grid of every x and y coordinate."""
    rx, ry = reference
    inside = points[(points[:, 0] < rx) & (points[:, 1] < ry)]
    xs = np.unique(np.concatenate([inside[:, 0], [rx]]))
    ys = np.unique(np.concatenate([inside[:, 1], [ry]]))
    area = 0.0
    for i in range(len(xs) - 1):
        for j in range(len(ys) - 1):
            covered = ((inside[:, 0] <= xs[i]) & (inside[:, 1] <= ys[j])).any()
            if covered:
                area += (xs[i + 1] - xs[i]) * (ys[j + 1] - ys[j])
    return area


def test_hypervolume_history_matches_brute_force():
    rng = np.random.default_rng(7)
    points = np.round(rng.random((120, 2)) * 20) / 20  # ties on both axes
    reference = (0.9, 0.95)
    history = hypervolume_history(points, reference)
    for k in (0, 1, 5, 30, 119):
        assert history[k] == pytest.approx(brute_force_area(points[: k + 1], reference))
    assert np.all(np.diff(history) >= -1e-12)
    assert hypervolume_2d(points, reference) == pytest.approx(history[-1])


# ----------------------------------------------------------------------------------------------
# The hand study


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


def test_run_info_and_teacher(hand_url):
    data = load_report_data(hand_url, "hand")
    info = data.run_info
    assert info["states"] == {"COMPLETE": 5, "FAIL": 1, "PRUNED": 1}
    assert info["rejected"] == 1
    assert info["workers"] == ["node0:100", "node1:101"]
    assert info["compute_hours"] == pytest.approx(3.5)
    assert info["config_hash"] == "abc123"
    assert info["hashes"] == {"data_hashes": {"MCIO": "d00d"}}
    assert info["storage"].startswith("SQLite file ") and "hand.db" in info["storage"]
    assert info["failure_reasons"] == {"nan-loss": 1}
    assert info["versions"]["optuna"] == optuna.__version__
    assert data.teacher is not None
    assert data.teacher.gmacs == pytest.approx(17.58)
    assert data.teacher.mean_hter["test-eer"] == pytest.approx(0.03)


def test_missing_study_attributes_are_handled(tmp_path):
    url = f"sqlite:///{tmp_path / 'bare.db'}"
    make_study(url, "bare")
    data = load_report_data(url, "bare")
    assert data.teacher is None
    assert data.run_info["config_hash"] is None and data.run_info["hashes"] == {}
    # Protocols come from the trials' metrics.<P> keys, in MCIO order.
    assert data.protocol_names == ["M", "C", "I", "O"]


def test_teacher_gmacs_defaults_for_vit_b16():
    teacher = teacher_of(
        {"teacher": {"name": "FLIP-IT ViT-B/16", "hter": {"M": {"test-eer": 0.02}}}}, "test-eer"
    )
    assert teacher.gmacs == pytest.approx(17.58)
    assert teacher.mean_hter == {"test-eer": pytest.approx(0.02)}  # mean of the one protocol
    assert teacher_of({}, "test-eer") is None


def test_empty_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    make_study(url, "empty", trials=[])
    data = load_report_data(url, "empty")
    assert len(data.trials) == 0 and len(data.pareto) == 0
    assert len(data.hypervolume) == 0 and len(data.importances) == 0
    assert "0" in data.importances_note


# ----------------------------------------------------------------------------------------------
# Reading


def varied_trials() -> list:
    """Trials exercising every stored type: inf values, int/log/categorical params, attrs."""
    distributions = {
        "x": FloatDistribution(1e-4, 1.0, log=True),
        "n": IntDistribution(1, 9, step=2),
        "c": CategoricalDistribution([None, "s", 3, 2.5, True]),
    }
    trials = []
    for k, choice in enumerate([None, "s", 3, 2.5, True]):
        frozen = create_trial(
            state=TrialState.COMPLETE,
            values=[math.inf if k == 1 else 0.1 * k, -math.inf if k == 2 else k],
            params={"x": 10 ** -(k % 4), "n": 1 + 2 * k, "c": choice},
            distributions=distributions,
            user_attrs={"nested": {"a": [1, 2.5, None], "b": "é"}, "k": k},
            system_attrs={"constraints": [0.0], "note": f"s{k}"},
            intermediate_values={0: 0.5, 3: math.inf},
        )
        frozen.datetime_start = START + dt.timedelta(seconds=k)
        frozen.datetime_complete = START + dt.timedelta(seconds=10 + k, microseconds=123456)
        trials.append(frozen)
    trials.append(create_trial(state=TrialState.FAIL, user_attrs={"fail_reason": "boom"}))
    return trials


def test_fast_reader_equals_optuna_get_all_trials(tmp_path):
    url = f"sqlite:///{tmp_path / 'varied.db'}"
    study = make_study(url, "varied", trials=varied_trials())
    make_study(url, "other", trials=HAND_TRIALS[:2])  # a second study in the same file
    running = study.ask()  # RUNNING: no datetime_complete, no values
    running.set_user_attr("worker", {"host": "h", "pid": 1})
    storage = optuna.storages.RDBStorage(url)
    study_id = storage.get_study_id_from_name("varied")
    fast = report_data._read_rdb_trials(storage, study_id)
    slow = storage.get_all_trials(study_id, deepcopy=False)
    assert len(fast) == len(slow) == 7
    for mine, theirs in zip(fast, slow, strict=True):
        # NaN-free trials compare with FrozenTrial.__eq__ (every field, trial ids included).
        assert mine == theirs


def test_fast_reader_converts_datetimes_like_optuna_outside_utc(tmp_path, monkeypatch):
    # Optuna stores naive UTC and returns naive local time: write the study in UTC, read it in
    # Kolkata (UTC+05:30), where the conversion is not the identity.
    url = f"sqlite:///{tmp_path / 'tz.db'}"
    try:
        monkeypatch.setenv("TZ", "UTC")
        time.tzset()
        make_study(url, "tz", trials=varied_trials())
        monkeypatch.setenv("TZ", "Asia/Kolkata")
        time.tzset()
        monkeypatch.setattr(report_data, "_LOCAL_IS_UTC", False)
        storage = optuna.storages.RDBStorage(url)
        study_id = storage.get_study_id_from_name("tz")
        fast = report_data._read_rdb_trials(storage, study_id)
        assert fast == storage.get_all_trials(study_id, deepcopy=False)
        assert fast[0].datetime_start == START + dt.timedelta(hours=5, minutes=30)
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.slow
def test_fast_reader_on_postgresql():
    import pg  # tests/pg.py (tests/ is on pytest's pythonpath)

    if pg.pg_bin() is None:
        pytest.skip("PostgreSQL binaries not installed (.ci/run installs postgresql)")
    with pg.postgres_server() as server:
        url = server.url()
        study = make_study(url, "varied", trials=varied_trials())
        study.ask()  # RUNNING
        make_study(url, "hand", trials=HAND_TRIALS)
        storage = report_data.open_storage(url)
        study_id = storage.get_study_id_from_name("varied")
        fast = report_data._read_rdb_trials(storage, study_id)
        assert fast == storage.get_all_trials(study_id, deepcopy=False)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # no fallback to the slow reader
            data = load_report_data(url, "hand", hv_reference=(0.5, 2.0))
        assert data.pareto["number"].tolist() == [1, 0]
        assert data.hypervolume["hypervolume"].tolist() == pytest.approx([0.40] + [0.55] * 6)
        storage.engine.dispose()


def test_read_trials_falls_back_when_the_fast_reader_disagrees(hand_url, monkeypatch):
    storage = optuna.storages.RDBStorage(hand_url)
    study_id = storage.get_study_id_from_name("hand")
    real = report_data._read_rdb_trials

    def corrupted(storage, study_id):
        trials = real(storage, study_id)
        trials[-1].user_attrs["family"] = "wrong"
        return trials

    monkeypatch.setattr(report_data, "_read_rdb_trials", corrupted)
    with pytest.warns(RuntimeWarning, match="disagrees"):
        trials = read_trials(storage, study_id)
    assert trials[-1].user_attrs["family"] == "a"


def test_rows_of_trials_created_during_the_read_are_dropped(hand_url, monkeypatch):
    # A worker adds trial 999 between the select of trials and that of its attributes.
    storage = optuna.storages.RDBStorage(hand_url)
    real = report_data._fetch_rdb_rows

    def racing(storage, study_id):
        rows = real(storage, study_id)
        rows["values"].append((999, 0, 0.5, "FINITE"))
        rows["user"].append((999, "family", '"late"'))
        return rows

    monkeypatch.setattr(report_data, "_fetch_rdb_rows", racing)
    trials = report_data._read_rdb_trials(storage, storage.get_study_id_from_name("hand"))
    assert [t.number for t in trials] == list(range(7))
    assert all(t.user_attrs.get("family") != "late" for t in trials)


def test_running_trials_do_not_trigger_the_fallback(tmp_path, monkeypatch):
    # A running trial may be updated between the fast read and the check: only finished trials
    # are compared, so the fast result stands (no warning, no second read).
    url = f"sqlite:///{tmp_path / 'live.db'}"
    study = make_study(url, "live", trials=HAND_TRIALS[:2])
    running = study.ask()
    storage = optuna.storages.RDBStorage(url)
    real = report_data._read_rdb_trials

    def stale(storage, study_id):
        trials = real(storage, study_id)
        trials[-1].user_attrs["worker"] = "updated meanwhile"
        return trials

    monkeypatch.setattr(report_data, "_read_rdb_trials", stale)
    monkeypatch.setattr(storage, "get_all_trials", None)  # the fallback must not run
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        trials = read_trials(storage, storage.get_study_id_from_name("live"))
    assert trials[-1].number == running.number
    assert trials[-1].user_attrs["worker"] == "updated meanwhile"


def test_read_trials_uses_optuna_for_an_unknown_schema(hand_url, monkeypatch):
    storage = optuna.storages.RDBStorage(hand_url)

    def fail(*args):
        raise AssertionError("the fast reader must not run on an unknown schema")

    monkeypatch.setattr(report_data, "KNOWN_RDB_SCHEMAS", frozenset())
    monkeypatch.setattr(report_data, "_read_rdb_trials", fail)
    trials = read_trials(storage, storage.get_study_id_from_name("hand"))
    assert [t.number for t in trials] == list(range(7))


def test_journal_storage_gives_the_same_frames(tmp_path, hand_url):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = JournalStorage(JournalFileBackend(str(tmp_path / "hand.log")))
    make_study(journal, trials=HAND_TRIALS, attrs={"teacher": TEACHER})
    from_journal = load_report_data(journal, "hand", hv_reference=(0.5, 2.0))
    from_url = load_report_data(f"journal:{tmp_path / 'hand.log'}", "hand")
    assert from_url.run_info["storage"] == f"journal file {tmp_path / 'hand.log'}"
    assert from_url.pareto["number"].tolist() == [1, 0]
    from_sqlite = load_report_data(hand_url, "hand", hv_reference=(0.5, 2.0))
    assert from_journal.run_info["storage"].startswith("journal")
    columns = ["number", "state", "mean_hter", "gmacs", "pareto", "dominated", "hter_test_eer_M"]
    pd.testing.assert_frame_equal(from_journal.trials[columns], from_sqlite.trials[columns])
    pd.testing.assert_frame_equal(from_journal.hypervolume, from_sqlite.hypervolume)


# ----------------------------------------------------------------------------------------------
# Importances and the leaderboard


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


def bench_trials() -> list:
    """Two baselines x (CE only, KD) x 2 seeds; HTER per protocol set by hand."""
    hters = {
        ("net_a", False): ([0.10, 0.20, 0.30, 0.40], [0.20, 0.30, 0.40, 0.50]),  # means .25, .35
        ("net_a", True): ([0.10, 0.10, 0.10, 0.10], [0.30, 0.30, 0.30, 0.30]),  # means .10, .30
        ("net_b", True): ([0.05, 0.05, 0.05, 0.05], [0.05, 0.05, 0.05, 0.05]),  # means .05, .05
    }
    trials = []
    for (baseline, kd), per_seed in hters.items():
        for seed, values in enumerate(per_seed):
            mean = float(np.mean(values))
            number = len(trials)
            trials.append(
                trial(
                    number,
                    TrialState.COMPLETE,
                    [mean, 0.2 if baseline == "net_a" else 0.4],
                    "b",
                    baseline=baseline,
                    kd=kd,
                    bench_seed=seed,
                    latency_ms=2.0 + seed,
                    **full_metrics(values),
                )
            )
    return trials


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


# ----------------------------------------------------------------------------------------------
# Errors


def test_missing_sqlite_file_is_a_storage_error(tmp_path):
    missing = tmp_path / "nope.db"
    with pytest.raises(StorageError, match="nope.db: no such file"):
        load_report_data(f"sqlite:///{missing}", "x")
    assert not missing.exists()  # never created by a report


def test_unknown_study_lists_the_studies(hand_url):
    listed = r"study 'nope' not found .*\['hand', 'hand-bench'\]"
    with pytest.raises(StorageError, match=listed):
        load_report_data(hand_url, "nope")


def test_storage_must_be_a_url_or_a_storage():
    with pytest.raises(StorageError, match="expected a storage URL"):
        load_report_data(None, "x")


def test_unknown_bench_study_is_a_storage_error(hand_url):
    with pytest.raises(StorageError, match="nope-bench"):
        load_report_data(hand_url, "hand", bench_study_name="nope-bench")


def test_study_exists_and_bench_name(hand_url):
    assert report_data.study_exists(hand_url, report_data.bench_study_name_for("hand"))
    assert not report_data.study_exists(hand_url, "nope")
    assert report_data.bench_study_name_for("hand") == "hand-bench"


def test_reading_is_once(hand_url, monkeypatch):
    calls = []
    real = report_data.read_trials

    def counted(storage, study_id):
        calls.append(study_id)
        return real(storage, study_id)

    monkeypatch.setattr(report_data, "read_trials", counted)
    load_report_data(hand_url, "hand")
    assert len(calls) == 1


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
