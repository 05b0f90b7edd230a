"""Tests of study-config loading and validation (fasnas.config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fasnas.config import load_config
from fasnas.errors import ConfigError

VALID = """\
name: s1
data:
  root: ../data
  size: 48
protocols: [M, I]
teacher:
  variant: flip-v
  model: tiny
  init: random
  train:
    iterations: 7
    lr: 1.0e-3
"""


def write(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "studies"
    folder.mkdir(exist_ok=True)
    path = folder / "s.yaml"
    path.write_text(text)
    return path


def test_valid_config_is_typed_and_paths_are_relative_to_the_config(tmp_path) -> None:
    config = load_config(write(tmp_path, VALID))
    assert config.name == "s1"
    assert config.data.root == (tmp_path / "data").resolve()
    assert config.data.cache_dir == (tmp_path / "studies" / "cache").resolve()
    assert config.data.size == 48
    assert config.protocols == ("M", "I")
    assert config.teacher.variant == "flip-v"
    assert config.teacher.train.iterations == 7
    assert config.teacher.train.lr == pytest.approx(1e-3)
    assert config.teacher.train.weight_decay == pytest.approx(1e-6)  # FLIP's default kept
    assert config.teacher.file_for("M") == (tmp_path / "studies" / "teachers" / "M.pt").resolve()


def test_hash_ignores_formatting_but_not_content(tmp_path) -> None:
    a = load_config(write(tmp_path, VALID)).hash
    b = load_config(write(tmp_path, VALID.replace("size: 48", "size:   48  # px"))).hash
    c = load_config(write(tmp_path, VALID.replace("size: 48", "size: 64"))).hash
    assert a == b != c


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (("  size: 48", "  sise: 48"), "data.sise: unknown key"),
        (("  size: 48", "  size: big"), "data.size: expected an integer"),
        (("    lr: 1.0e-3", "    lr: fast"), "teacher.train.lr: expected a finite number"),
        (("    lr: 1.0e-3", "    lr: -1"), "teacher.train.lr: must be > 0"),
        (("  variant: flip-v", "  variant: flip-x"), "teacher.variant: expected one of"),
        (("protocols: [M, I]", "protocols: [M, X]"), "protocols:"),
        (("protocols: [M, I]", "protocols: []"), "protocols: expected a non-empty list"),
        (("name: s1", "nmae: s1"), "nmae: unknown key"),
        (("  root: ../data", "  rot: ../data"), "data.root: required"),
        (("    lr: 1.0e-3", "    lr: 1.0e-3\n    mcl: true"), "teacher.train.mcl: FLIP-MCL"),
        (("    lr: 1.0e-3", "    lr: 1.0e-3\n    schedule: step"), "teacher.train.schedule: expe"),
    ],
)
def test_bad_values_name_the_file_and_key_path(tmp_path, edit, needle) -> None:
    path = write(tmp_path, VALID.replace(*edit))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert str(path) in message
    assert needle in message
    assert "\n" not in message


def test_missing_file_and_bad_yaml(tmp_path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="invalid YAML at line"):
        load_config(write(tmp_path, "name: [unclosed\n"))


def test_yaml_is_read_safely(tmp_path) -> None:
    text = VALID + "seed: !!python/object/apply:os.system ['echo hacked']\n"
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(write(tmp_path, text))


def test_students_weights_dir_is_relative_to_the_config(tmp_path) -> None:
    config = load_config(write(tmp_path, VALID))
    assert config.weights_dir == (tmp_path / "studies" / "weights").resolve()
    config = load_config(write(tmp_path, VALID + "students:\n  weights_dir: ../w\n"))
    assert config.weights_dir == (tmp_path / "w").resolve()
    with pytest.raises(ConfigError, match=r"students\.weights: unknown key; valid keys are"):
        load_config(write(tmp_path, VALID + "students:\n  weights: ../w\n"))
