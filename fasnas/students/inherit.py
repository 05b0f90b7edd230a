"""``init: inherit``: TinyCLIP-style weight inheritance from the teacher's ViT image tower.

Owns :func:`inherit_weights`, which copies slices of an open_clip ``VisionTransformer`` (the
image tower of a FLIP-V/IT/MCL teacher, :meth:`fasnas.teacher.flip.FlipTeacher.image_tower`)
into a ``vit``-family student built with :data:`STUDENT_KWARGS` (CLIP's layout: a LayerNorm
before the blocks, no patch-embedding bias, torch's LayerNorm):

- **layers at uniform intervals**: student block ``i`` of ``d`` takes teacher block
  ``floor(i * D / d)`` of ``D`` (every block when ``d == D``);
- **leading heads**: the first ``h`` heads, and in each the first ``hd`` dimensions, of q, k
  and v (rows of ``in_proj``) and the same columns of the output projection; a student with
  wider or more heads than the teacher takes the first ``w`` rows of each instead (its heads
  then cut across the teacher's), still sliced alike in q, k, v and the output projection;
- **leading dimensions**: the first ``w`` embedding dimensions everywhere (LayerNorms, rows
  and columns) and the first ``m`` hidden units of each MLP;
- **patch embedding**: the first ``w`` filters, resampled to the student's patch size with
  timm's ``resample_patch_embed`` (FlexiViT's pseudo-inverse resize);
- **position embedding**: the first ``w`` dimensions, resampled to the student's grid with
  timm's ``resample_abs_pos_embed``;
- **projection head**: the teacher's embedding projection (``proj`` for FLIP-IT/MCL, the
  bottleneck for FLIP-V) restricted to the first ``w`` inputs, so the student's embedding
  starts in the teacher's space.

With the teacher's own depth, width, heads, patch size and activation the student computes
the teacher's image embedding. A student larger than its teacher in any dimension, a teacher
that is not a ViT, or a student of another activation is a
:class:`~fasnas.students.registry.StudentBuildError` with the reason.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from fasnas.students.registry import StudentBuildError

STUDENT_KWARGS: dict[str, Any] = {"pre_norm": True, "norm_layer": nn.LayerNorm}
"""What a ``vit`` student with ``init: inherit`` is built with on top of its recipe: CLIP's
pre-norm and torch's LayerNorm (eps 1e-5, open_clip's); ``pre_norm`` drops the patch bias."""

_TOWER_PARTS = ("conv1", "class_embedding", "positional_embedding", "ln_pre", "ln_post")


def activation_name(module: nn.Module) -> str:
    """``quick_gelu`` or ``gelu`` (the spelling of the ``vit`` family's ``act``), else the
    class name."""
    name = type(module).__name__
    return {"QuickGELU": "quick_gelu", "GELU": "gelu"}.get(name, name)


def layer_indices(student_depth: int, teacher_depth: int) -> list[int]:
    """The teacher blocks a student of ``student_depth`` takes: uniform intervals from 0."""
    return [i * teacher_depth // student_depth for i in range(student_depth)]


def head_rows(heads: int, head_dim: int, teacher_head_dim: int) -> torch.Tensor:
    """Indices of the leading ``heads`` heads' leading ``head_dim`` dimensions in a teacher
    q (or k, v) block whose heads are ``teacher_head_dim`` wide."""
    return torch.cat(
        [torch.arange(h * teacher_head_dim, h * teacher_head_dim + head_dim) for h in range(heads)]
    )


def _check_tower(tower: Any) -> nn.Module:
    visual = getattr(tower, "visual", None)
    ok = visual is not None and all(hasattr(visual, part) for part in _TOWER_PARTS)
    if not ok or getattr(visual, "attn_pool", None) is not None:
        kind = type(visual).__name__
        raise StudentBuildError(
            f"init inherit: the teacher's image tower is a {kind}, not an open_clip ViT pooled "
            f"by its CLS token; inherit needs a ViT teacher (use scratch or pretrained)"
        )
    return visual


def _check_student(backbone: nn.Module) -> None:
    parts = ("patch_embed", "cls_token", "pos_embed", "norm_pre", "blocks", "norm")
    if not all(hasattr(backbone, part) for part in parts) or isinstance(
        backbone.norm_pre, nn.Identity
    ):
        raise StudentBuildError(
            f"init inherit: the student is a {type(backbone).__name__}, not a vit-family "
            f"student built for inheritance; only the vit family can inherit"
        )


def _shape_problem(student: dict[str, int], teacher: dict[str, int]) -> str | None:
    larger = [
        f"{key} {student[key]} > {teacher[key]}" for key in student if student[key] > teacher[key]
    ]
    if larger:
        return f"the student is larger than the teacher's tower ({', '.join(larger)})"
    return None


@torch.no_grad()
def inherit_weights(backbone: nn.Module, projection: nn.Linear, tower: Any) -> dict[str, Any]:
    """Copy slices of ``tower`` into a ``vit`` student's ``backbone`` and ``projection``.

    Args:
        backbone: the student's timm VisionTransformer, built with :data:`STUDENT_KWARGS`.
        projection: the student's ``Linear(width, embed_dim)`` projection head.
        tower: the teacher's :class:`~fasnas.teacher.flip.ImageTower` (``visual``,
            ``proj_weight`` (embed_dim, teacher width), ``proj_bias`` or None).

    Returns:
        What was taken: ``{"layers": [...], "heads": h, "width": w, "mlp": m}``.

    Raises:
        StudentBuildError: a non-ViT teacher or student, a student larger than its teacher,
            another activation, or a projection of another embedding width.
    """
    from timm.layers import resample_abs_pos_embed, resample_patch_embed

    visual = _check_tower(tower)
    _check_student(backbone)
    blocks = list(visual.transformer.resblocks)
    t_width = int(visual.conv1.weight.shape[0])
    t_heads = int(blocks[0].attn.num_heads)
    t_mlp = int(blocks[0].mlp.c_fc.weight.shape[0])
    width = int(backbone.embed_dim)
    heads = int(backbone.blocks[0].attn.num_heads)
    mlp = int(backbone.blocks[0].mlp.fc1.weight.shape[0])
    head_dim, t_head_dim = width // heads, t_width // t_heads
    problem = _shape_problem(
        {"depth": len(backbone.blocks), "width": width, "mlp": mlp},
        {"depth": len(blocks), "width": t_width, "mlp": t_mlp},
    )
    if problem is not None:
        raise StudentBuildError(f"init inherit: {problem}")
    t_act = activation_name(blocks[0].mlp.gelu)
    act = activation_name(backbone.blocks[0].mlp.act)
    if act != t_act:
        raise StudentBuildError(
            f"init inherit: the teacher's tower uses {t_act} and the student {act}; set "
            f"vit.act: {t_act}"
        )
    if tuple(tower.proj_weight.shape) != (projection.out_features, t_width):
        raise StudentBuildError(
            f"init inherit: the teacher's embedding projection is "
            f"{tuple(tower.proj_weight.shape)}, expected ({projection.out_features}, {t_width})"
        )
    dims = slice(0, width)
    if heads <= t_heads and head_dim <= t_head_dim:
        rows = head_rows(heads, head_dim, t_head_dim)
    else:  # wider or more heads than the teacher's: the leading rows
        rows = torch.arange(width)
    qkv_rows = torch.cat([rows + part * t_width for part in range(3)])

    patch = backbone.patch_embed.proj.weight
    filters = visual.conv1.weight[:width]
    if filters.shape[-2:] != patch.shape[-2:]:
        filters = resample_patch_embed(filters, list(patch.shape[-2:]))
    patch.copy_(filters)
    backbone.cls_token.copy_(visual.class_embedding[dims].view(1, 1, width))
    grid = backbone.patch_embed.grid_size
    pos = visual.positional_embedding[:, dims].unsqueeze(0)
    t_grid = int(round((pos.shape[1] - 1) ** 0.5))
    if tuple(grid) != (t_grid, t_grid):
        pos = resample_abs_pos_embed(pos, list(grid), [t_grid, t_grid], num_prefix_tokens=1)
    backbone.pos_embed.copy_(pos)
    _copy_norm(backbone.norm_pre, visual.ln_pre, width)
    _copy_norm(backbone.norm, visual.ln_post, width)

    layers = layer_indices(len(backbone.blocks), len(blocks))
    for block, index in zip(backbone.blocks, layers, strict=True):
        source = blocks[index]
        _copy_norm(block.norm1, source.ln_1, width)
        _copy_norm(block.norm2, source.ln_2, width)
        block.attn.qkv.weight.copy_(source.attn.in_proj_weight[qkv_rows][:, dims])
        block.attn.qkv.bias.copy_(source.attn.in_proj_bias[qkv_rows])
        block.attn.proj.weight.copy_(source.attn.out_proj.weight[dims][:, rows])
        block.attn.proj.bias.copy_(source.attn.out_proj.bias[dims])
        block.mlp.fc1.weight.copy_(source.mlp.c_fc.weight[:mlp, dims])
        block.mlp.fc1.bias.copy_(source.mlp.c_fc.bias[:mlp])
        block.mlp.fc2.weight.copy_(source.mlp.c_proj.weight[dims, :mlp])
        block.mlp.fc2.bias.copy_(source.mlp.c_proj.bias[dims])
    projection.weight.copy_(tower.proj_weight[:, dims])
    if tower.proj_bias is None:
        projection.bias.zero_()
    else:
        projection.bias.copy_(tower.proj_bias)
    return {"layers": layers, "heads": heads, "width": width, "mlp": mlp}


def _copy_norm(target: nn.LayerNorm, source: nn.LayerNorm, width: int) -> None:
    target.weight.copy_(source.weight[:width])
    target.bias.copy_(source.bias[:width])
