"""FLIP's code written out independently of fasnas, as golden values for tests: FLIP-IT's
eval forward (logits) and FLIP-MCL's NT-Xent (mask based, as FLIP writes it).

``tests/`` is on pytest's ``pythonpath``: test files ``import flip_reference``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

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


def flip_info_nce(z_1: torch.Tensor, z_2: torch.Tensor, temperature: float) -> torch.Tensor:
    """fas.flip_mcl.info_nce_loss + CrossEntropyLoss, as FLIP writes it (mask based)."""
    features = torch.cat([z_1, z_2], dim=0)
    labels = torch.cat([torch.arange(z_1.shape[0]) for _ in range(2)], dim=0)
    labels = (labels.unsqueeze(0) == labels.unsqueeze(1)).float()
    features = F.normalize(features, dim=1)
    similarity = features @ features.T
    mask = torch.eye(labels.shape[0], dtype=torch.bool)
    labels = labels[~mask].view(labels.shape[0], -1)
    similarity = similarity[~mask].view(similarity.shape[0], -1)
    positives = similarity[labels.bool()].view(labels.shape[0], -1)
    negatives = similarity[~labels.bool()].view(similarity.shape[0], -1)
    logits = torch.cat([positives, negatives], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long))
