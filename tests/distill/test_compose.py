"""Tests of fasnas.distill.compose: the KD-loss registry and the composed training loss."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fasnas.distill import compose
from fasnas.distill.compose import (
    KD_LOSSES,
    TEACHER_OUTPUTS,
    needed_outputs,
    teacher_free,
    training_loss,
)
from fasnas.distill.spec import DistillSpec


class _Student(torch.nn.Module):
    """Fixed outputs: logits (N, 2) and a projection (N, 4) that depend on the images."""

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = images.flatten(1)
        return flat[:, :2] * 3.0, flat[:, 2:6]


class _Outputs:
    """Cached teacher outputs by frame index, as TeacherOutputs serves them."""

    def __init__(self, n: int) -> None:
        rng = np.random.default_rng(0)
        self._logits = rng.normal(size=(n, 2)).astype(np.float32)
        self._emb = rng.normal(size=(n, 4)).astype(np.float32)
        self.text = rng.normal(size=(2, 4)).astype(np.float32)

    def logits(self, index: np.ndarray) -> np.ndarray:
        return self._logits[index]

    def embeddings(self, index: np.ndarray) -> np.ndarray:
        return self._emb[index]


def _batch(n: int = 6):
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(n, 3, 2, 2, generator=generator)
    labels = torch.tensor([0, 1] * (n // 2))
    return images, labels, np.arange(n)


@pytest.mark.parametrize("loss", KD_LOSSES, ids=lambda loss: loss.name)
def test_every_registered_loss_is_a_spec_field_with_known_needs(loss) -> None:
    fields = {f.name for f in dataclasses.fields(DistillSpec)}
    assert loss.weight in fields
    assert loss.needs and set(loss.needs) <= set(TEACHER_OUTPUTS)
    spec = teacher_free(DistillSpec(w_kd=1.0, w_feat=2.0, w_text=3.0))
    assert getattr(spec, loss.weight) == 0.0  # a CE baseline can never train with it
    assert needed_outputs(spec) == set()


def test_a_registered_loss_cannot_leak_into_a_teacher_free_run(monkeypatch) -> None:
    extra = compose.KDLoss("extra", "weight_decay", ("logits",), lambda batch, spec: 0)
    monkeypatch.setattr(compose, "KD_LOSSES", (*KD_LOSSES, extra))
    assert compose.teacher_free(DistillSpec(weight_decay=0.5)).weight_decay == 0.0


def test_the_composed_loss_is_the_weighted_sum_of_the_pure_losses() -> None:
    spec = DistillSpec(w_ce=0.5, w_kd=2.0, temperature=3.0, w_feat=1.5, w_text=0.25)
    images, labels, index = _batch()
    outputs = _Outputs(len(index))
    student = _Student()
    got = training_loss(student, spec, outputs)(images, labels, index)

    logits, emb = student(images)
    t_logits = torch.from_numpy(outputs.logits(index))
    t_emb = torch.from_numpy(outputs.embeddings(index))
    text = torch.from_numpy(outputs.text)
    t = spec.temperature
    kd = F.kl_div(
        F.log_softmax(logits / t, 1), F.softmax(t_logits / t, 1), reduction="batchmean"
    ) * (t * t)
    feature = (1 - F.cosine_similarity(emb, t_emb, dim=1)).mean()
    text_logits = spec.text_logit_scale * F.normalize(emb, dim=1) @ F.normalize(text, dim=1).t()
    text_kd = F.kl_div(
        F.log_softmax(text_logits / t, 1), F.softmax(t_logits / t, 1), reduction="batchmean"
    ) * (t * t)
    text_loss = F.cross_entropy(text_logits, labels) + text_kd
    expected = (
        spec.w_ce * F.cross_entropy(logits, labels)
        + spec.w_kd * kd
        + spec.w_feat * feature
        + spec.w_text * text_loss
    )
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_a_teacher_free_run_needs_no_teacher_outputs() -> None:
    spec = teacher_free(DistillSpec(w_kd=1.0, w_feat=1.0))
    images, labels, index = _batch()
    loss = training_loss(_Student(), spec, None)(images, labels, index)  # no cache at all
    logits, _ = _Student()(images)
    assert loss.item() == pytest.approx(F.cross_entropy(logits, labels).item())


def test_text_alignment_is_skipped_without_class_text() -> None:
    """A FLIP-V teacher has no class text embeddings: the text term drops out."""
    spec = DistillSpec(w_kd=0.0, w_text=1.0)
    images, labels, index = _batch()
    outputs = _Outputs(len(index))
    outputs.text = None
    loss = training_loss(_Student(), spec, outputs)(images, labels, index)
    logits, _ = _Student()(images)
    assert loss.item() == pytest.approx(F.cross_entropy(logits, labels).item())
