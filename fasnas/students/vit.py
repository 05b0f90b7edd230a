"""The ``vit`` family: timm's VisionTransformer (ViT-Ti / DeiT-Ti) with a searchable shape.

Owns the family's arch keys (``variant`` in vit, deit, deit_distilled; ``depth``,
``embed_dim``, ``num_heads``, ``patch_size``, ``mlp_ratio``; ``act`` in gelu, quick_gelu, the
latter to match an OpenAI CLIP teacher for ``init: inherit``) and their rules: every size >= 1,
``mlp_ratio > 0``, ``embed_dim % num_heads == 0`` and ``img_size % patch_size == 0``. Code rather
than a ``families.json`` table, because the shape is free rather than a list of timm names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fasnas.students.registry import StudentBuildError, TimmRecipe, register_family, size_error

_VIT_NAMES = {
    "vit": "vit_tiny_patch16_224",
    "deit": "deit_tiny_patch16_224",
    "deit_distilled": "deit_tiny_distilled_patch16_224",
}


@register_family(
    "vit",
    defaults={
        "variant": "vit",
        "depth": 12,
        "embed_dim": 192,
        "num_heads": 3,
        "patch_size": 16,
        "mlp_ratio": 4.0,
        "act": "gelu",
    },
    choices={"variant": tuple(_VIT_NAMES), "act": ("gelu", "quick_gelu")},
    inits=("scratch", "pretrained", "inherit"),
)
def _vit(arch: Mapping[str, Any], img_size: int) -> TimmRecipe:
    """timm VisionTransformer (ViT-Ti/DeiT-Ti) with depth, width, heads, patch and MLP ratio.

    ``deit`` is architecturally ViT-Ti; ``deit_distilled`` adds DeiT's distillation token.
    """
    depth, dim, heads = arch["depth"], arch["embed_dim"], arch["num_heads"]
    patch, ratio = arch["patch_size"], arch["mlp_ratio"]
    for key in ("depth", "embed_dim", "num_heads", "patch_size"):
        if arch[key] < 1:
            raise StudentBuildError(f"arch.{key}: `{key} >= 1` must hold")
    if ratio <= 0:
        raise StudentBuildError("arch.mlp_ratio: `mlp_ratio > 0` must hold")
    if dim % heads:
        raise StudentBuildError(
            f"`embed_dim % num_heads == 0` must hold, but got (embed_dim={dim}, num_heads={heads})"
        )
    if img_size % patch:
        raise size_error(img_size, "img_size % patch_size == 0", patch_size=patch)
    kwargs = {
        "depth": depth,
        "embed_dim": dim,
        "num_heads": heads,
        "patch_size": patch,
        "mlp_ratio": float(ratio),
        "img_size": img_size,
    }
    if arch["act"] != "gelu":
        kwargs["act_layer"] = arch["act"]
    return TimmRecipe(_VIT_NAMES[arch["variant"]], kwargs)
