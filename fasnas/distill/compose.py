"""The KD-loss registry and the one place a student's training loss is composed.

Owns which distillation losses exist and how they combine. Each :class:`KDLoss` names its
weight field on the :class:`~fasnas.distill.spec.DistillSpec`, the teacher outputs it needs and
its function. :func:`training_loss` builds ``w_ce * CE + sum(weight * loss)`` over the
registered losses whose weight is non-zero, in registry order; :func:`teacher_free` zeroes every
registered weight, which is what a CE-only baseline trains with (so a new loss can never leak
into it). A new KD loss is one :class:`KDLoss` entry in :data:`KD_LOSSES`, its weight field on
DistillSpec, and its test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from fasnas.distill import losses

TEACHER_OUTPUTS = ("logits", "embeddings", "text")


@dataclass(frozen=True)
class Batch:
    """What a loss sees for one batch: the student's outputs, labels and teacher outputs."""

    logits: Tensor  # student (N, 2), (spoof, real)
    embedding: Tensor  # student projection (N, D)
    labels: Tensor  # (N,)
    teacher_logits: Tensor | None  # (N, 2)
    teacher_embedding: Tensor | None  # (N, D)
    text: Tensor | None  # the teacher's class text embeddings (2, D)


@dataclass(frozen=True)
class KDLoss:
    """One registered distillation loss."""

    name: str  # short name used in docs and messages
    weight: str  # the DistillSpec field that weights it (0 turns it off)
    needs: tuple[str, ...]  # teacher outputs it reads, from TEACHER_OUTPUTS
    fn: Callable[[Batch, Any], Tensor]  # (batch, spec) -> scalar loss


def _hinton(batch: Batch, spec: Any) -> Tensor:
    return losses.hinton_kd(batch.logits, batch.teacher_logits, spec.temperature)


def _feature(batch: Batch, spec: Any) -> Tensor:
    return losses.feature_distillation(batch.embedding, batch.teacher_embedding, spec.feat_loss)


def _text(batch: Batch, spec: Any) -> Tensor:
    return losses.text_alignment_loss(
        batch.embedding,
        batch.text,
        spec.text_logit_scale,
        batch.labels,
        teacher_logits=batch.teacher_logits,
        temperature=spec.temperature,
    )


KD_LOSSES: tuple[KDLoss, ...] = (
    KDLoss("kd", "w_kd", ("logits",), _hinton),
    KDLoss("feature", "w_feat", ("embeddings",), _feature),
    KDLoss("text", "w_text", ("text", "logits"), _text),
)


def active_losses(spec: Any) -> list[KDLoss]:
    """The registered losses whose weight in ``spec`` is non-zero, in registry order."""
    return [loss for loss in KD_LOSSES if getattr(spec, loss.weight)]


def needed_outputs(spec: Any) -> set[str]:
    """The teacher outputs ``spec``'s active losses read (empty: no teacher needed)."""
    return {need for loss in active_losses(spec) for need in loss.needs}


def teacher_free(spec: Any) -> Any:
    """``spec`` with every registered KD weight at 0: a CE-only run that needs no teacher."""
    return dataclasses.replace(spec, **{loss.weight: 0.0 for loss in KD_LOSSES})


def _on(values: np.ndarray | Tensor, device: torch.device) -> Tensor:
    """Cached teacher outputs as a tensor on ``device`` (host arrays or device-resident)."""
    if isinstance(values, Tensor):
        return values.to(device)
    return torch.from_numpy(values).to(device)


def training_loss(student: torch.nn.Module, spec: Any, outputs: Any, *, online_teacher=None):
    """The student's training loss function ``(images, labels, index) -> loss``.

    Args:
        student: Returns ``(logits, embedding)``.
        spec: The DistillSpec (weights, temperature, feature loss, text scale).
        outputs: The cached :class:`~fasnas.teacher.cache.TeacherOutputs` of the training
            frames (rows by ``index``; or their device-resident view,
            :class:`~fasnas.resident.ResidentView`), or None in online mode or for a
            teacher-free run.
        online_teacher: A teacher run on every (augmented) batch instead of the cache.
    """
    active = active_losses(spec)
    needs = {need for loss in active for need in loss.needs}
    text = None if outputs is None else outputs.text
    if online_teacher is not None and hasattr(online_teacher, "class_text_embeddings"):
        text = online_teacher.class_text_embeddings().detach().float().cpu().numpy()

    def loss_fn(images: Tensor, labels: Tensor, index: np.ndarray) -> Tensor:
        logits, embedding = student(images)
        logits, embedding = logits.float(), embedding.float()
        t_logits = t_emb = None
        if needs & {"logits", "embeddings"}:
            if online_teacher is not None:
                with torch.no_grad():
                    t_logits = online_teacher(images).float()
                    t_emb = online_teacher.embed(images).float()
            else:
                t_logits = _on(outputs.logits(index), images.device)
                t_emb = _on(outputs.embeddings(index), images.device)
        text_emb = None
        if "text" in needs and text is not None:
            text_emb = torch.from_numpy(np.asarray(text, dtype=np.float32)).to(images.device)
        batch = Batch(logits, embedding, labels, t_logits, t_emb, text_emb)
        loss = spec.w_ce * losses.cross_entropy(logits, labels)
        for kd_loss in active:
            if "text" in kd_loss.needs and text_emb is None:
                continue  # a teacher without class text embeddings (FLIP-V)
            loss = loss + getattr(spec, kd_loss.weight) * kd_loss.fn(batch, spec)
        return loss

    return loss_fn
