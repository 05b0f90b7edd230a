"""Tests for fasnas/students.py: the family registry, StudentSpec, Student and weights.

Every family's build + forward is covered by the parametrized test over all shipped search
spaces in tests/test_space.py; here are the registry rules, the size checks, the heads,
reparameterisation and local weights.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch

from fasnas._compat import ensure_torchvision

ensure_torchvision()
import timm  # noqa: E402

from fasnas import students  # noqa: E402
from fasnas.errors import CheckpointError, ConfigError  # noqa: E402
from fasnas.students import (  # noqa: E402
    Student,
    StudentBuildError,
    StudentSpec,
    TimmRecipe,
    check_spec,
    create_student,
    list_families,
    register_family,
)

TINY_VIT = {"depth": 1, "embed_dim": 32, "num_heads": 2, "patch_size": 8}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Small models run fastest on one thread on a shared CPU; restore the setting after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------- registry


def test_registry_lists_every_family_with_wildcards() -> None:
    assert list_families() == sorted(
        [
            "vit",
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
    monkeypatch.setattr(students, "_FAMILIES", dict(students._FAMILIES))

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


# ---------------------------------------------------------------- StudentSpec


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


# ---------------------------------------------------------------- Student


def test_student_heads_and_forward() -> None:
    torch.manual_seed(0)
    student = create_student(
        StudentSpec("mobilenetv3", {"variant": "small", "width": 0.5}, 32), 64
    )
    assert isinstance(student, Student)
    x = torch.randn(3, 3, 32, 32)
    features = student.backbone(x)
    # MobileNetV3's pooled output is its 1024-wide head conv, not the 288-wide last block
    assert features.shape == (3, student.num_features) and student.num_features == 1024
    assert student.head.out_features == 2 and student.projection.out_features == 64
    logits, embedding = student(x)
    assert logits.shape == (3, 2) and embedding.shape == (3, 64)
    torch.testing.assert_close(logits, student.head(features))
    torch.testing.assert_close(embedding, student.projection(features))
    with pytest.raises(ValueError, match="embed_dim >= 1"):
        create_student(student.spec, embed_dim=0)


def _count(module: torch.nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in module.modules())


@pytest.mark.parametrize(
    ("family", "variant"), [("fastvit", "t8"), ("repvit", "m0_9"), ("mobileone", "s0")]
)
def test_reparameterize_keeps_outputs(family: str, variant: str) -> None:
    torch.manual_seed(0)
    student = create_student(StudentSpec(family, {"variant": variant}, 64), 16).eval()
    assert student.is_reparameterizable
    x = torch.randn(2, 3, 64, 64)
    fused = student.reparameterize()
    assert fused is not student and fused.is_reparameterized and not student.is_reparameterized
    assert _count(fused, torch.nn.BatchNorm2d) < _count(student, torch.nn.BatchNorm2d)
    with torch.no_grad():
        expected, got = student(x), fused(x)
    for a, b in zip(expected, got, strict=True):
        # MobileOne's random-init activations reach ~1e9, so compare relative to the scale
        scale = max(1.0, a.abs().max().item())
        assert (a - b).abs().max().item() <= 1e-4 * scale
    assert fused.reparameterize() is fused  # idempotent
    assert student.reparameterize(inplace=True) is student and student.is_reparameterized


def test_reparameterize_is_a_no_op_for_other_families() -> None:
    student = create_student(StudentSpec("vit", TINY_VIT, 32), 8)
    assert not student.is_reparameterizable
    assert student.reparameterize() is student


# ---------------------------------------------------------------- local weights


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_weights_file_loads_into_the_backbone(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = create_student(StudentSpec("vit", TINY_VIT, 32), 8)
    path = tmp_path / "backbone.pth"
    torch.save(source.backbone.state_dict(), path)
    torch.manual_seed(1)
    loaded = create_student(StudentSpec("vit", TINY_VIT, 32, weights=str(path)), 8)
    assert _same_weights(loaded.backbone, source.backbone)


def test_weights_with_a_classifier_and_another_size(tmp_path: Path) -> None:
    torch.manual_seed(0)
    kwargs = {**TINY_VIT, "img_size": 32}
    imagenet = timm.create_model("vit_tiny_patch16_224", pretrained=False, **kwargs)
    path = tmp_path / "checkpoint.pth"
    torch.save({"state_dict": imagenet.state_dict(), "epoch": 3}, path)
    same = create_student(StudentSpec("vit", TINY_VIT, 32, weights=str(path)), 8)
    torch.testing.assert_close(
        same.backbone.blocks[0].mlp.fc1.weight, imagenet.blocks[0].mlp.fc1.weight
    )
    bigger = create_student(StudentSpec("vit", TINY_VIT, 64, weights=str(path)), 8)
    assert bigger.backbone.pos_embed.shape == (1, 1 + 8 * 8, 32)  # resized from 1 + 4 * 4
    torch.testing.assert_close(bigger.backbone.cls_token, imagenet.cls_token)


def test_missing_weights_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pth"
    with pytest.raises(ConfigError, match=r"nope\.pth: student weights file not found"):
        create_student(StudentSpec("vit", TINY_VIT, 32, weights=str(missing)), 8)


def test_weights_of_another_architecture_are_a_checkpoint_error(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pth"
    torch.save(timm.create_model("resnet18", num_classes=0).state_dict(), path)
    with pytest.raises(CheckpointError, match=r"resnet\.pth: does not fit VisionTransformer"):
        create_student(StudentSpec("vit", TINY_VIT, 32, weights=str(path)), 8)
    partial = tmp_path / "partial.pth"
    state = create_student(StudentSpec("vit", TINY_VIT, 32), 8).backbone.state_dict()
    torch.save({k: v for k, v in state.items() if not k.startswith("blocks.")}, partial)
    with pytest.raises(CheckpointError, match=r"partial\.pth: .* missing keys"):
        create_student(StudentSpec("vit", TINY_VIT, 32, weights=str(partial)), 8)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"garbage\.pth: cannot read student weights"):
        create_student(StudentSpec("vit", TINY_VIT, 32, weights=str(garbage)), 8)
