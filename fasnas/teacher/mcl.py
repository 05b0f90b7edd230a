"""FLIP-MCL's extra parts: the ``image_mlp`` head and its two training losses.

Owns :func:`build_mcl_mlp` (FLIP's module names, so FLIP-MCL checkpoints load), SimCLR's
NT-Xent (:func:`info_nce_loss`) and the prompt-consistency MSE
(:func:`prompt_consistency_loss`), following FLIP's ``fas.flip_mcl`` and
``train_flip_mcl.py``; also FLIP's plain L2 normalisation :func:`unit`, which every FLIP
formula uses. :class:`~fasnas.teacher.flip.FlipTeacher` wires them together.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MCL_HIDDEN_DIM = 4096  # FLIP-MCL image_mlp hidden width (train_flip_mcl.py: ssl_mlp_dim)
MCL_OUT_DIM = 256  # FLIP-MCL image_mlp output width (ssl_emb_dim)
MCL_TEMPERATURE = 0.1  # FLIP-MCL SimCLR temperature


def unit(x: torch.Tensor) -> torch.Tensor:
    """FLIP's normalisation: ``x / x.norm(dim=-1, keepdim=True)`` (no epsilon)."""
    return x / x.norm(dim=-1, keepdim=True)


def build_mcl_mlp(in_dim: int) -> nn.Sequential:
    """FLIP-MCL's ``image_mlp`` with FLIP's module names (``fas.flip_mcl._build_mlp``)."""
    return nn.Sequential(
        OrderedDict(
            [
                ("layer1", nn.Linear(in_dim, MCL_HIDDEN_DIM)),
                ("bn1", nn.BatchNorm1d(MCL_HIDDEN_DIM)),
                ("relu1", nn.ReLU(inplace=True)),
                ("layer2", nn.Linear(MCL_HIDDEN_DIM, MCL_HIDDEN_DIM)),
                ("bn2", nn.BatchNorm1d(MCL_HIDDEN_DIM)),
                ("relu2", nn.ReLU(inplace=True)),
                ("layer3", nn.Linear(MCL_HIDDEN_DIM, MCL_OUT_DIM)),
            ]
        )
    )


def info_nce_loss(
    z_1: torch.Tensor, z_2: torch.Tensor, temperature: float = MCL_TEMPERATURE
) -> torch.Tensor:
    """SimCLR's NT-Xent on two views (``fas.flip_mcl.info_nce_loss`` + cross-entropy).

    Row ``i`` of the ``2B`` normalised embeddings has its other view as the positive and the
    ``2B - 2`` other samples as negatives; the diagonal is excluded; logits are cosine / T.
    """
    features = F.normalize(torch.cat([z_1, z_2], dim=0), dim=1)
    n = z_1.shape[0]
    similarity = features @ features.t() / temperature
    eye = torch.eye(2 * n, dtype=torch.bool, device=similarity.device)
    similarity = similarity.masked_fill(eye, float("-inf"))
    targets = (torch.arange(2 * n, device=similarity.device) + n) % (2 * n)
    return F.cross_entropy(similarity, targets)


def prompt_consistency_loss(
    image_1: torch.Tensor,
    image_2: torch.Tensor,
    prompts: torch.Tensor,
    labels: torch.Tensor,
    rng: np.random.Generator,
) -> torch.Tensor:
    """FLIP-MCL's MSE between two views' cosine similarities to two disjoint prompt subsets.

    For each sample FLIP draws ``P // 2`` prompt indices of its class *with replacement*
    (``np.random.choice``), takes the rest as the second subset (``np.setdiff1d``), averages
    each subset's raw text embeddings, and compares ``cos(view_1, subset_1)`` with
    ``cos(view_2, subset_2)`` by MSE.

    Args:
        image_1: Raw image embeddings of the first views ``(B, D)``.
        image_2: Raw image embeddings of the second views ``(B, D)``.
        prompts: Raw prompt embeddings ``(2, P, D)`` (spoof, real).
        labels: ``(B,)`` 0 = spoof, 1 = real.
        rng: The generator that draws the subsets.
    """
    n_prompts = prompts.shape[1]
    available = np.arange(n_prompts)
    text_1, text_2 = [], []
    for label in labels.tolist():
        first = rng.choice(available, n_prompts // 2)
        second = np.setdiff1d(available, first)
        class_prompts = prompts[int(label)]
        text_1.append(class_prompts[torch.as_tensor(first, device=prompts.device)].mean(dim=0))
        text_2.append(class_prompts[torch.as_tensor(second, device=prompts.device)].mean(dim=0))
    cos_1 = F.cosine_similarity(unit(image_1), unit(torch.stack(text_1)))
    cos_2 = F.cosine_similarity(unit(image_2), unit(torch.stack(text_2)))
    return F.mse_loss(cos_1, cos_2)
