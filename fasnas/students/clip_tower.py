"""The ``clip`` family: open_clip image towers as students, with CLIP weights (``init: clip``).

Owns the family's arch keys (``model``: an open_clip config name such as the shipped
:data:`SHIPPED_MODELS` — MobileCLIP-S1/S2, MobileCLIP2-S0, ViT-S-16 — or a JSON file holding
an open_clip model config; ``pretrained``: an open_clip pretrained tag, empty for the model's
first tag, or a weights file), building the image tower alone (no text tower) at the spec's
input size, and loading its CLIP weights from local files by open_clip's own resolution:

1. the tag, from the Hugging Face cache open_clip downloads into (read only; nothing is ever
   downloaded, ``HF_HUB_OFFLINE`` or not);
2. else ``pretrained`` as a file (absolute, or relative to the working folder);
3. else a one-line :class:`~fasnas.students.registry.StudentBuildError` listing the tags.

A ViT tower's position embedding is resized to the student's grid with open_clip's
``resize_pos_embed``. The tower's output (its CLIP image embedding) is the student's pooled
feature. The family is reparameterisable (MobileCLIP's MobileOne blocks are fused before
costing and export; a ViT has nothing to fuse); fvcore counts its attention
(:mod:`fasnas.cost`).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fasnas.students.registry import StudentBuildError, TimmRecipe, register_family
from fasnas.students.weights import hf_cache_dir

SHIPPED_MODELS = ("MobileCLIP-S1", "MobileCLIP-S2", "MobileCLIP2-S0", "ViT-S-16")
PREFIX = "open_clip:"
_OPEN_CLIP_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def _open_clip():
    from fasnas._compat import ensure_torchvision

    ensure_torchvision()
    import open_clip

    return open_clip


def model_config(model: str) -> dict[str, Any]:
    """The open_clip config of ``model`` (a config name, or a JSON file of one).

    Raises:
        StudentBuildError: an unknown name, or a file that is not an open_clip model config.
    """
    if model.endswith(".json"):
        path = Path(model).expanduser()
        try:
            cfg = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise StudentBuildError(
                f"arch.model: cannot read the open_clip config file {model!r} "
                f"({type(error).__name__})"
            ) from None
    else:
        cfg = _open_clip().get_model_config(model)
        if cfg is None:
            raise StudentBuildError(
                f"arch.model: unknown open_clip config {model!r}; expected a name from "
                f"open_clip.list_models() (e.g. {list(SHIPPED_MODELS)}) or a .json file"
            )
    if not isinstance(cfg, dict) or "embed_dim" not in cfg or "vision_cfg" not in cfg:
        raise StudentBuildError(f"arch.model: {model!r} lacks embed_dim or vision_cfg")
    return copy.deepcopy(cfg)


class ClipTower(nn.Module):
    """An open_clip image tower as a student backbone: ``x -> (B, num_features)``, the CLIP
    image embedding."""

    def __init__(self, visual: nn.Module, num_features: int, name: str) -> None:
        super().__init__()
        self.visual = visual
        self.num_features = num_features
        self.pretrained_cfg = {"architecture": name}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(x)


def build_tower(
    name: str,
    pretrained: bool = False,
    *,
    model: str,
    img_size: int,
    weights: str = "",
    num_classes: int = 0,
) -> ClipTower:
    """The image tower of ``model`` at ``img_size``, with CLIP weights when ``pretrained``
    (the recipe's generator; ``num_classes`` is ignored: the tower's output is the feature)."""
    open_clip = _open_clip()
    cfg = model_config(model)
    vision = dict(cfg["vision_cfg"])
    vision["image_size"] = img_size
    visual = open_clip.model._build_vision_tower(
        cfg["embed_dim"], vision, quick_gelu=bool(cfg.get("quick_gelu", False))
    )
    if pretrained:
        load_clip_weights(visual, model, weights)
    return ClipTower(visual, int(cfg["embed_dim"]), name)


def clip_weights_file(model: str, pretrained: str) -> Path:
    """Where ``model``'s CLIP weights are: the tag in the HF cache, else the file ``pretrained``.

    Raises:
        StudentBuildError: neither; the message lists the model's tags and the cache.
    """
    open_clip = _open_clip()
    tags = [] if model.endswith(".json") else open_clip.list_pretrained_tags_by_model(model)
    tag = pretrained or (tags[0] if tags else "")
    cache = hf_cache_dir()
    if tag in tags:
        from huggingface_hub import try_to_load_from_cache

        hub = open_clip.get_pretrained_cfg(model, tag).get("hf_hub") or ""
        repo, named = os.path.split(hub)  # open_clip's own split: "org/repo/[file]"
        for filename in (named,) if named else _OPEN_CLIP_FILES:
            found = try_to_load_from_cache(repo, filename, cache_dir=str(cache)) if repo else None
            if isinstance(found, str):
                return Path(found)
    elif pretrained and Path(pretrained).expanduser().is_file():
        return Path(pretrained).expanduser()
    raise StudentBuildError(
        f"init clip: no CLIP weights for {model!r} ({pretrained or 'its first tag'}): expected "
        f"a tag of {tags} in the Hugging Face cache ({cache}) or a weights file"
    )


def load_clip_weights(visual: nn.Module, model: str, pretrained: str) -> Path:
    """Load ``model``'s CLIP image-tower weights into ``visual``, exactly; returns the file.

    Raises:
        StudentBuildError: no weights, or weights that do not fit the tower.
    """
    open_clip = _open_clip()
    file = clip_weights_file(model, pretrained)
    try:
        state = open_clip.factory.load_state_dict(str(file))
    except Exception as error:  # any reader failure means a bad file for the user
        raise StudentBuildError(
            f"init clip: cannot read {file}: {type(error).__name__}: {error}"
        ) from None
    if any(key.startswith("visual.") for key in state):
        state = {k: v for k, v in state.items() if k.startswith("visual.")}
    else:
        state = {f"visual.{k}": v for k, v in state.items()}
    holder = nn.Module()
    holder.visual = visual
    if "visual.positional_embedding" in state:
        open_clip.model.resize_pos_embed(state, holder)
    try:
        holder.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = " ".join(str(error).strip().splitlines()[:2])
        raise StudentBuildError(f"init clip: {file} does not fit {model!r}: {first}") from None
    return file


@register_family(
    "clip",
    defaults={"model": SHIPPED_MODELS[0], "pretrained": ""},
    reparameterizable=True,
    inits=("scratch", "clip"),
)
def _clip(arch: Mapping[str, Any], img_size: int) -> TimmRecipe:
    """An open_clip image tower (config name or JSON file) at ``img_size``."""
    model = arch["model"]
    cfg = model_config(model)
    patch = cfg["vision_cfg"].get("patch_size")
    if isinstance(patch, int) and img_size % patch:
        raise StudentBuildError(
            f"`img_size % patch_size == 0` must hold, but got (img_size={img_size}, "
            f"patch_size={patch})"
        )
    kwargs = {"model": model, "img_size": img_size, "weights": arch["pretrained"]}
    return TimmRecipe(f"{PREFIX}{model}", kwargs, generator=build_tower)
