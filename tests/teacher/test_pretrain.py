"""Tests of `fasnas teacher pretrain` and `teacher.init: pretrain` on a tiny layout."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fasnas.cli import main
from fasnas.config import load_config
from fasnas.teacher.file import load_teacher, sha256_file

CONFIG = """\
name: tiny
seed: 0
data:
  root: {root}
  size: 32
  val_fraction: 0.34
  cache_dir: {root}/cache
protocols: [M]
teacher:
  variant: flip-it
  model: tiny
  init: {init}
  dir: {root}/teachers
  pretrain: {{iterations: 6, batch_per_group: 2}}
  train: {{iterations: 4, lr: 1.0e-5, batch_per_group: 2}}
"""


def _study(tmp_path: Path, make_layout, *, celeb: int = 3, init: str = "pretrain") -> Path:
    make_layout(tmp_path / "data", videos_per_class=4, size=32, celeb_videos=celeb)
    path = tmp_path / "study.yaml"
    path.write_text(CONFIG.format(root=tmp_path / "data", init=init))
    return path


def _files(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_pretrain_reads_celeb_only_and_train_starts_from_it(tmp_path, make_layout, capsys):
    study = _study(tmp_path, make_layout)
    config = load_config(study)
    assert main(["teacher", "pretrain", "--config", str(study), "--quiet"]) == 0
    assert "6 it on 6 CelebA-Spoof images" in capsys.readouterr().out
    # only CelebA-Spoof's frames were read: the one frame cache built is celeb's
    built = [p.name for p in (tmp_path / "data" / "cache").iterdir() if p.is_dir()]
    assert built and all(name.startswith("MCIO-celeb-train-") for name in built), built
    state = torch.load(config.teacher.pretrain_file, weights_only=True)
    from fasnas.teacher.train import initial_teacher

    teacher, sha = initial_teacher(config)
    assert sha == sha256_file(config.teacher.pretrain_file)
    for name, tensor in teacher.clip.state_dict().items():
        assert torch.equal(tensor, state[name]), name  # fine-tuning starts from the file
    from fasnas.teacher.configs import TINY_CONFIG
    from fasnas.teacher.flip import build_teacher

    fresh = build_teacher("flip-it", "tiny", TINY_CONFIG).clip.state_dict()
    assert any(not torch.equal(fresh[name], state[name]) for name in state)  # it trained
    assert main(["teacher", "train", "--config", str(study), "--quiet"]) == 0
    _, info = load_teacher(config.teacher.file_for("M"))
    assert info.source_sha256 == sha  # the teacher file names the weights it started from


def test_pretrain_without_celeb_lists_is_refused_and_writes_nothing(
    tmp_path, make_layout, capsys
) -> None:
    study = _study(tmp_path, make_layout, celeb=0)
    before = _files(tmp_path)
    assert main(["teacher", "pretrain", "--config", str(study), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "celeb_real_train.txt" in err and "missing" in err
    assert _files(tmp_path) == before


def test_pretrain_with_another_init_is_refused(tmp_path, make_layout, capsys) -> None:
    study = _study(tmp_path, make_layout, init="random")
    before = _files(tmp_path)
    assert main(["teacher", "pretrain", "--config", str(study), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "teacher.init" in err and "'random'" in err
    assert _files(tmp_path) == before


def test_train_from_a_missing_pretrain_file_names_the_command(
    tmp_path, make_layout, capsys
) -> None:
    study = _study(tmp_path, make_layout)
    before = _files(tmp_path)
    assert main(["teacher", "train", "--config", str(study), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "pretrain.pt does not exist" in err and "fasnas teacher pretrain" in err
    assert _files(tmp_path) == before


def test_pretrain_recipe_is_checked(tmp_path, make_layout, capsys) -> None:
    study = _study(tmp_path, make_layout)
    study.write_text(study.read_text().replace("iterations: 6", "iterations: 0"))
    assert main(["teacher", "pretrain", "--config", str(study), "--quiet"]) == 2
    assert "teacher.pretrain.iterations" in capsys.readouterr().err
