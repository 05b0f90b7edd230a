"""Tests of fasnas.teacher.mcl: FLIP-MCL's NT-Xent and prompt-consistency losses against FLIP's own
code re-implemented here, and the losses' gradients through a FLIP-MCL teacher."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from flip_reference import flip_info_nce  # tests/flip_reference.py

from fasnas.errors import ConfigError
from fasnas.teacher.configs import TINY_CONFIG
from fasnas.teacher.flip import build_teacher
from fasnas.teacher.mcl import build_mcl_mlp, info_nce_loss, prompt_consistency_loss, unit


def _teacher(variant: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_teacher(variant, "tiny", TINY_CONFIG).eval()


def _images(n: int = 8, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_info_nce_matches_flips_implementation() -> None:
    generator = torch.Generator().manual_seed(3)
    z_1, z_2 = torch.randn(6, 16, generator=generator), torch.randn(6, 16, generator=generator)
    torch.testing.assert_close(info_nce_loss(z_1, z_2, 0.1), flip_info_nce(z_1, z_2, 0.1))


def test_prompt_consistency_matches_flips_loop() -> None:
    generator = torch.Generator().manual_seed(4)
    image_1, image_2 = (
        torch.randn(5, 8, generator=generator),
        torch.randn(5, 8, generator=generator),
    )
    prompts = torch.randn(2, 6, 8, generator=generator)
    labels = torch.tensor([0, 1, 1, 0, 1])
    draw = np.random.default_rng(7)
    cos_1, cos_2 = [], []
    for i, label in enumerate(labels.tolist()):
        pair_1 = draw.choice(np.arange(6), 3)
        pair_2 = np.setdiff1d(np.arange(6), pair_1)
        t_1 = torch.stack([prompts[label][j] for j in pair_1]).mean(0)
        t_2 = torch.stack([prompts[label][j] for j in pair_2]).mean(0)
        cos_1.append(
            F.cosine_similarity(F.normalize(image_1[i], dim=0), F.normalize(t_1, dim=0), dim=0)
        )
        cos_2.append(
            F.cosine_similarity(F.normalize(image_2[i], dim=0), F.normalize(t_2, dim=0), dim=0)
        )
    expected = F.mse_loss(torch.stack(cos_1), torch.stack(cos_2))
    got = prompt_consistency_loss(image_1, image_2, prompts, labels, np.random.default_rng(7))
    torch.testing.assert_close(got, expected)


def test_mcl_losses_train_the_mlp_and_both_towers() -> None:
    teacher = _teacher("flip-mcl").train()
    nce, mse = teacher.mcl_losses(
        _images(4, 1), _images(4, 2), torch.tensor([0, 1, 0, 1]), np.random.default_rng(0)
    )
    assert nce.ndim == 0 and mse.ndim == 0 and torch.isfinite(nce) and torch.isfinite(mse)
    (nce + mse).backward()
    assert teacher.image_mlp.layer1.weight.grad.abs().sum() > 0
    assert teacher.clip.visual.conv1.weight.grad.abs().sum() > 0
    assert teacher.clip.text_projection.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="flip-mcl"):
        _teacher("flip-it").mcl_losses(
            _images(2), _images(2), torch.tensor([0, 1]), np.random.default_rng(0)
        )


def test_mlp_has_flips_names_and_widths_and_unit_is_flips_normalisation() -> None:
    mlp = build_mcl_mlp(64)
    assert [name for name, _ in mlp.named_children()] == [
        "layer1",
        "bn1",
        "relu1",
        "layer2",
        "bn2",
        "relu2",
        "layer3",
    ]
    assert mlp.layer1.weight.shape == (4096, 64) and mlp.layer3.weight.shape == (256, 4096)
    x = torch.tensor([[3.0, 4.0], [0.0, 2.0]])
    assert torch.equal(unit(x), torch.tensor([[0.6, 0.8], [0.0, 1.0]]))
