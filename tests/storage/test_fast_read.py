"""Tests of fasnas.storage.fast_read: the fast RDB trial reader equals Optuna's own reading.

``varied_trials`` exercise every stored type (inf values, int/log/categorical params, nested
attributes, intermediate values); ``mixed_trials`` are seven trials #0..#6 in every finished
state, families alternating a, b, ..., a. Both are compared with ``get_all_trials`` field by
field (``FrozenTrial.__eq__``), on SQLite and, when its binaries are installed, PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import warnings

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from fasnas.storage import fast_read
from fasnas.storage.fast_read import read_trials

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
START = dt.datetime(2025, 3, 1, 12, 0, 0)
STATES = ["COMPLETE", "COMPLETE", "COMPLETE", "FAIL", "PRUNED", "COMPLETE", "COMPLETE"]


def mixed_trials() -> list:
    """Trials #0..#6: COMPLETE x3, FAIL, PRUNED (with a step), COMPLETE x2; family a, b, ..., a."""
    trials = []
    for k, name in enumerate(STATES):
        state = TrialState[name]
        frozen = create_trial(
            state=state,
            values=[0.1 * (k + 1), 1.0 / (k + 1)] if state == TrialState.COMPLETE else None,
            params={"w": 0.1 * k},
            distributions={"w": FloatDistribution(0.0, 1.0)},
            user_attrs={"family": "ab"[k % 2], "metrics.M": {"test-eer": {"hter": 0.1 * k}}},
            intermediate_values={0: 0.3} if state == TrialState.PRUNED else None,
        )
        frozen.datetime_start = START + dt.timedelta(hours=k)
        frozen.datetime_complete = frozen.datetime_start + dt.timedelta(minutes=30)
        trials.append(frozen)
    return trials


def make_study(url, name: str, trials: list):
    study = optuna.create_study(study_name=name, storage=url, directions=["minimize"] * 2)
    study.add_trials(trials)
    return study


@pytest.fixture(scope="module")
def hand_url(tmp_path_factory) -> str:
    """A SQLite file holding study ``hand`` (the mixed trials); read-only."""
    url = f"sqlite:///{tmp_path_factory.mktemp('hand') / 'hand.db'}"
    make_study(url, "hand", mixed_trials())
    return url


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
    make_study(url, "other", trials=mixed_trials()[:2])  # a second study in the same file
    running = study.ask()  # RUNNING: no datetime_complete, no values
    running.set_user_attr("worker", {"host": "h", "pid": 1})
    storage = optuna.storages.RDBStorage(url)
    study_id = storage.get_study_id_from_name("varied")
    fast = fast_read._read_rdb_trials(storage, study_id)
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
        monkeypatch.setattr(fast_read, "_LOCAL_IS_UTC", False)
        storage = optuna.storages.RDBStorage(url)
        study_id = storage.get_study_id_from_name("tz")
        fast = fast_read._read_rdb_trials(storage, study_id)
        assert fast == storage.get_all_trials(study_id, deepcopy=False)
        assert fast[0].datetime_start == START + dt.timedelta(hours=5, minutes=30)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_read_trials_falls_back_when_the_fast_reader_disagrees(hand_url, monkeypatch):
    storage = optuna.storages.RDBStorage(hand_url)
    study_id = storage.get_study_id_from_name("hand")
    real = fast_read._read_rdb_trials

    def corrupted(storage, study_id):
        trials = real(storage, study_id)
        trials[-1].user_attrs["family"] = "wrong"
        return trials

    monkeypatch.setattr(fast_read, "_read_rdb_trials", corrupted)
    with pytest.warns(RuntimeWarning, match="disagrees"):
        trials = read_trials(storage, study_id)
    assert trials[-1].user_attrs["family"] == "a"


def test_rows_of_trials_created_during_the_read_are_dropped(hand_url, monkeypatch):
    # A worker adds trial 999 between the select of trials and that of its attributes.
    storage = optuna.storages.RDBStorage(hand_url)
    real = fast_read._fetch_rdb_rows

    def racing(storage, study_id):
        rows = real(storage, study_id)
        rows["values"].append((999, 0, 0.5, "FINITE"))
        rows["user"].append((999, "family", '"late"'))
        return rows

    monkeypatch.setattr(fast_read, "_fetch_rdb_rows", racing)
    trials = fast_read._read_rdb_trials(storage, storage.get_study_id_from_name("hand"))
    assert [t.number for t in trials] == list(range(7))
    assert all(t.user_attrs.get("family") != "late" for t in trials)


def test_running_trials_do_not_trigger_the_fallback(tmp_path, monkeypatch):
    # A running trial may be updated between the fast read and the check: only finished trials
    # are compared, so the fast result stands (no warning, no second read).
    url = f"sqlite:///{tmp_path / 'live.db'}"
    study = make_study(url, "live", trials=mixed_trials()[:2])
    running = study.ask()
    storage = optuna.storages.RDBStorage(url)
    real = fast_read._read_rdb_trials

    def stale(storage, study_id):
        trials = real(storage, study_id)
        trials[-1].user_attrs["worker"] = "updated meanwhile"
        return trials

    monkeypatch.setattr(fast_read, "_read_rdb_trials", stale)
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

    monkeypatch.setattr(fast_read, "KNOWN_RDB_SCHEMAS", frozenset())
    monkeypatch.setattr(fast_read, "_read_rdb_trials", fail)
    trials = read_trials(storage, storage.get_study_id_from_name("hand"))
    assert [t.number for t in trials] == list(range(7))


@pytest.mark.slow
def test_fast_reader_on_postgresql():
    import pg  # tests/pg.py (tests/ is on pytest's pythonpath)

    if pg.pg_bin() is None:
        pytest.skip("PostgreSQL binaries not installed (.ci/run installs postgresql)")
    with pg.postgres_server() as server:
        url = server.url()
        study = make_study(url, "varied", trials=varied_trials())
        study.ask()  # RUNNING
        make_study(url, "hand", trials=mixed_trials())
        storage = optuna.storages.RDBStorage(url)
        for name in ("varied", "hand"):
            study_id = storage.get_study_id_from_name(name)
            fast = fast_read._read_rdb_trials(storage, study_id)
            assert fast == storage.get_all_trials(study_id, deepcopy=False)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # no fallback to the slow reader
            assert len(read_trials(storage, storage.get_study_id_from_name("hand"))) == 7
        storage.engine.dispose()
