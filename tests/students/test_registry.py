"""Tests for fasnas/students/registry.py: listing, registering and the build checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from fasnas.students import (
    StudentBuildError,
    StudentSpec,
    TimmRecipe,
    check_spec,
    create_student,
    list_families,
    register_family,
    registry,
)

TINY_VIT = {"depth": 1, "embed_dim": 32, "num_heads": 2, "patch_size": 8}


def test_registry_lists_every_family_with_wildcards() -> None:
    assert list_families() == sorted(
        [
            "vit",
            "clip",
            "mobilenetv3",
            "mobilenetv4",
            "efficientnet",
            "resnet",
            "mobileone",
            "levit",
            "mobilevit",
            "fastvit",
            "repvit",
            "efficientvit",
            "edgenext",
            "tiny_vit",
        ]
    )
    assert list_families("mobile*") == ["mobilenetv3", "mobilenetv4", "mobileone", "mobilevit"]
    assert list_families("*vit") == [
        "efficientvit",
        "fastvit",
        "levit",
        "mobilevit",
        "repvit",
        "tiny_vit",
        "vit",
    ]
    assert list_families("nothing*") == []


def test_register_family_adds_a_buildable_family(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))

    @register_family("plain_resnet", defaults={"depth": 18}, choices={"depth": (18,)})
    def _plain(arch: Mapping[str, Any], img_size: int) -> TimmRecipe:
        return TimmRecipe(f"resnet{arch['depth']}")

    assert "plain_resnet" in list_families()
    student = create_student(StudentSpec("plain_resnet", {}, 32), embed_dim=8)
    assert student.spec.timm_name == "resnet18"
    assert student.num_features == 512  # timm's resnet18 pooled width
    with pytest.raises(ValueError, match="already registered"):
        register_family("plain_resnet", defaults={})(_plain)
    with pytest.raises(ValueError, match="dot-free"):
        register_family("a.b")


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (StudentSpec("vit", TINY_VIT, 36), ["'vit'", "@36", "img_size=36, patch_size=8"]),
        (StudentSpec("levit", {}, 72), ["'levit'", "@72", "img_size % 16 == 0"]),
        (StudentSpec("mobilenetv3", {}, 16), ["'mobilenetv3'", "@16", "img_size >= 32"]),
        (StudentSpec("vit", {**TINY_VIT, "num_heads": 3}, 32), ["@32", "embed_dim % num_heads"]),
        (StudentSpec("repvit", {"variant": "m9"}, 64), ["'repvit'", "arch.variant", "m0_9"]),
        (StudentSpec("resnet", {"width": 2}, 64), ["'resnet'", "unknown arch parameter"]),
        (StudentSpec("vit", {"depth": 2.5}, 64), ["arch.depth", "expected int"]),
        (StudentSpec("mobilenetv3", {"width": 0.333}, 64), ["arch.width", "0.01"]),
        (StudentSpec("alexnet", {}, 64), ["unknown student family 'alexnet'", "vit"]),
    ],
)
def test_unbuildable_specs_raise_student_build_error(spec: StudentSpec, words: list[str]) -> None:
    with pytest.raises(StudentBuildError) as info:
        check_spec(spec)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message
    with pytest.raises(StudentBuildError):
        create_student(spec, embed_dim=8)
