"""FLIP's prompt ensembles and their tokens.

Owns the six spoof and six real prompts FLIP-IT and FLIP-MCL average into their two class text
embeddings (FLIP's ``prompt_templates.py``, verbatim) and their tokenisation for a given CLIP
config (:func:`tokenize_prompts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from fasnas._compat import ensure_torchvision
from fasnas.teacher.configs import resolve_model_cfg

ensure_torchvision()

import open_clip  # noqa: E402  (must follow the torchvision shim)

SPOOF_PROMPTS = (
    "This is an example of a spoof face",
    "This is an example of an attack face",
    "This is not a real face",
    "This is how a spoof face looks like",
    "a photo of a spoof face",
    "a printout shown to be a spoof face",
)
"""FLIP's spoof prompt ensemble (``prompt_templates.spoof_templates``), verbatim."""
REAL_PROMPTS = (
    "This is an example of a real face",
    "This is a bonafide face",
    "This is a real face",
    "This is how a real face looks like",
    "a photo of a real face",
    "This is not a spoof face",
)
"""FLIP's real prompt ensemble (``prompt_templates.real_templates``), verbatim."""


def tokenize_prompts(
    model_name: str, model_cfg: Mapping[str, Any] | None, prompts: tuple[str, ...]
) -> torch.Tensor:
    """``prompts`` as token ids ``(len(prompts), context_length)`` for that CLIP's text tower."""
    text_cfg = resolve_model_cfg(model_name, model_cfg)["text_cfg"]
    tokenizer = open_clip.tokenizer.SimpleTokenizer(
        context_length=text_cfg.get("context_length", 77), **text_cfg.get("tokenizer_kwargs", {})
    )
    return tokenizer(list(prompts))
