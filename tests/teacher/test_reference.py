"""Tests of fasnas.teacher.reference: the teacher's reference point (name, GMACs, HTERs) read
from the protocols' teacher files, saved or imported here."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fasnas.config import load_config
from fasnas.errors import CheckpointError
from fasnas.teacher.checkpoints import import_checkpoint
from fasnas.teacher.configs import TINY_CONFIG, create_clip
from fasnas.teacher.file import load_teacher, save_teacher
from fasnas.teacher.flip import build_teacher
from fasnas.teacher.reference import teacher_gmacs, teacher_name, teacher_reference

CONFIG = """\
name: tiny
seed: 0
data: {{root: {root}, size: 32}}
protocols: [M, C]
teacher: {{variant: flip-it, model: tiny, init: random, dir: {teachers}}}
"""
SOURCES = {"M": ("oulu", "casia", "replay"), "C": ("oulu", "msu", "replay")}


@pytest.fixture
def config(tmp_path: Path):
    path = tmp_path / "study.yaml"
    path.write_text(CONFIG.format(root=tmp_path / "data", teachers=tmp_path / "teachers"))
    return load_config(path)


def metrics(test_eer: float, source: float) -> dict:
    """Metrics as `fasnas teacher train` stores them (only the HTERs matter here)."""
    return {
        "test-eer": {"hter": test_eer, "auc": 0.9, "threshold": 0.5},
        "source-threshold": {"hter": source, "auc": 0.9, "threshold": 0.4},
    }


def save(config, protocol: str, extra: dict | None) -> None:
    torch.manual_seed(0)
    save_teacher(
        build_teacher("flip-it", "tiny", TINY_CONFIG),
        config.teacher.file_for(protocol),
        protocol=protocol,
        sources=SOURCES[protocol],
        source_sha256="random",
        extra=extra,
    )


def test_saved_metrics_and_gmacs_give_the_reference(config) -> None:
    save(config, "M", {"metrics": metrics(0.10, 0.20), "iterations": 3, "gmacs": 1.5})
    save(config, "C", {"metrics": metrics(0.30, 0.25), "iterations": 3, "gmacs": 1.5})
    reference = teacher_reference(config)
    assert reference == {
        "name": "FLIP teacher (flip-it, tiny)",
        "gmacs": 1.5,  # the stored value, not a count
        "hter": {
            "M": {"test-eer": 0.10, "source-threshold": 0.20},
            "C": {"test-eer": 0.30, "source-threshold": 0.25},
        },
        "mean_hter": {
            "test-eer": pytest.approx((0.10 + 0.30) / 2),
            "source-threshold": pytest.approx((0.20 + 0.25) / 2),
        },
        "source_val_eer": {"M": None, "C": None},  # these metrics hold no source-val set
        "source_val_seen": {"M": False, "C": False},  # trained here: iterations, no source_path
    }


def test_an_imported_teacher_has_unknown_hters_and_counted_gmacs(config, tmp_path) -> None:
    torch.manual_seed(0)
    ckpt = tmp_path / "clip.pt"
    torch.save(create_clip("tiny", TINY_CONFIG).state_dict(), ckpt)
    for protocol in ("M", "C"):
        import_checkpoint(
            ckpt,
            "open_clip",
            protocol,
            config.teacher.file_for(protocol),
            model_name="tiny",
            model_cfg=TINY_CONFIG,
        )
    teacher, info = load_teacher(config.teacher.file_for("M"))
    assert info.extra == {}
    reference = teacher_reference(config)
    assert reference["name"] == "FLIP teacher (flip-it, tiny)"
    assert reference["hter"] == {"M": {}, "C": {}}
    assert reference["mean_hter"] == {"test-eer": None, "source-threshold": None}
    assert reference["gmacs"] == teacher_gmacs(teacher) > 0
    assert reference["source_val_seen"] == {"M": True, "C": True}  # imported
    assert reference["source_val_eer"] == {"M": None, "C": None}  # not evaluated yet


def test_a_mean_is_unknown_when_one_protocol_lacks_its_hter(config) -> None:
    partial = {"test-eer": {"hter": 0.4}, "source-threshold": {"hter": float("nan")}}
    save(config, "M", {"metrics": metrics(0.10, 0.20), "gmacs": 2.0})
    save(config, "C", {"metrics": partial})
    reference = teacher_reference(config)
    assert reference["hter"] == {
        "M": {"test-eer": 0.10, "source-threshold": 0.20},
        "C": {"test-eer": 0.4},
    }
    assert reference["mean_hter"] == {"test-eer": pytest.approx(0.25), "source-threshold": None}
    assert reference["gmacs"] == 2.0  # the first protocol's file


def test_stored_gmacs_equal_the_count(config) -> None:
    teacher = build_teacher("flip-it", "tiny", TINY_CONFIG)
    save(config, "M", {"metrics": metrics(0.1, 0.2)})  # no gmacs: counted
    save(config, "C", {"metrics": metrics(0.1, 0.2)})
    assert teacher_reference(config)["gmacs"] == pytest.approx(teacher_gmacs(teacher))


def test_a_missing_teacher_file_is_an_error(config) -> None:
    save(config, "M", {"metrics": metrics(0.1, 0.2)})
    with pytest.raises(CheckpointError, match="no teacher for protocol C"):
        teacher_reference(config)


def test_teacher_names() -> None:
    assert teacher_name("flip-it", "ViT-B-16-quickgelu") == "FLIP teacher (flip-it, CLIP ViT-B/16)"
    assert teacher_name("flip-v", "tiny-rn") == "FLIP teacher (flip-v, tiny-rn)"


def test_stored_gmacs_mean_no_teacher_is_built(config, monkeypatch) -> None:
    """A report of a study on CLIP ViT-B/16 teachers reads metadata only (mmap), builds none."""
    import fasnas.teacher.file as teacher_file

    save(config, "M", {"metrics": metrics(0.10, 0.20), "gmacs": 1.5})
    save(config, "C", {"metrics": metrics(0.30, 0.25), "gmacs": 1.5})

    def refuse(path):
        raise AssertionError(f"built the teacher of {path}")

    monkeypatch.setattr(teacher_file, "load_teacher", refuse)
    monkeypatch.setattr(teacher_file, "sha256_file", refuse)  # nor is a file hashed
    assert teacher_reference(config)["gmacs"] == 1.5


def test_the_info_read_without_the_model_is_the_loaded_one(config) -> None:
    import dataclasses

    from fasnas.teacher.file import read_teacher_info

    save(config, "M", {"metrics": metrics(0.10, 0.20)})
    path = config.teacher.file_for("M")
    assert read_teacher_info(path) == load_teacher(path)[1]
    unhashed = read_teacher_info(path, sha256=False)
    assert unhashed.file_sha256 is None
    assert unhashed == dataclasses.replace(load_teacher(path)[1], file_sha256=None)
