"""Tests of fasnas.report.report_study (``fasnas report``): the teacher point and the out folder.

A stub config stands for a StudyConfig: the hand study (tests/report/hand_study.py) in a SQLite
file, protocols M, C, I, O and a teacher folder. The stored ``teacher`` attribute says
FLIP-IT ViT-B/16 at 3 % HTER; a reference computed from the teacher files wins over it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from hand_study import TEACHER, make_study

import fasnas.report as report
from fasnas.errors import CheckpointError, OutputError
from fasnas.report.settings import ReportSettings

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
COMPUTED = {
    "name": "FLIP teacher (flip-it, tiny)",
    "gmacs": 0.25,
    "hter": {p: {"test-eer": 0.08, "source-threshold": 0.1} for p in "MCIO"},
    "mean_hter": {"test-eer": 0.08, "source-threshold": 0.1},
}


@dataclass(frozen=True)
class StubTeacher:
    dir: Path

    def file_for(self, protocol: str) -> Path:
        return self.dir / f"{protocol}.pt"


@dataclass(frozen=True)
class StubConfig:
    name: str
    url: str
    teacher: StubTeacher
    protocols: tuple[str, ...] = ("M", "C", "I", "O")
    report: ReportSettings = ReportSettings()

    def storage_url(self, override: str | None = None) -> str:
        return override or self.url


@pytest.fixture
def config(tmp_path) -> StubConfig:
    url = f"sqlite:///{tmp_path / 'hand.db'}"
    make_study(url, attrs={"teacher": TEACHER})
    return StubConfig("hand", url, StubTeacher(tmp_path / "teachers"))


def write_teacher_files(config: StubConfig) -> None:
    config.teacher.dir.mkdir()
    for protocol in config.protocols:
        config.teacher.file_for(protocol).write_bytes(b"a teacher file")


def test_the_teacher_point_computed_from_the_files_wins(config, tmp_path, monkeypatch):
    write_teacher_files(config)
    calls = []

    def computed(given):
        calls.append(given)
        return COMPUTED

    monkeypatch.setattr("fasnas.teacher.reference.teacher_reference", computed)
    paths = report.report_study(config, out_dir=tmp_path / "out", png=False)
    assert calls == [config]
    summary = paths.summary.read_text()
    assert "Teacher FLIP teacher (flip-it, tiny): 8.00% mean HTER at 0.25 GMACs." in summary


def test_an_unreadable_teacher_file_falls_back_to_the_stored_point(config, tmp_path, monkeypatch):
    write_teacher_files(config)

    def unreadable(given):
        raise CheckpointError("teachers/M.pt: not a teacher file")

    monkeypatch.setattr("fasnas.teacher.reference.teacher_reference", unreadable)
    paths = report.report_study(config, out_dir=tmp_path / "out", png=False)
    assert "Teacher FLIP-IT ViT-B/16: 3.00% mean HTER at 17.58 GMACs." in paths.summary.read_text()


def test_without_every_teacher_file_the_stored_point_is_used(config, tmp_path, monkeypatch):
    config.teacher.dir.mkdir()
    config.teacher.file_for("M").write_bytes(b"only one protocol")

    def never(given):
        raise AssertionError("teacher_reference must not run without every teacher file")

    monkeypatch.setattr("fasnas.teacher.reference.teacher_reference", never)
    paths = report.report_study(config, out_dir=tmp_path / "out", png=False)
    assert "Teacher FLIP-IT ViT-B/16: 3.00% mean HTER" in paths.summary.read_text()


def test_an_out_folder_under_a_file_fails_before_anything_is_read(config, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a regular file")
    out = blocker / "report"

    class Unreadable(StubConfig):
        def storage_url(self, override=None):
            raise AssertionError("the storage must not be opened")

    unreadable = Unreadable(config.name, config.url, config.teacher)
    with pytest.raises(OutputError, match=re.escape(str(out))):
        report.report_study(unreadable, out_dir=out, png=False)
    assert blocker.read_text() == "a regular file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "hand.db"]


def test_the_cli_exits_2_naming_the_out_folder(config, tmp_path, monkeypatch, capsys):
    from fasnas import cli

    blocker = tmp_path / "blocker"
    blocker.write_text("a regular file")
    out = blocker / "report"
    monkeypatch.setattr("fasnas.config.load_config", lambda path: config)
    assert cli.main(["report", "studies/hand.yaml", "--out", str(out), "--no-png"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and str(out) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "hand.db"]
