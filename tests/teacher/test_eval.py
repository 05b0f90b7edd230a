"""Tests of `fasnas teacher eval` (fasnas.teacher.eval): an imported FLIP checkpoint and a teacher
trained here are scored on a tiny layout, and the metrics, GMACs and the source-validation
leakage flag land in their files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from fasnas.cli import main
from fasnas.config import load_config
from fasnas.data.frameset import study_frames
from fasnas.teacher.configs import TINY_CONFIG, create_clip
from fasnas.teacher.file import load_teacher, read_teacher_info, sha256_file
from fasnas.teacher.reference import source_val_seen, teacher_gmacs, teacher_reference
from fasnas.train import evaluate_model

CONFIG = """\
name: tiny
seed: 0
device: cpu  # the independent evaluation below runs on the CPU too
data: {{root: {root}, size: 32, val_fraction: 0.34}}
protocols: [M]
teacher:
  variant: flip-it
  model: tiny
  init: random
  dir: {teachers}
  train: {{iterations: 2, batch_per_group: 1}}
"""
SETS = {"source-val", "test-eer", "source-threshold"}


def write_config(tmp_path: Path, name: str = "study.yaml", extra: str = "") -> Path:
    path = tmp_path / name
    text = CONFIG.format(root=tmp_path / "data", teachers=tmp_path / "teachers")
    path.write_text(text + extra)
    return path


@pytest.fixture
def study(tmp_path, make_layout) -> Path:
    make_layout(tmp_path / "data", videos_per_class=4, size=32)
    return write_config(tmp_path)


def import_flip_it(tmp_path: Path, protocol: str = "M") -> Path:
    """A FLIP-IT checkpoint as FLIP's save_checkpoint writes it, imported through the CLI."""
    torch.manual_seed(0)
    clip = create_clip("tiny", TINY_CONFIG)
    ckpt = tmp_path / f"flip_it_{protocol}.pth.tar"
    state_dict = {f"model.{key}": value for key, value in clip.state_dict().items()}
    torch.save({"epoch": 7, "state_dict": state_dict, "threshold": 0.42}, ckpt)
    out = tmp_path / "teachers" / f"{protocol}.pt"
    argv = ["teacher", "import", str(ckpt), "--format", "flip-it", "--protocol", protocol]
    assert main([*argv, "--out", str(out), "--model", "tiny"]) == 0
    return out


def run_eval(config: Path, *more: str) -> int:
    return main(["teacher", "eval", "--config", str(config), "--quiet", *more])


def test_an_imported_flip_checkpoint_gets_metrics_gmacs_and_the_flag(study, capsys) -> None:
    path = import_flip_it(study.parent)
    before_info = read_teacher_info(path)
    before_teacher, _ = load_teacher(path)
    assert before_info.extra == {}
    capsys.readouterr()

    assert run_eval(study) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("teacher M: HTER ") and "test-EER threshold" in lines[0]
    assert "source-val EER" in lines[0] and "source threshold optimistic" in lines[0]
    assert lines[1].startswith(f"note: {path} changed (sha256 {before_info.file_sha256[:12]}")
    assert "`fasnas teacher cache` again" in lines[1] and "refuse the new one" in lines[1]

    teacher, info = load_teacher(path)
    extra = info.extra
    assert set(extra) == {"metrics", "gmacs", "source_val_seen"}
    assert set(extra["metrics"]) == SETS
    assert extra["source_val_seen"] is True
    assert extra["gmacs"] == pytest.approx(teacher_gmacs(teacher)) and extra["gmacs"] > 0
    # only `extra` changed: the weights and the import's record are as they were
    for key, value in before_teacher.state_dict().items():
        assert torch.equal(teacher.state_dict()[key], value)
    assert dataclasses.replace(info, extra={}, file_sha256="") == dataclasses.replace(
        before_info, file_sha256=""
    )
    assert info.threshold == pytest.approx(0.42)  # FLIP's own (test-EER) threshold, kept
    assert info.file_sha256 == sha256_file(path) != before_info.file_sha256
    # a second run re-evaluates and rewrites; the same numbers give the same bytes: no note
    assert run_eval(study) == 0
    again = capsys.readouterr().out.splitlines()
    assert again == lines[:1] and sha256_file(path) == info.file_sha256

    # the same numbers as an evaluation made here
    config = load_config(study)
    frames = study_frames(config, "M", progress=False)
    expected = evaluate_model(
        teacher,
        frames.source_val,
        frames.target_test,
        norm=teacher.preprocess,
        device=torch.device("cpu"),
    )
    assert extra["metrics"] == expected

    reference = teacher_reference(config)
    assert reference["hter"]["M"] == {
        "test-eer": expected["test-eer"]["hter"],
        "source-threshold": expected["source-threshold"]["hter"],
    }
    assert all(0 <= value <= 1 for value in reference["hter"]["M"].values())
    assert reference["mean_hter"]["test-eer"] == expected["test-eer"]["hter"]
    assert reference["source_val_seen"] == {"M": True}
    assert reference["source_val_eer"] == {"M": expected["source-val"]["eer"]}
    assert reference["gmacs"] == extra["gmacs"]
    # the report's teacher point: its HTER, and the flag in its name
    from fasnas.report.leaderboard import SEEN_NOTE, teacher_from

    point = teacher_from(reference, "test-eer")
    assert point.mean_hter["test-eer"] == expected["test-eer"]["hter"]
    assert point.gmacs == extra["gmacs"] and SEEN_NOTE in point.name


