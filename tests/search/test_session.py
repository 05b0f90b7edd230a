"""Tests of fasnas.search.session and .commands: settings, the record, the `study` commands.

Bad inputs run on a study whose teacher files are placeholders (the record hashes them; no
command here reaches training), so each takes a second; the end-to-end tests train tiny
students on the shared tiny study of ``tests/pg.py``.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pg  # tests/pg.py (tests/ is on pytest's pythonpath)
import pytest
from optuna.trial import TrialState

from fasnas.cli import main
from fasnas.config import load_config
from fasnas.errors import ConfigError
from fasnas.search.fingerprint import fingerprint_difference, study_fingerprint
from fasnas.search.session import open_session, set_budget
from fasnas.search.settings import SearchSettings

HERE = Path(__file__).parent


def _settings(tmp_path, search: str) -> SearchSettings:
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\ndata: {{root: d}}\nsearch: {search}\n")
    return load_config(path).search


def test_search_settings_defaults_and_errors(tmp_path) -> None:
    settings = _settings(tmp_path, "{}")
    assert (settings.sampler, settings.n_trials, settings.workers) == ("nsga2", 16, 1)
    assert (settings.heartbeat_interval, settings.grace_period, settings.max_retries) == (
        60,
        600,
        3,
    )
    bad = {
        "{samplr: tpe}": (
            r"search.samplr: unknown key; valid keys are \['compile', 'device_memory_share'"
        ),
        "{sampler: cmaes}": r"search.sampler: expected one of \['nsga2'",
        "{workers: 0}": r"search.workers: expected an integer >= 1, got 0",
        "{n_trials: -2}": r"search.n_trials: expected a positive number or null, got -2",
        "{heartbeat_interval: 60, grace_period: 30}": r"`grace_period > heartbeat_interval`",
    }
    for text, message in bad.items():
        with pytest.raises(ConfigError, match=message):
            _settings(tmp_path, text)


def test_the_record_names_what_must_agree(quick, tmp_path) -> None:
    config = load_config(quick)
    record = study_fingerprint(config)
    assert record["protocols"] == ["M"]
    assert record["teacher_sha256"] == {"M": hashlib.sha256(b"teacher M").hexdigest()}
    # protocol M trains on the train lists of O, C, I and tests on msu's test list
    lists_read = ["casia/train", "msu/test", "oulu/train", "replay/train"]
    assert sorted(record["data_sha256"]) == lists_read
    lists = tmp_path / "data" / "MCIO" / "txt"
    old = _list_sha(lists, "msu", "test")
    assert record["data_sha256"]["msu/test"] == old
    assert record["space_sha256"] == study_fingerprint(config)["space_sha256"]
    # formatting of the space file does not matter, its content does
    space = quick.parent / "space.yaml"
    space.write_text("# a comment\n" + space.read_text())
    assert study_fingerprint(config) == record
    with (lists / "msu_real_test.txt").open("a") as handle:
        handle.write("msu/test/real/extra_frame0.png\n")
    new = _list_sha(lists, "msu", "test")
    assert fingerprint_difference(record, study_fingerprint(config)) == (
        f"data_sha256.msu/test: the study has {old[:12]}, this config has {new[:12]}"
    )


def _list_sha(lists: Path, domain: str, split: str) -> str:
    """The documented list hash: sha256 of "real:<len>\\n<bytes>fake:<len>\\n<bytes>"."""
    digest = hashlib.sha256()
    for list_class in ("real", "fake"):
        data = (lists / f"{domain}_{list_class}_{split}.txt").read_bytes()
        digest.update(f"{list_class}:{len(data)}\n".encode() + data)
    return digest.hexdigest()


def test_fingerprint_difference_names_the_first_field() -> None:
    stored = {"protocols": ["M"], "teacher_sha256": {"M": "a" * 64}, "seed": 0}
    assert fingerprint_difference(stored, stored) is None
    assert fingerprint_difference(stored, {**stored, "seed": 1}) == (
        "seed: the study has 0, this config has 1"
    )
    mine = {**stored, "teacher_sha256": {"M": "b" * 64}}
    assert fingerprint_difference(stored, mine) == (
        "teacher_sha256.M: the study has aaaaaaaaaaaa, this config has bbbbbbbbbbbb"
    )
    assert fingerprint_difference(stored, {**stored, "extra": 1}) == (
        "extra: the study has (not recorded), this config has 1"
    )


def _create(path: Path):
    session = open_session(load_config(path), create=True)
    set_budget(session, None, None)
    return session


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_worker_and_resume_need_an_existing_study(quick, capsys, monkeypatch) -> None:
    # `study worker` waits for a study that a `study start` may be creating; not here
    monkeypatch.setattr("fasnas.search.commands.STUDY_WAIT_S", 0.0)
    journal = quick.parent / "tiny.journal"
    for command in ("worker", "resume", "status"):
        assert main(["study", command, str(quick)]) == 2
        assert "no such file; create it with `fasnas study start`" in _error(capsys)
    assert not journal.exists()
    assert not (quick.parent / "tiny-artifacts").exists()
    _create(quick)
    before = journal.read_bytes()
    other = quick.parent / "other.yaml"
    other.write_text(quick.read_text().replace("name: tiny", "name: other"))
    other_journal = f"journal:{journal}"
    for command in ("worker", "resume"):
        assert main(["study", command, str(other), "--storage", other_journal]) == 2
        assert "study 'other' does not exist (studies there: ['tiny'])" in _error(capsys)
    assert journal.read_bytes() == before


def test_a_disagreeing_config_is_refused_and_the_study_unchanged(quick, capsys) -> None:
    session = _create(quick)
    journal = quick.parent / "tiny.journal"
    before = journal.read_bytes()
    space = quick.parent / "space.yaml"
    space.write_text(space.read_text().replace("high: 1.0e-2", "high: 2.0e-2"))
    for command in ("worker", "resume", "start"):
        assert main(["study", command, str(quick)]) == 2
        line = _error(capsys)
        assert "disagrees with this config: space_sha256: the study has" in line
        assert str(quick.resolve()) in line
    assert journal.read_bytes() == before
    assert session.study.user_attrs["config"]["space"] == "tiny"


def test_an_unreachable_database_is_one_line(quick, capsys) -> None:
    url = f"postgresql://fasnas:pw@127.0.0.1:{pg.free_port()}/studies"
    for command in ("start", "worker", "resume", "status"):
        assert main(["study", command, str(quick), "--storage", url]) == 2
        line = _error(capsys)
        assert "cannot connect" in line and "Connection refused" in line and ":pw@" not in line


def test_a_wrong_password_is_one_line(quick, capsys) -> None:
    with pg.postgres_server() as server:
        url = server.url(password="not-it")
        for command in ("start", "worker"):
            assert main(["study", command, str(quick), "--storage", url]) == 2
            assert 'password authentication failed for user "postgres"' in _error(capsys)
        # nothing was created on the server
        assert main(["study", "status", str(quick), "--storage", server.url()]) == 2
        assert "holds no Optuna study" in _error(capsys)


@pytest.fixture
def full_artifacts(quick):
    """The study's default artifact folder on a real, full 64 KiB tmpfs."""
    folder = quick.parent / "tiny-artifacts"
    folder.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_artifact_disk_stops_before_the_study_changes(quick, full_artifacts, capsys):
    assert main(["study", "start", str(quick)]) == 2
    line = _error(capsys)
    assert f"artifact store {full_artifacts}" in line and "No space left on device" in line
    assert not (quick.parent / "tiny.journal").exists()  # no study was created


