"""Which CLIP a FLIP teacher is built on: open_clip config names, the built-in tiny configs,
and building the bare, randomly initialised CLIP from either.

Owns :data:`DEFAULT_MODEL_NAME` (FLIP's CLIP ViT-B/16), the test and demo configs
:data:`TINY_CONFIG` and :data:`TINY_RN_CONFIG` (:data:`BUILTIN_CONFIGS`), the check that a config
needs no download (:func:`resolve_model_cfg`) and :func:`create_clip`. The FLIP layers on top
are :mod:`fasnas.teacher.flip`'s.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from torch import nn

from fasnas._compat import ensure_torchvision
from fasnas.errors import ConfigError

ensure_torchvision()

import open_clip  # noqa: E402  (must follow the torchvision shim)

DEFAULT_MODEL_NAME = "ViT-B-16-quickgelu"
"""CLIP ViT-B/16 with OpenAI's key names and QuickGELU, as FLIP uses (docs/flip.md §4)."""

TINY_CONFIG: dict[str, Any] = {
    "embed_dim": 64,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
"""A two-layer CLIP ViT for tests: 32 px input, 64-d everywhere, real tokenizer."""

TINY_RN_CONFIG: dict[str, Any] = {
    "embed_dim": 64,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16, "head_width": 32},
    "text_cfg": TINY_CONFIG["text_cfg"],
}
"""The CPU demo's teacher: a CLIP whose image tower is a one-block-per-stage ModifiedResNet
(open_clip's RN layout, attention pooling) at 64 px, with :data:`TINY_CONFIG`'s text tower.

Trained from random init, a ViT has no inductive bias to find the synthetic attack textures
(halftone dots, sub-pixel moire): the two-layer ViT at 32 px reached 23.5% test-EER HTER on M
and a four-layer, 128-wide one at 64 px 24.5% in 2.7x the time, below the demo's CNN students;
this tower reaches 12.3% in 65 s. FLIP's ViT-B/16 gets that strength from CLIP pre-training,
which the demo does not have."""

BUILTIN_CONFIGS: dict[str, dict[str, Any]] = {"tiny": TINY_CONFIG, "tiny-rn": TINY_RN_CONFIG}
"""Config names that open_clip does not know: the test and demo teachers."""


def resolve_model_cfg(model_name: str, model_cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """The open_clip config dict to build: ``model_cfg`` when given, else the named built-in.

    Raises:
        ConfigError: If the name is unknown, or the config lacks ``embed_dim``, ``vision_cfg``
            or ``text_cfg``, or needs a download (Hugging Face text tower or tokenizer) or is a
            CoCa config.
    """
    if model_cfg is not None:
        cfg = copy.deepcopy(dict(model_cfg))
        where = f"model_cfg of {model_name!r}"
    else:
        cfg = open_clip.get_model_config(model_name)
        if cfg is None:
            raise ConfigError(
                f"unknown open_clip model config {model_name!r}; expected a name from "
                f"open_clip.list_models() (e.g. {DEFAULT_MODEL_NAME!r}) or a model_cfg"
            )
        where = f"open_clip config {model_name!r}"
    missing = [key for key in ("embed_dim", "vision_cfg", "text_cfg") if key not in cfg]
    if missing:
        raise ConfigError(
            f"{where}: missing keys {missing}; expected embed_dim, vision_cfg, text_cfg"
        )
    text_cfg = cfg["text_cfg"]
    if "hf_model_name" in text_cfg or "hf_tokenizer_name" in text_cfg or "multimodal_cfg" in cfg:
        raise ConfigError(
            f"{where}: Hugging Face text towers/tokenizers and CoCa are not supported "
            f"(they need a download); use a CLIP config such as {DEFAULT_MODEL_NAME!r}"
        )
    return cfg


def create_clip(model_name: str, model_cfg: Mapping[str, Any] | None = None) -> nn.Module:
    """A randomly initialised open_clip CLIP (fp32) for ``model_name`` or ``model_cfg``.

    Built from the config dict directly (``open_clip.model.CLIP(**cfg)``, or ``CustomTextCLIP``
    when the config says ``custom_text``), as ``open_clip.create_model(name, pretrained=None)``
    does, without its "initialized randomly" warning: weights are loaded by our callers.
    Works under ``with torch.device("meta")`` for shape-only references.
    """
    cfg = resolve_model_cfg(model_name, model_cfg)
    custom_text = bool(cfg.pop("custom_text", False))
    model_class = open_clip.model.CustomTextCLIP if custom_text else open_clip.model.CLIP
    try:
        return model_class(**cfg)
    except (TypeError, ValueError, AssertionError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(f"open_clip config of {model_name!r} is invalid: {message}") from error


def resolve_model(text: str, where: str = "--model") -> tuple[str, dict[str, Any] | None]:
    """``(model_name, model_cfg)`` of ``teacher import --model``, tried in order: a built-in
    name (:data:`BUILTIN_CONFIGS`), an open_clip config name, then a JSON config file (its
    path is the name), as open_clip resolves a name before a file.

    Raises:
        ConfigError: None of them, listing the choices (close open_clip names first); a file
            that is not a JSON config mapping.
    """
    import difflib
    import json
    from pathlib import Path

    if text in BUILTIN_CONFIGS:
        return text, copy.deepcopy(BUILTIN_CONFIGS[text])
    if open_clip.get_model_config(text) is not None:
        return text, None
    path = Path(text)
    if path.is_file():
        try:
            cfg = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ConfigError(f"{where} {text}: not a JSON config file ({first})") from None
        if not isinstance(cfg, dict):
            raise ConfigError(f"{where} {text}: expected a JSON mapping (an open_clip config)")
        resolve_model_cfg(str(path), cfg)  # the same checks as a named config
        return str(path), cfg
    names = open_clip.list_models()
    close = difflib.get_close_matches(text, names, n=5, cutoff=0.5)
    hint = f"close open_clip names: {close}; " if close else ""
    raise ConfigError(
        f"{where} {text!r}: not a built-in config {sorted(BUILTIN_CONFIGS)}, an open_clip "
        f"config ({hint}{len(names)} names in open_clip.list_models(), e.g. "
        f"{DEFAULT_MODEL_NAME!r}) or a JSON config file"
    )
