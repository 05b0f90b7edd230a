"""Tests for fasnas/students/inherit.py: TinyCLIP-style inheritance from a FLIP teacher's ViT."""

from __future__ import annotations

import copy

import pytest
import torch

from fasnas._compat import ensure_torchvision

ensure_torchvision()
from timm.layers import resample_abs_pos_embed, resample_patch_embed  # noqa: E402

from fasnas.students import StudentBuildError, StudentSpec, create_student  # noqa: E402
from fasnas.students.inherit import layer_indices  # noqa: E402
from fasnas.teacher.configs import TINY_CONFIG, TINY_RN_CONFIG  # noqa: E402
from fasnas.teacher.flip import build_teacher  # noqa: E402

# the tiny test teacher's own image tower: 2 layers, 64 wide, 2 heads of 32, patch 8, 32 px
TEACHER_SHAPE = {"depth": 2, "embed_dim": 64, "num_heads": 2, "patch_size": 8}
WIDE = copy.deepcopy(TINY_CONFIG)  # 4 layers, 64 wide, 4 heads of 16, MLP 256, patch 8
WIDE["embed_dim"] = 48
WIDE["vision_cfg"].update(layers=4, head_width=16)


def _teacher(variant: str = "flip-it", cfg: dict = TINY_CONFIG, seed: int = 0):
    torch.manual_seed(seed)
    return build_teacher(variant, "tiny", cfg).eval()


def _inherit(teacher, arch: dict, img_size: int = 32):
    spec = StudentSpec("vit", {**arch, "act": "quick_gelu"}, img_size, init="inherit")
    torch.manual_seed(1)  # whatever the random init, inheritance overwrites what it takes
    return create_student(spec, teacher.embed_dim, teacher_tower=teacher.image_tower()).eval()


def test_the_teachers_own_shape_reproduces_its_embedding() -> None:
    teacher = _teacher()
    student = _inherit(teacher, TEACHER_SHAPE)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        expected = teacher.clip.encode_image(x)  # before L2 normalisation
        got = student(x)[1]
    assert (got - expected).abs().max().item() <= 1e-5
    assert expected.abs().max().item() > 0.1  # not a trivially small embedding


def test_a_flip_v_teacher_gives_its_bottleneck() -> None:
    teacher = _teacher("flip-v")
    student = _inherit(teacher, TEACHER_SHAPE)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = teacher.bottleneck(teacher.visual_cls(x))  # FLIP-V's feature before ReLU
        got = student(x)[1]
    assert (got - expected).abs().max().item() <= 1e-5


def test_layers_at_uniform_intervals() -> None:
    assert layer_indices(2, 4) == [0, 2]
    assert layer_indices(3, 12) == [0, 4, 8]
    assert layer_indices(4, 4) == [0, 1, 2, 3]
    assert layer_indices(1, 5) == [0]


def test_a_smaller_student_takes_the_documented_slices() -> None:
    teacher = _teacher(cfg=WIDE)
    visual = teacher.clip.visual
    # depth 2 of 4, width 32 of 64, 2 heads of 16 (the teacher's head width), MLP 64 of 256,
    # patch 4 instead of 8 (an 8x8 grid instead of 4x4)
    arch = {"depth": 2, "embed_dim": 32, "num_heads": 2, "patch_size": 4, "mlp_ratio": 2.0}
    student = _inherit(teacher, arch).backbone
    eq = torch.testing.assert_close
    eq(student.patch_embed.proj.weight, resample_patch_embed(visual.conv1.weight[:32], [4, 4]))
    eq(student.cls_token.flatten(), visual.class_embedding[:32])
    pos = visual.positional_embedding[:, :32].unsqueeze(0)
    eq(student.pos_embed, resample_abs_pos_embed(pos, [8, 8], [4, 4], num_prefix_tokens=1))
    eq(student.norm_pre.weight, visual.ln_pre.weight[:32])
    eq(student.norm.bias, visual.ln_post.bias[:32])
    for block, index in zip(student.blocks, [0, 2], strict=True):
        source = visual.transformer.resblocks[index]
        # q, k and v each: rows 0..31 of their 64 (heads 0 and 1 of width 16), columns 0..31
        in_proj = source.attn.in_proj_weight.view(3, 64, 64)[:, :32, :32].reshape(96, 32)
        eq(block.attn.qkv.weight, in_proj)
        eq(block.attn.qkv.bias, source.attn.in_proj_bias.view(3, 64)[:, :32].reshape(96))
        eq(block.attn.proj.weight, source.attn.out_proj.weight[:32, :32])
        eq(block.attn.proj.bias, source.attn.out_proj.bias[:32])
        eq(block.norm1.weight, source.ln_1.weight[:32])
        eq(block.norm2.bias, source.ln_2.bias[:32])
        eq(block.mlp.fc1.weight, source.mlp.c_fc.weight[:64, :32])
        eq(block.mlp.fc1.bias, source.mlp.c_fc.bias[:64])
        eq(block.mlp.fc2.weight, source.mlp.c_proj.weight[:32, :64])
    projection = _inherit(teacher, arch).projection
    eq(projection.weight, visual.proj[:32].t())
    assert torch.count_nonzero(projection.bias) == 0