def test_the_config_can_say_the_source_val_videos_were_not_seen(study, capsys) -> None:
    path = import_flip_it(study.parent)
    held_out = write_config(study.parent, "held_out.yaml", "  source_val_seen: false\n")
    assert run_eval(held_out) == 0
    assert "(held out)" in capsys.readouterr().out
    assert read_teacher_info(path).extra["source_val_seen"] is False
    assert teacher_reference(load_config(held_out))["source_val_seen"] == {"M": False}
    # the default config detects the import again
    assert teacher_reference(load_config(study))["source_val_seen"] == {"M": True}


def test_a_teacher_trained_here_has_not_seen_the_source_val_videos(study, capsys) -> None:
    assert main(["teacher", "train", "--config", str(study), "--quiet"]) == 0
    path = load_config(study).teacher.file_for("M")
    trained = read_teacher_info(path)
    assert trained.extra["source_val_seen"] is False  # stored by `teacher train` itself
    assert set(trained.extra["metrics"]) == SETS
    capsys.readouterr()

    assert run_eval(study) == 0
    assert "(held out)" in capsys.readouterr().out
    info = read_teacher_info(path)
    assert info.extra["source_val_seen"] is False
    assert info.extra["iterations"] == 2  # what `teacher train` stored is kept
    assert set(info.extra["metrics"]) == SETS
    assert teacher_reference(load_config(study))["source_val_seen"] == {"M": False}


def test_how_the_flag_is_detected(study) -> None:
    import_flip_it(study.parent)
    imported = read_teacher_info(load_config(study).teacher.file_for("M"))
    assert source_val_seen(imported) is True  # it records where it came from
    assert source_val_seen(imported, False) is False  # the config decides when set
    trained_before_the_flag = dataclasses.replace(
        imported, source_path=None, extra={"iterations": 4000, "metrics": {}}
    )
    assert source_val_seen(trained_before_the_flag) is False
    assert source_val_seen(trained_before_the_flag, True) is True
    # no provenance: assumed seen (an optimistic figure is flagged, never hidden)
    assert source_val_seen(dataclasses.replace(imported, source_path=None)) is True


def test_a_bad_protocol_is_refused_before_anything_is_written(study, capsys) -> None:
    path = import_flip_it(study.parent)
    before = path.read_bytes()
    capsys.readouterr()
    assert run_eval(study, "--protocol", "M", "Q") == 2
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: --protocol: ") and "'Q'" in err[0]
    assert captured.out == ""
    assert path.read_bytes() == before


def test_a_missing_teacher_file_is_one_line_naming_it(study, capsys) -> None:
    path = import_flip_it(study.parent)
    before = path.read_bytes()
    capsys.readouterr()
    missing = load_config(study).teacher.file_for("C")
    assert run_eval(study, "--protocol", "M", "C") == 2  # M's file is there, C's is not
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {missing}: no teacher for protocol C")
    assert captured.out == ""
    assert path.read_bytes() == before  # checked before any file is rewritten
