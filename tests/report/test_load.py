"""Tests of fasnas.report.load: reading a study once, how it ran, and the storage errors.

The hand study and its bench study are in tests/report/hand_study.py.
"""

from __future__ import annotations

import warnings

import optuna
import pandas as pd
import pytest
from hand_study import HAND_TRIALS, TEACHER, make_study

from fasnas.errors import StorageError
from fasnas.record import bench_study_name
from fasnas.report import load as report_load
from fasnas.report.load import load_report_data

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


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


def test_empty_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    make_study(url, "empty", trials=[])
    data = load_report_data(url, "empty")
    assert len(data.trials) == 0 and len(data.pareto) == 0
    assert len(data.hypervolume) == 0 and len(data.importances) == 0
    assert "0" in data.importances_note


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


def test_missing_sqlite_file_is_a_storage_error(tmp_path):
    missing = tmp_path / "nope.db"
    with pytest.raises(StorageError, match="nope.db: no such file"):
        load_report_data(f"sqlite:///{missing}", "x")
    assert not missing.exists()  # never created by a report


def test_unknown_study_lists_the_studies(hand_url):
    listed = r"study 'nope' not found .*\['hand', 'hand-bench', 'hand-confirm'\]"
    with pytest.raises(StorageError, match=listed):
        load_report_data(hand_url, "nope")


def test_storage_must_be_a_url_or_a_storage():
    with pytest.raises(StorageError, match="expected a storage URL"):
        load_report_data(None, "x")


def test_unknown_bench_study_is_a_storage_error(hand_url):
    with pytest.raises(StorageError, match="nope-bench"):
        load_report_data(hand_url, "hand", bench_study_name="nope-bench")


def test_study_exists_and_bench_name(hand_url):
    assert report_load.study_exists(hand_url, bench_study_name("hand"))
    assert not report_load.study_exists(hand_url, "nope")
    assert bench_study_name("hand") == "hand-bench"


def test_reading_is_once(hand_url, monkeypatch):
    calls = []
    real = report_load.read_trials

    def counted(storage, study_id):
        calls.append(study_id)
        return real(storage, study_id)

    monkeypatch.setattr(report_load, "read_trials", counted)
    load_report_data(hand_url, "hand")
    assert len(calls) == 1


@pytest.mark.slow
def test_report_on_postgresql():
    import pg  # tests/pg.py (tests/ is on pytest's pythonpath)

    if pg.pg_bin() is None:
        pytest.skip("PostgreSQL binaries not installed (.ci/run installs postgresql)")
    with pg.postgres_server() as server:
        url = server.url()
        make_study(url, "hand", trials=HAND_TRIALS)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # no fallback to the slow reader
            data = load_report_data(url, "hand", hv_reference=(0.5, 2.0))
        assert data.pareto["number"].tolist() == [1, 0]
        assert data.hypervolume["hypervolume"].tolist() == pytest.approx([0.40] + [0.55] * 6)
