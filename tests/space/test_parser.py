"""Tests for fasnas/space/parser.py: every rule of the search-space format names the file and
the key path in its ConfigError; YAML Python tags never run."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from fasnas.errors import ConfigError
from fasnas.space import SearchSpace


def _write(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# ---------------------------------------------------------------- errors

BASE = """\
version: 1
params:
  family: {type: categorical, choices: [vit, mobilenetv3]}
  vit.depth: {type: int, low: 2, high: 6, step: 1}
  img_size: {type: categorical, choices: [32, 64]}
  lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
fixed:
  vit.patch_size: 8
"""


def _edit(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new)


ERROR_CASES = [
    ("bad type", _edit("type: float", "type: real"), r"params\.lr\.type: expected one of"),
    (
        "empty choices",
        _edit("choices: [32, 64]", "choices: []"),
        r"params\.img_size\.choices: expected a non-empty list",
    ),
    (
        "low > high",
        _edit("low: 2, high: 6", "low: 6, high: 2"),
        r"params\.vit\.depth: `low <= high` must hold, but got \(low=6, high=2\)",
    ),
    ("unknown top key", BASE + "colour: red\n", r"colour: unknown key"),
    (
        "unknown param",
        _edit("vit.depth:", "vit.depht:"),
        r"params\.vit\.depht: unknown parameter: family 'vit' has arch keys",
    ),
    ("unknown name", BASE.replace("lr:", "learning_rate:"), r"params\.learning_rate: unknown"),
    ("unknown param key", _edit("step: 1}", "stepp: 1}"), r"params\.vit\.depth\.stepp: unknown"),
    ("step 0", _edit("step: 1}", "step: 0}"), r"params\.vit\.depth\.step: `step >= 1`"),
    (
        "step and log",
        _edit("step: 1}", "step: 2, log: true}"),
        r"params\.vit\.depth: `step` and `log` cannot",
    ),
    (
        "step not dividing",
        _edit("step: 1}", "step: 3}"),
        r"params\.vit\.depth: `\(high - low\) % step == 0`",
    ),
    ("log low <= 0", _edit("low: 1.0e-4", "low: 0.0"), r"params\.lr: `low > 0` must hold"),
    ("float as string", _edit("low: 1.0e-4", "low: 1e-4"), r"params\.lr\.low: .*1\.0e-4"),
    ("missing version", BASE.replace("version: 1\n", ""), r"version: missing"),
    ("bad version", BASE.replace("version: 1", "version: 2"), r"version: expected one of \[1\]"),
    (
        "never active",
        _edit("step: 1}", "step: 1, when: {family: mobilenetv3}}"),
        r"params\.vit\.depth\.when\.family: can never be active",
    ),
    (
        "never active via fixed",
        BASE.replace("[vit, mobilenetv3]", "[mobilenetv3]"),
        r"params\.vit\.depth: can never be active",
    ),
    (
        "fixed for absent family",
        BASE.replace("[vit, mobilenetv3]", "[mobilenetv3]").replace(
            "  vit.depth: {type: int, low: 2, high: 6, step: 1}\n", ""
        ),
        r"fixed\.vit\.patch_size: can never be used",
    ),
    (
        "when on later param",
        _edit("step: 1}", "step: 1, when: {img_size: 32}}"),
        r"params\.vit\.depth\.when\.img_size: unknown parameter",
    ),
    (
        "when value not a choice",
        _edit("log: true}", "log: true, when: {img_size: 48}}"),
        r"params\.lr\.when\.img_size: 48 is not one of the choices \[32, 64\]",
    ),
    (
        "non-scalar choice",
        _edit("choices: [32, 64]", "choices: [32, [64]]"),
        r"params\.img_size\.choices\[1\]: Optuna choices must be",
    ),
    (
        "duplicate choice",
        _edit("choices: [32, 64]", "choices: [32, 32]"),
        r"params\.img_size\.choices\[1\]: duplicate choice 32",
    ),
    (
        "unknown family",
        _edit("[vit, mobilenetv3]", "[vit, alexnet]"),
        r"params\.family\.choices\[1\]: unknown family 'alexnet'",
    ),
    (
        "img_size missing for a family",
        _edit("  img_size: {type: categorical, choices: [32, 64]}\n", "") + "  vit.img_size: 32\n",
        r"img_size: not set for family 'mobilenetv3'",
    ),
    (
        "img_size twice",
        BASE + "  vit.img_size: 32\n",
        r"vit\.img_size: conflicts with img_size",
    ),
    (
        "img_size too small",
        _edit("choices: [32, 64]", "choices: [16, 64]"),
        r"params\.img_size\.choices\[0\]: `img_size >= 32` must hold",
    ),
    (
        "distill value out of range",
        BASE + "  warmup_frac: 1.0\n",
        r"fixed\.warmup_frac: `0 <= warmup_frac < 1` must hold, but got 1\.0",
    ),
    (
        "distill bound out of range",
        _edit("log: true}", "log: true}\n  aug_strength: {type: float, low: 0.0, high: 2.0}"),
        r"params\.aug_strength\.high: `0 <= aug_strength <= 1`",
    ),
    (
        "float for an int arch key",
        _edit("type: int, low: 2, high: 6, step: 1", "type: float, low: 2.0, high: 6.0"),
        r"params\.vit\.depth\.low: expected int",
    ),
    (
        "int range for a choice arch key",
        BASE + "  resnet.depth: 50\n",
        r"fixed\.resnet\.depth: expected one of \[18, 34\], got 50",
    ),
    ("both in params and fixed", BASE + "  lr: 0.1\n", r"params\.lr: also given in fixed"),
    (
        "family-scoped before family",
        "version: 1\nparams:\n  vit.depth: {type: int, low: 1, high: 2}\n"
        "  family: {type: categorical, choices: [vit]}\n  img_size: 32\n",
        r"params\.vit\.depth: must come after `family`",
    ),
    ("not a mapping", "- 1\n- 2\n", r"expected a mapping with `version` and `params`"),
    ("python tag", "!!python/object/apply:os.getcwd []\n", r"invalid YAML: .*python/object"),
]


@pytest.mark.parametrize(
    ("text", "match"), [case[1:] for case in ERROR_CASES], ids=[case[0] for case in ERROR_CASES]
)
def test_config_errors_name_file_and_key_path(tmp_path: Path, text: str, match: str) -> None:
    path = _write(tmp_path, text, "bad.yaml")
    with pytest.raises(ConfigError) as info:
        SearchSpace.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    assert re.search(match, message), message


def test_when_may_only_use_categoricals(tmp_path: Path) -> None:
    text = BASE.replace(
        "fixed:", "  batch_per_group: {type: int, low: 1, high: 4, when: {vit.depth: 2}}\nfixed:"
    )
    with pytest.raises(ConfigError, match=r"params\.batch_per_group\.when\.vit\.depth: condit"):
        SearchSpace.load(_write(tmp_path, text))


def test_yaml_python_tags_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path_tag = f'!!python/object/apply:pathlib.Path ["{marker}"]'
    text = f"!!python/object/apply:pathlib.Path.touch [{path_tag}]\n"
    with pytest.raises(ConfigError, match="invalid YAML"):
        SearchSpace.load(_write(tmp_path, text))
    assert not marker.exists()


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: search space file not found"):
        SearchSpace.load(tmp_path / "nope.yaml")
