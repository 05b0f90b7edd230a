"""FLIP-IT's eval forward written out independently of fasnas, as golden logits for tests.

``tests/`` is on pytest's ``pythonpath``: test files ``import flip_reference``.
"""

from __future__ import annotations

import torch

from fasnas._compat import ensure_torchvision
from fasnas.teacher.prompts import REAL_PROMPTS, SPOOF_PROMPTS

ensure_torchvision()
import open_clip  # noqa: E402  (after the torchvision shim)


def reference_flip_it_logits(clip: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """fas.flip_it.forward, written out with open_clip's tokenizer and encoders."""
    tokenizer = open_clip.get_tokenizer("ViT-B-16-quickgelu")
    spoof = clip.encode_text(tokenizer(list(SPOOF_PROMPTS))).mean(dim=0)
    real = clip.encode_text(tokenizer(list(REAL_PROMPTS))).mean(dim=0)
    text = torch.stack([spoof, real], dim=0)
    image = clip.encode_image(images)
    image = image / image.norm(dim=-1, keepdim=True)
    text = text / text.norm(dim=-1, keepdim=True)
    return clip.logit_scale.exp() * image @ text.t()