def test_a_full_artifact_disk_refuses_a_worker(quick, capsys) -> None:
    _create(quick)
    journal = quick.parent / "tiny.journal"
    before = journal.read_bytes()
    folder = quick.parent / "tiny-artifacts"
    folder.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)])
    if result.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        assert main(["study", "worker", str(quick)]) == 2
        assert "No space left on device" in _error(capsys)
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
    assert journal.read_bytes() == before


def test_bad_budget_flags(quick, capsys) -> None:
    assert main(["study", "start", str(quick), "--n-trials", "0"]) == 2
    assert "--n-trials: expected a positive number, got 0" in _error(capsys)


@pytest.mark.slow
def test_start_runs_workers_then_continues_the_study(tmp_path, capsys) -> None:
    from fasnas.search.artifacts import AtomicFileSystemArtifactStore, read_result, read_weights

    path = pg.tiny_study(tmp_path, iterations=10, n_trials=2)
    assert main(["study", "start", str(path), "--workers", "2", "--n-trials", "3"]) == 0
    assert main(["study", "status", str(path)]) == 0
    status = capsys.readouterr().out
    assert "trials: 3 of 3 fresh trials used | 3 complete" in status
    assert "Pareto front so far (" in status and "ETA: about 0s; done" in status

    assert main(["study", "start", str(path), "--n-trials", "4"]) == 0  # continues
    session = open_session(load_config(path))
    trials = session.study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert {t.user_attrs["worker"]["index"] for t in trials[:3]} == {0, 1}
    assert trials[3].user_attrs["worker"]["index"] == 0
    assert len({t.params["lr"] for t in trials}) == 4
    attrs = session.study.user_attrs
    assert attrs["budget"]["n_trials"] == 4 and attrs["config"]["protocols"] == ["M"]
    assert session.study.metric_names == ["mean source-val EER (select_on: source-val)", "GMACs"]
    store = AtomicFileSystemArtifactStore(tmp_path / "tiny-artifacts")
    for trial in trials:
        ids = trial.user_attrs["artifact.M"]
        payload = read_result(store, ids["result"])
        assert payload["result"] == trial.user_attrs["metrics.M"]
        assert payload["seed"] == trial.user_attrs["seed"]
        weights = read_weights(store, ids["weights"])
        assert any(key.endswith("weight") for key in weights)


