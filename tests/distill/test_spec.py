"""Tests for fasnas/distill/spec.py: DistillSpec defaults, validation and JSON round trip."""

from __future__ import annotations

import dataclasses
import json

import pytest

from fasnas.distill.spec import DistillSpec, distill_field_type, distill_value_problem
from fasnas.errors import ConfigError


def test_defaults_match_the_documented_values() -> None:
    spec = DistillSpec()
    assert spec.to_dict() == {
        "w_ce": 1.0,
        "w_kd": 1.0,
        "temperature": 4.0,
        "w_feat": 0.0,
        "feat_loss": "cosine",
        "w_text": 0.0,
        "text_logit_scale": 100.0,
        "lr": 1e-3,
        "weight_decay": 0.05,
        "iterations": 300,
        "batch_per_group": 8,
        "warmup_frac": 0.05,
        "aug_strength": 0.5,
    }


def test_json_round_trip_and_hashable() -> None:
    spec = DistillSpec(w_kd=2.0, temperature=3.0, feat_loss="mse", iterations=150)
    again = DistillSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert hash(again) == hash(spec)
    assert len({spec, again, DistillSpec()}) == 2


def test_int_given_to_float_field_becomes_float() -> None:
    spec = DistillSpec(w_kd=2, lr=1)
    assert type(spec.w_kd) is float and type(spec.lr) is float
    assert json.dumps(spec.to_dict()["w_kd"]) == "2.0"


def test_from_dict_rejects_unknown_key_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"trial 3\.w_kdd: unknown DistillSpec field"):
        DistillSpec.from_dict({"w_kdd": 1.0}, where="trial 3")


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("temperature", 0.0, "temperature > 0"),
        ("lr", -1e-3, "lr > 0"),
        ("w_kd", -0.5, "w_kd >= 0"),
        ("warmup_frac", 1.0, "0 <= warmup_frac < 1"),
        ("aug_strength", 1.5, "0 <= aug_strength <= 1"),
        ("iterations", 0, "iterations >= 1"),
        ("batch_per_group", 0, "batch_per_group >= 1"),
    ],
)
def test_out_of_range_values_state_the_rule(field: str, value: float, rule: str) -> None:
    with pytest.raises(ConfigError, match=rf"DistillSpec\.{field}: `{rule}` must hold"):
        DistillSpec(**{field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [("iterations", 150.0), ("iterations", True), ("lr", "1e-3"), ("feat_loss", "l1")],
)
def test_wrong_types_are_config_errors(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"DistillSpec\.{field}: expected"):
        DistillSpec(**{field: value})


def test_field_types_cover_every_field() -> None:
    for field in dataclasses.fields(DistillSpec):
        assert distill_field_type(field.name) is not None
        assert distill_value_problem(field.name, field.default) is None
    assert distill_field_type("nope") is None
