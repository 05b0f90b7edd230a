"""Tests for fasnas/students/spec.py: StudentSpec hashing, validation and JSON round trip."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fasnas.errors import ConfigError
from fasnas.students import StudentSpec

TINY_VIT = {"depth": 1, "embed_dim": 32, "num_heads": 2, "patch_size": 8}


def test_spec_is_hashable_and_order_independent() -> None:
    a = StudentSpec("mobilenetv3", {"variant": "small", "width": 0.75}, 64)
    b = StudentSpec("mobilenetv3", {"width": 0.75, "variant": "small"}, 64)
    assert a == b and hash(a) == hash(b)
    assert a.arch == {"variant": "small", "width": 0.75}
    assert len({a, b, StudentSpec("mobilenetv3", {"variant": "small"}, 64)}) == 2


def test_spec_json_round_trip() -> None:
    spec = StudentSpec("vit", {**TINY_VIT, "mlp_ratio": 2.0}, 32, weights="/tmp/w.pth")
    again = StudentSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert again.to_dict() == spec.to_dict()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"family": "vit", "img_size": 32, "colour": 1}, r"trial\.colour: unknown key"),
        ({"family": "vit"}, r"trial\.img_size: missing"),
        ({"family": "vit", "img_size": "32"}, r"StudentSpec\.img_size: expected an int"),
        ({"family": "vit", "img_size": 32, "arch": {"depth": [1]}}, r"arch\.depth: expected"),
    ],
)
def test_spec_from_dict_errors(data: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        StudentSpec.from_dict(data, where="trial")


def test_init_is_recorded_and_shown() -> None:
    spec = StudentSpec("vit", TINY_VIT, 32, init="inherit")
    assert spec.to_dict()["init"] == "inherit"
    assert StudentSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert spec.label.endswith("@32+inherit")
    assert StudentSpec("vit", TINY_VIT, 32).label.endswith("@32")  # scratch: as before
    # a spec recorded before `init` existed reads back as scratch
    old = {"family": "vit", "arch": TINY_VIT, "img_size": 32, "weights": None}
    assert StudentSpec.from_dict(old).init == "scratch"
    with pytest.raises(ConfigError, match=r"StudentSpec\.init: expected one of \['scratch'"):
        StudentSpec("vit", TINY_VIT, 32, init="imagenet")