def test_narrower_heads_take_the_leading_dimensions_of_each_head() -> None:
    teacher = _teacher(cfg=WIDE)  # heads of 16
    arch = {"depth": 1, "embed_dim": 32, "num_heads": 4, "patch_size": 8}  # heads of 8
    block = _inherit(teacher, arch).backbone.blocks[0]
    source = teacher.clip.visual.transformer.resblocks[0]
    rows = [*range(0, 8), *range(16, 24), *range(32, 40), *range(48, 56)]  # by hand
    qkv_rows = rows + [64 + r for r in rows] + [128 + r for r in rows]
    torch.testing.assert_close(block.attn.qkv.weight, source.attn.in_proj_weight[qkv_rows, :32])
    torch.testing.assert_close(block.attn.proj.weight, source.attn.out_proj.weight[:32, rows])


@pytest.mark.parametrize(
    ("family", "arch"),
    [("resnet", {"depth": 18}), ("mobilenetv3", {"variant": "small", "width": 0.5})],
)
def test_a_cnn_student_cannot_inherit(family: str, arch: dict) -> None:
    teacher = _teacher()
    spec = StudentSpec(family, arch, 32, init="inherit")
    with pytest.raises(StudentBuildError, match=r"init 'inherit': not something this family"):
        create_student(spec, 64, teacher_tower=teacher.image_tower())


def test_inheritance_refusals_give_a_reason() -> None:
    rn = _teacher(cfg=TINY_RN_CONFIG)
    with pytest.raises(
        StudentBuildError, match=r"tower is a ModifiedResNet, not an open_clip ViT"
    ):
        _inherit(rn, TEACHER_SHAPE, img_size=64)
    teacher = _teacher()
    with pytest.raises(StudentBuildError, match=r"larger than the teacher's tower \(depth 3 > 2"):
        _inherit(teacher, {**TEACHER_SHAPE, "depth": 3})
    spec = StudentSpec("vit", TEACHER_SHAPE, 32, init="inherit")  # act: gelu
    with pytest.raises(StudentBuildError, match=r"uses quick_gelu and the student gelu"):
        create_student(spec, 64, teacher_tower=teacher.image_tower())
    with pytest.raises(StudentBuildError, match=r"needs the teacher's image tower"):
        create_student(spec, 64)
    # without initialising (costing, loading a trained state dict) no tower is needed
    assert create_student(spec, 64, initialise=False).backbone.norm_pre is not None


def test_more_heads_than_the_teacher_take_the_leading_rows() -> None:
    teacher = _teacher()  # 2 heads of 32
    arch = {"depth": 1, "embed_dim": 48, "num_heads": 4, "patch_size": 8}  # 4 heads of 12
    block = _inherit(teacher, arch).backbone.blocks[0]
    source = teacher.clip.visual.transformer.resblocks[0]
    qkv = source.attn.in_proj_weight.view(3, 64, 64)[:, :48, :48].reshape(144, 48)
    torch.testing.assert_close(block.attn.qkv.weight, qkv)
    torch.testing.assert_close(block.attn.proj.weight, source.attn.out_proj.weight[:48, :48])


def test_wider_heads_take_whole_teacher_heads_side_by_side() -> None:
    teacher = _teacher(cfg=WIDE)  # 4 heads of 16
    arch = {"depth": 1, "embed_dim": 64, "num_heads": 2, "patch_size": 8}  # 2 heads of 32
    block = _inherit(teacher, arch).backbone.blocks[0]
    source = teacher.clip.visual.transformer.resblocks[0]
    torch.testing.assert_close(block.attn.qkv.weight, source.attn.in_proj_weight)
    torch.testing.assert_close(block.attn.proj.weight, source.attn.out_proj.weight)