@pytest.mark.slow
def test_run_is_start_with_one_worker(tmp_path) -> None:
    from fasnas.search.commands import run_study

    path = pg.tiny_study(tmp_path, iterations=5, n_trials=1)
    lines: list[str] = []
    study = run_study(load_config(path), n_trials=2, echo=lines.append)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert sum(" GMACs select " in line for line in lines) == 2
    assert sum("/2 " in line and "(test-EER)" in line for line in lines) == 2
    assert lines[-1].startswith("2 trials in the study")


@pytest.mark.slow
def test_quiet_run_prints_no_trial_lines_and_keep_prunes_after_each_trial(tmp_path) -> None:
    from fasnas.search.artifacts import AtomicFileSystemArtifactStore
    from fasnas.search.retention import weights_to_keep

    path = pg.tiny_study(tmp_path, iterations=5, n_trials=1, extra="artifacts: {keep: top-1}\n")
    lines: list[str] = []
    config = load_config(path)
    study = run_study_quiet(config, lines)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert not [line for line in lines if " GMACs select " in line or "joined study" in line]
    assert lines[-1].startswith("3 trials in the study")
    store = AtomicFileSystemArtifactStore(config.artifact_dir())
    left = [
        t.number
        for t in study.trials
        if store._get_filepath(t.user_attrs["artifact.M"]["weights"]).is_file()
    ]
    assert left == sorted(weights_to_keep(study, config.artifacts)) and len(left) == 1
    for trial in study.trials:  # results always kept
        assert store._get_filepath(trial.user_attrs["artifact.M"]["result"]).is_file()


def run_study_quiet(config, lines):
    from fasnas.search.commands import run_study

    return run_study(config, n_trials=3, echo=lines.append, quiet=True)


def test_storage_override_wins(quick) -> None:
    config = load_config(quick)
    assert config.storage_url() == f"journal:{quick.parent.resolve()}/tiny.journal"
    assert config.storage_url("sqlite:///x.db") == f"sqlite:///{quick.parent.resolve()}/x.db"
    quick.write_text(quick.read_text() + "storage: journal:j/s.journal\n")
    moved = load_config(quick)
    assert moved.storage_url() == f"journal:{quick.parent.resolve()}/j/s.journal"
    with pytest.raises(ConfigError, match=r"^--storage: expected"):
        config.storage_url("ftp://x")


def test_the_mcio_template_is_a_valid_config() -> None:
    from fasnas.search.early_stop import build_early_stopper
    from fasnas.space import SearchSpace

    config = load_config(HERE.parent.parent / "studies" / "mcio_template.yaml")
    settings = config.search
    assert (settings.sampler, settings.n_trials, settings.grace_period) == ("nsga2", 400, 900)
    assert config.storage_url() == "postgresql://fasnas@db.example.org:5432/fasnas"
    assert config.artifact_dir() == Path("/shared/fasnas/artifacts/mcio-mixed")
    assert SearchSpace.load(config.space).name == "mixed"
    assert config.objective.max_gmacs == 2.0
    stopper = build_early_stopper(config.early_stopping, None, config.protocols, "test-eer")
    assert stopper is not None
    assert config.protocols == ("M", "C", "I", "O") and config.data.size == 224
    assert config.data.celeb  # as FLIP trains every MCIO protocol
    assert config.weights_dir == Path("/shared/fasnas/weights")
    space = SearchSpace.load(config.space)
    inits = {p.name: p.choices for p in space.params if p.name.endswith("init")}
    assert inits["vit.init"] == ("scratch", "inherit") and inits["clip.init"] == (
        "scratch",
        "clip",
    )
    assert inits["init"] == ("scratch", "pretrained")
    # the baselines train like the search: the space's fixed iterations
    assert config.bench.init is None and config.bench.distill.iterations == 2000


def test_budgets_are_global_and_timeouts_are_deadlines(tmp_path) -> None:
    from fasnas.search.budget import budget_for

    settings = _settings(tmp_path, "{n_trials: 10, timeout: 50}")
    # the config's timeout counts from the study's creation; --timeout from the moment it is given
    from_config = budget_for(settings, 100.0, None, None, now=500.0)
    assert from_config == {"n_trials": 10, "deadline": 150.0}
    assert budget_for(settings, 100.0, 12, 30, now=500.0) == {"n_trials": 12, "deadline": 530.0}
    unlimited = _settings(tmp_path, "{n_trials: null}")
    assert budget_for(unlimited, 100.0, None, None, now=500.0) == {
        "n_trials": None,
        "deadline": None,
    }
