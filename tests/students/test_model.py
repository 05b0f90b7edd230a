"""Tests for fasnas/students/model.py: the Student heads, reparameterisation, local weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fasnas._compat import ensure_torchvision

ensure_torchvision()
import timm  # noqa: E402

from fasnas.errors import CheckpointError, ConfigError  # noqa: E402
from fasnas.students import Student, StudentSpec, create_student  # noqa: E402

TINY_VIT = {"depth": 1, "embed_dim": 32, "num_heads": 2, "patch_size": 8}


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
