"""Tests of fasnas.distill.losses on hand-computed values (math.log, simple softmaxes)."""

from __future__ import annotations

import math

import pytest
import torch

from fasnas.distill.losses import (
    cross_entropy,
    feature_distillation,
    hinton_kd,
    text_alignment_logits,
    text_alignment_loss,
)

LN3 = math.log(3.0)


def t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def test_cross_entropy_by_hand() -> None:
    # softmax([0, ln 3]) = [1/4, 3/4]
    logits = t([[0.0, LN3], [0.0, LN3]])
    loss = cross_entropy(logits, torch.tensor([1, 0]))
    assert loss.item() == pytest.approx((-math.log(3 / 4) - math.log(1 / 4)) / 2)


def test_hinton_kd_by_hand() -> None:
    # teacher softmax([0, ln 3]) = p = [1/4, 3/4]; student softmax([0, 0]) = q = [1/2, 1/2]
    kl = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    loss = hinton_kd(t([[0.0, 0.0]]), t([[0.0, LN3]]), temperature=1.0)
    assert loss.item() == pytest.approx(kl)
    # batch mean: a second row where student == teacher adds KL 0, so the mean halves
    loss = hinton_kd(t([[0.0, 0.0], [1.0, 2.0]]), t([[0.0, LN3], [1.0, 2.0]]), 1.0)
    assert loss.item() == pytest.approx(kl / 2)


def test_hinton_kd_temperature_squared_scaling() -> None:
    # T = 2: teacher [0, 2 ln 3] / 2 = [0, ln 3] gives the same p; student [0, 0] the same q,
    # so the loss is exactly T² = 4 times the T = 1 value above.
    kl = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    loss = hinton_kd(t([[0.0, 0.0]]), t([[0.0, 2 * LN3]]), temperature=2.0)
    assert loss.item() == pytest.approx(4 * kl)
    assert hinton_kd(t([[0.3, -1.0]]), t([[0.3, -1.0]]), 3.0).item() == pytest.approx(0.0)


def test_feature_distillation_cosine_by_hand() -> None:
    # row 1: cos([1,0],[1,1]) = 1/sqrt 2; row 2: cos([0,2],[0,-3]) = -1 -> 1 - cos = 2
    student, teacher = t([[1.0, 0.0], [0.0, 2.0]]), t([[1.0, 1.0], [0.0, -3.0]])
    expected = ((1 - 1 / math.sqrt(2)) + 2.0) / 2
    assert feature_distillation(student, teacher, "cosine").item() == pytest.approx(expected)
    # scale-free in the student
    assert feature_distillation(5 * student, teacher).item() == pytest.approx(expected)


def test_feature_distillation_mse_by_hand() -> None:
    # squared errors 1, 4, 0, 4 over all 4 elements -> 9/4
    student, teacher = t([[1.0, 2.0], [3.0, 4.0]]), t([[0.0, 0.0], [3.0, 6.0]])
    assert feature_distillation(student, teacher, kind="mse").item() == pytest.approx(9 / 4)


def test_text_alignment_logits_by_hand() -> None:
    # text rows (spoof, real) along the axes, deliberately not unit length; student [3, 4]
    # normalises to [0.6, 0.8], so cos = (0.6, 0.8) and logits = 100 * (0.6, 0.8)
    text = t([[2.0, 0.0], [0.0, 5.0]])
    logits = text_alignment_logits(t([[3.0, 4.0], [0.0, -1.0]]), text, logit_scale=100.0)
    assert logits.shape == (2, 2)
    assert torch.allclose(logits, t([[60.0, 80.0], [0.0, -100.0]]))


def test_text_alignment_loss_by_hand() -> None:
    text = t([[1.0, 0.0], [0.0, 1.0]])
    student = t([[3.0, 4.0]])  # logits (0.6, 0.8) at logit_scale 1
    q0 = math.exp(0.6) / (math.exp(0.6) + math.exp(0.8))
    ce = -math.log(1 - q0)  # label real
    loss = text_alignment_loss(student, text, 1.0, torch.tensor([1]))
    assert loss.item() == pytest.approx(ce)
    # teacher [0, 0] -> p = (1/2, 1/2); KL(p || q) with kd_weight 0.5
    kl = 0.5 * math.log(0.5 / q0) + 0.5 * math.log(0.5 / (1 - q0))
    loss = text_alignment_loss(
        student, text, 1.0, torch.tensor([1]), teacher_logits=t([[0.0, 0.0]]), kd_weight=0.5
    )
    assert loss.item() == pytest.approx(ce + 0.5 * kl)


def test_gradients_reach_the_student_and_not_the_teacher() -> None:
    torch.manual_seed(0)
    student = torch.randn(4, 8, requires_grad=True)
    teacher_emb = torch.randn(4, 8, requires_grad=True)
    teacher_logits = torch.randn(4, 2, requires_grad=True)
    text = torch.randn(2, 8, requires_grad=True)
    loss = (
        text_alignment_loss(
            student, text, 100.0, torch.tensor([0, 1, 1, 0]), teacher_logits, temperature=2.0
        )
        + feature_distillation(student, teacher_emb, "cosine")
        + feature_distillation(student, teacher_emb, "mse")
    )
    loss.backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert text.grad is not None  # the class embeddings are inputs, not frozen targets
    assert teacher_emb.grad is None and teacher_logits.grad is None


def test_bad_arguments_raise() -> None:
    a, b = torch.zeros(2, 3), torch.zeros(2, 4)
    with pytest.raises(ValueError, match="unknown feature distillation kind 'l1'"):
        feature_distillation(a, a, kind="l1")
    with pytest.raises(ValueError, match="same shape"):
        feature_distillation(a, b)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        hinton_kd(torch.zeros(2, 2), torch.zeros(2, 2), 0.0)
    with pytest.raises(ValueError, match="teacher_logits shape"):
        hinton_kd(torch.zeros(2, 2), torch.zeros(3, 2), 1.0)
    with pytest.raises(ValueError, match="labels must have shape"):
        cross_entropy(torch.zeros(2, 2), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(2, D\)"):
        text_alignment_logits(a, torch.zeros(3, 3), 100.0)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        text_alignment_logits(a, torch.zeros(2, 4), 100.0)
