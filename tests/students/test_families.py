"""Tests for the families: every registered one builds and runs; the families.json table;
the code families (fasnas/students/vit.py, fasnas/students/mobilenetv3.py,
fasnas/students/clip_tower.py).

``test_every_family_builds_and_runs`` is parametrized over ``list_families()``, so a family
added to ``fasnas/students/families.json`` is covered without touching this file.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
import torch

from fasnas._compat import ensure_torchvision

ensure_torchvision()
import timm  # noqa: E402

from fasnas.students import (  # noqa: E402
    StudentBuildError,
    StudentSpec,
    check_spec,
    create_student,
    get_family,
    list_families,
    registry,
    table,
)

EMBED_DIM = 16
IMG_SIZE = 32
# the smallest arch of the code families; table-driven families build their default variant
SMALLEST_ARCH: dict[str, dict[str, Any]] = {
    "vit": {"depth": 1, "embed_dim": 32, "num_heads": 2, "patch_size": 8},
    "mobilenetv3": {"variant": "small", "width": 0.5},
    "clip": {"model": "ViT-S-16"},  # any open_clip tower (tests/students/test_clip_tower.py)
}


@pytest.mark.parametrize("family", list_families())
def test_every_family_builds_and_runs(family: str) -> None:
    torch.manual_seed(0)
    spec = StudentSpec(family, SMALLEST_ARCH.get(family, {}), IMG_SIZE)
    student = create_student(spec, embed_dim=EMBED_DIM).eval()
    assert student.is_reparameterizable == get_family(family).reparameterizable
    x = torch.randn(2, 3, IMG_SIZE, IMG_SIZE)
    with torch.no_grad():
        features = student.backbone(x)
        logits, embedding = student(x)
    assert features.shape == (2, student.num_features)
    assert logits.shape == (2, 2) and embedding.shape == (2, EMBED_DIM)
    assert torch.isfinite(logits).all() and torch.isfinite(embedding).all()


@pytest.mark.parametrize("family", list_families())
def test_every_family_declares_the_inits_it_honours(family: str) -> None:
    inits = get_family(family).inits
    assert inits[0] == "scratch" and set(inits) <= {"scratch", "pretrained", "inherit", "clip"}
    for init in {"scratch", "pretrained", "inherit", "clip"} - set(inits):
        spec = StudentSpec(family, SMALLEST_ARCH.get(family, {}), IMG_SIZE, init=init)
        with pytest.raises(StudentBuildError, match=f"init {init!r}: not something"):
            check_spec(spec)


def test_every_table_name_is_a_timm_model() -> None:
    assert set(table.TABLE_FAMILIES) | set(SMALLEST_ARCH) == set(list_families())
    known = set(timm.list_models())
    for family in table.TABLE_FAMILIES:
        choices = get_family(family).choices
        for values in itertools.product(*choices.values()):
            arch = dict(zip(choices, values, strict=True))
            name = StudentSpec(family, arch, 224).timm_name
            assert name in known, (family, arch, name)


NEW_FAMILY = {
    "families": {
        "little_resnet": {
            "doc": "A family added as data only.",
            "key": "depth",
            "timm": {"18": "resnet18", "34": "resnet34"},
            "defaults": {"depth": 18, "stem": "plain"},
            "choices": {"stem": ["plain"]},
            "img_size_multiple": 32,
            "img_size_kwarg": ["34"],
        }
    }
}


def test_a_table_family_is_data_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))
    assert table.register_tables(json.dumps(NEW_FAMILY)) == ["little_resnet"]
    family = get_family("little_resnet")
    assert family.defaults == {"depth": 18, "stem": "plain"}
    assert family.choices == {"stem": ("plain",), "depth": (18, 34)}
    assert not family.reparameterizable
    recipe = registry.resolve_recipe(StudentSpec("little_resnet", {}, 64))
    assert (recipe.name, dict(recipe.kwargs), recipe.generator) == ("resnet18", {}, None)
    recipe = registry.resolve_recipe(StudentSpec("little_resnet", {"depth": 34}, 64))
    assert (recipe.name, dict(recipe.kwargs)) == ("resnet34", {"img_size": 64})
    with pytest.raises(StudentBuildError, match=r"`img_size % 32 == 0` must hold.*img_size=48"):
        check_spec(StudentSpec("little_resnet", {}, 48))
    with pytest.raises(StudentBuildError, match=r"arch\.depth: expected one of \[18, 34\]"):
        check_spec(StudentSpec("little_resnet", {"depth": 50}, 64))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        ({"colour": "red"}, r"colour: unknown field; expected one of \['doc', 'key'"),
        ({"doc": None}, r"doc: missing"),
        ({"key": "width"}, r"defaults: needs a default for the key 'width'"),
        ({"timm": {"18.0": "resnet18"}}, r"timm: keys must read back as int values"),
        ({"img_size_kwarg": ["50"]}, r"img_size_kwarg: expected true or a list of depth values"),
    ],
    ids=["unknown field", "missing field", "key without default", "float keys", "bad kwarg"],
)
def test_malformed_table_entries_name_the_field(edit: dict[str, Any], match: str) -> None:
    entry = {**NEW_FAMILY["families"]["little_resnet"], **edit}
    entry = {key: value for key, value in entry.items() if value is not None}
    with pytest.raises(ValueError, match=rf"^families\.json: families\.little_resnet\.{match}"):
        table.load_tables(json.dumps({"families": {"little_resnet": entry}}))


@pytest.mark.parametrize(
    ("variant", "width", "name"),
    [
        ("small", 0.75, "mobilenetv3_small_075"),
        ("large", 1.0, "mobilenetv3_large_100"),
        ("large", 0.5, "mobilenetv3_large_050"),
    ],
)
def test_mobilenetv3_timm_names(variant: str, width: float, name: str) -> None:
    assert StudentSpec("mobilenetv3", {"variant": variant, "width": width}, 64).timm_name == name


def test_mobilenetv3_width_scales_channels_like_timm() -> None:
    half = create_student(StudentSpec("mobilenetv3", {"variant": "large", "width": 0.5}, 32), 8)
    full = create_student(StudentSpec("mobilenetv3", {"variant": "large", "width": 1.0}, 32), 8)
    # MobileNetV3-Large's last stage is 960 wide; the 1280-wide head conv is not scaled
    assert full.backbone.num_features == 960 and half.backbone.num_features == 480
    assert full.num_features == half.num_features == 1280
    # a registered width is timm's own model, parameter for parameter
    reference = timm.create_model("mobilenetv3_large_100", pretrained=False, num_classes=0)
    assert sum(p.numel() for p in full.backbone.parameters()) == sum(
        p.numel() for p in reference.parameters()
    )
