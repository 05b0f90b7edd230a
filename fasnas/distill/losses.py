"""Knowledge-distillation losses, as pure functions of tensors.

Owns the losses a student is trained with. Every function takes tensors, returns a scalar tensor
(or logits), keeps the autograd graph of the *student* inputs, and has no state. Teacher targets
(``teacher_logits``, ``teacher_emb``) are detached: the teacher is frozen (its outputs are cached),
so no gradient may flow into it even if a caller passes a tensor that requires grad.

Class order everywhere is (spoof, real) = (0, 1), as in :mod:`fasnas.metrics`.
No timm/open_clip import here.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

FEATURE_KINDS = ("cosine", "mse")


def _check_logits(name: str, logits: Tensor) -> None:
    if logits.ndim != 2:
        raise ValueError(f"{name} must be (N, C) logits, got shape {tuple(logits.shape)}")


def cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy of (N, C) logits against integer labels (N,)."""
    _check_logits("logits", logits)
    if labels.shape != logits.shape[:1]:
        raise ValueError(f"labels must have shape ({logits.shape[0]},), got {tuple(labels.shape)}")
    return F.cross_entropy(logits, labels.long(), reduction="mean")


def hinton_kd(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """Hinton et al. (2015) distillation loss ``T² · KL(softmax(t/T) ‖ softmax(s/T))``.

    Reduction: KL summed over classes, then averaged over the batch. The T² factor keeps the
    gradient's magnitude independent of T. The teacher logits are detached.
    """
    _check_logits("student_logits", student_logits)
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(
            f"teacher_logits shape {tuple(teacher_logits.shape)} != "
            f"student_logits shape {tuple(student_logits.shape)}"
        )
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    log_q = F.log_softmax(student_logits / temperature, dim=1)
    log_p = F.log_softmax(teacher_logits.detach().to(log_q.dtype) / temperature, dim=1)
    kl = F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)
    return kl * temperature**2


def feature_distillation(student_emb: Tensor, teacher_emb: Tensor, kind: str = "cosine") -> Tensor:
    """Match student embeddings (N, D) to the teacher's (N, D), teacher detached.

    ``kind="cosine"``: mean over the batch of ``1 - cos(s_i, t_i)`` (scale-free; 0 when aligned,
    2 when opposite). ``kind="mse"``: mean squared error over all N·D elements. The student must
    already be projected to the teacher's dimension D.
    """
    if kind not in FEATURE_KINDS:
        raise ValueError(f"unknown feature distillation kind {kind!r}; use one of {FEATURE_KINDS}")
    if student_emb.ndim != 2 or student_emb.shape != teacher_emb.shape:
        raise ValueError(
            f"student_emb {tuple(student_emb.shape)} and teacher_emb {tuple(teacher_emb.shape)} "
            "must both be (N, D) with the same shape"
        )
    target = teacher_emb.detach().to(student_emb.dtype)
    if kind == "cosine":
        return (1.0 - F.cosine_similarity(student_emb, target, dim=1, eps=1e-8)).mean()
    return F.mse_loss(student_emb, target, reduction="mean")


def text_alignment_logits(
    student_emb: Tensor, class_text_emb: Tensor, logit_scale: float
) -> Tensor:
    """FLIP-IT's classification rule: ``logit_scale * cos(student_emb, class_text_emb[c])``.

    ``class_text_emb`` is (2, D), rows (spoof, real) — the prompt-averaged text embeddings;
    ``student_emb`` is (N, D). Returns (N, 2) logits. ``logit_scale`` is the plain multiplier,
    i.e. FLIP's ``logit_scale.exp()`` (100.0 for CLIP's ln(100)), not its logarithm.
    """
    if class_text_emb.ndim != 2 or class_text_emb.shape[0] != 2:
        raise ValueError(
            f"class_text_emb must be (2, D) rows (spoof, real), got {tuple(class_text_emb.shape)}"
        )
    if student_emb.ndim != 2 or student_emb.shape[1] != class_text_emb.shape[1]:
        raise ValueError(
            f"student_emb must be (N, {class_text_emb.shape[1]}), got {tuple(student_emb.shape)}"
        )
    image = F.normalize(student_emb, dim=1, eps=1e-8)
    text = F.normalize(class_text_emb.to(image.dtype), dim=1, eps=1e-8)
    return logit_scale * image @ text.t()


def text_alignment_loss(
    student_emb: Tensor,
    class_text_emb: Tensor,
    logit_scale: float,
    labels: Tensor,
    teacher_logits: Tensor | None = None,
    temperature: float = 1.0,
    kd_weight: float = 1.0,
) -> Tensor:
    """Cross-entropy of :func:`text_alignment_logits` on ``labels``, plus
    ``kd_weight * hinton_kd(those logits, teacher_logits, temperature)`` when a teacher is given.
    """
    logits = text_alignment_logits(student_emb, class_text_emb, logit_scale)
    loss = cross_entropy(logits, labels)
    if teacher_logits is not None:
        loss = loss + kd_weight * hinton_kd(logits, teacher_logits, temperature)
    return loss


__all__ = [
    "FEATURE_KINDS",
    "cross_entropy",
    "feature_distillation",
    "hinton_kd",
    "text_alignment_logits",
    "text_alignment_loss",
]
