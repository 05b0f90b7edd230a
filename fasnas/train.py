"""The one fit/evaluate loop, shared by teacher fine-tuning, teacher evaluation and students.

Owns device selection and AMP, FLIP's balanced batches per (domain, class), the augmentations
(horizontal flip, HSV saturation jitter), the optimiser/schedule loop, and scoring a frame set
into both metric sets of docs/flip.md §3: the paper-comparable test-EER figure and the honest
figure at a threshold fixed on source validation.

The loop is generic: the caller passes ``loss_fn(images, labels, index) -> loss`` where
``index`` are the frame-set indices of the batch, so a student can fetch its cached teacher
outputs for exactly those frames.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from fasnas.data.frameset import FrameSet
from fasnas.metrics import eer_threshold, evaluate
from fasnas.preprocess import Preprocess

LossFn = Callable[[torch.Tensor, torch.Tensor, np.ndarray], torch.Tensor]
Forward = Callable[[torch.Tensor], torch.Tensor]
THRESHOLDS = ("test-eer", "source-threshold")


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss (the trial fails with this reason)."""


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """Mixed precision on CUDA (bf16 when supported, else fp16); a no-op on the CPU."""
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast(device_type="cuda", dtype=dtype)


def seed_everything(seed: int) -> None:
    """Seed torch's CPU and CUDA generators (numpy generators are passed explicitly)."""
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


class BalancedBatches(Iterator[np.ndarray]):
    """FLIP's sampler: every batch holds ``per_group`` frames of each (domain, class).

    Each group is walked in reshuffled passes, so every frame is seen once per pass.
    """

    def __init__(self, frames: FrameSet, per_group: int, seed: int) -> None:
        self._groups = list(frames.groups().values())
        if not self._groups:
            raise ValueError("cannot draw balanced batches from an empty frame set")
        self._per_group = per_group
        self._rng = np.random.default_rng(seed)
        self._queues: list[list[int]] = [[] for _ in self._groups]

    def _take(self, group: int) -> list[int]:
        queue = self._queues[group]
        while len(queue) < self._per_group:
            queue.extend(self._rng.permutation(self._groups[group]).tolist())
        taken, self._queues[group] = queue[: self._per_group], queue[self._per_group :]
        return taken

    def __next__(self) -> np.ndarray:
        return np.array(
            [i for group in range(len(self._groups)) for i in self._take(group)], dtype=np.int64
        )


@dataclass(frozen=True)
class Augment:
    """FLIP's augmentations, scaled: horizontal flip and HSV saturation x U(1-s, 1+s)."""

    flip_p: float = 0.5
    saturation: float = 0.2
    saturation_p: float = 0.5

    @classmethod
    def scaled(cls, strength: float) -> Augment:
        """``strength`` 1 is FLIP's recipe, 0 is no augmentation."""
        return cls(flip_p=0.5 * min(strength, 1.0), saturation=0.2 * strength, saturation_p=0.5)

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = images.copy()
        flips = rng.random(len(out)) < self.flip_p
        out[flips] = out[flips, :, ::-1]
        if self.saturation > 0:
            for i in np.flatnonzero(rng.random(len(out)) < self.saturation_p):
                factor = rng.uniform(1 - self.saturation, 1 + self.saturation)
                hsv = cv2.cvtColor(out[i], cv2.COLOR_RGB2HSV).astype(np.float32)
                hsv[..., 1] = np.clip(hsv[..., 1] * factor, 0, 255)
                out[i] = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
        return out


def to_input(images: np.ndarray, norm: Preprocess, device: torch.device) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` -> normalised float ``(B, 3, size, size)`` on ``device``."""
    return norm.normalize(images, device)


@dataclass
class FitResult:
    """What a fit did: steps, seconds, and the loss every ``log_every`` steps."""

    iterations: int
    seconds: float
    losses: list[float] = field(default_factory=list)

    @property
    def final_loss(self) -> float:
        return self.losses[-1] if self.losses else math.nan


def lr_factor(step: int, iterations: int, warmup_frac: float, schedule: str) -> float:
    """Linear warm-up over ``warmup_frac`` of the steps, then constant or cosine to zero."""
    warmup = int(round(warmup_frac * iterations))
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, iterations - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def fit(
    model: nn.Module,
    frames: FrameSet,
    loss_fn: LossFn,
    *,
    norm: Preprocess,
    iterations: int,
    lr: float,
    weight_decay: float,
    per_group: int,
    seed: int,
    device: torch.device,
    augment: Augment | None = None,
    optimizer: str = "adamw",
    warmup_frac: float = 0.0,
    schedule: str = "cosine",
    amp: bool = True,
    progress: bool = True,
    desc: str = "train",
    log_every: int = 10,
    on_step: Callable[[int], None] | None = None,
) -> FitResult:
    """Train ``model`` in place for ``iterations`` balanced batches.

    Raises:
        NonFiniteLossError: When a loss is NaN or infinite.
    """
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    batches = BalancedBatches(frames, per_group, seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer_cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[optimizer]
    opt = optimizer_cls(params, lr=lr, weight_decay=weight_decay)
    scaler = torch.amp.GradScaler(
        "cuda", enabled=amp and device.type == "cuda" and not torch.cuda.is_bf16_supported()
    )
    model.to(device).train()
    result = FitResult(iterations=iterations, seconds=0.0)
    start = time.perf_counter()
    bar = tqdm(range(iterations), desc=desc, disable=not progress, leave=False, mininterval=1.0)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr * lr_factor(step, iterations, warmup_frac, schedule)
        index = next(batches)
        images = frames.images(index)
        if augment is not None:
            images = augment(images, rng)
        x = to_input(images, norm, device)
        y = torch.from_numpy(frames.labels[index]).to(device)
        with autocast(device, amp):
            loss = loss_fn(x, y, index)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"non-finite loss {loss.item()} at step {step}")
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        if step % log_every == 0 or step == iterations - 1:
            result.losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{result.losses[-1]:.4f}")
        if on_step is not None:
            on_step(step)
    result.seconds = time.perf_counter() - start
    model.eval()
    return result


@torch.no_grad()
def predict_scores(
    forward: Forward,
    frames: FrameSet,
    *,
    norm: Preprocess,
    device: torch.device,
    batch_size: int = 256,
    amp: bool = True,
) -> np.ndarray:
    """P(real) for every frame of ``frames``: softmax of the (spoof, real) logits."""
    scores = np.empty(len(frames), dtype=np.float64)
    for start in range(0, len(frames), batch_size):
        index = np.arange(start, min(start + batch_size, len(frames)))
        x = to_input(frames.images(index), norm, device)
        with autocast(device, amp):
            logits = forward(x)
        scores[index] = torch.softmax(logits.float(), dim=1)[:, 1].cpu().numpy()
    return scores


def evaluate_scores(
    val_scores: np.ndarray, val: FrameSet, test_scores: np.ndarray, test: FrameSet
) -> dict[str, dict]:
    """The source-validation metrics and both metric sets of docs/flip.md §3 on the target.

    Returns:
        ``{"source-val": metrics, "test-eer": metrics, "source-threshold": metrics}``.
        ``source-val`` scores the held-out source-validation videos at their own EER threshold
        (the selection metric of :mod:`fasnas.selection`; it never sees the target);
        ``test-eer`` scores the target at FLIP's threshold chosen on the test scores themselves
        (paper-comparable); ``source-threshold`` scores the target at the threshold fixed on
        the source-validation videos (honest). The source threshold depends on source data only.
    """
    threshold = eer_threshold(val_scores, val.labels, val.video_ids)
    return {
        "source-val": evaluate(val_scores, val.labels, val.video_ids, threshold=threshold),
        "test-eer": evaluate(test_scores, test.labels, test.video_ids, threshold="test-eer"),
        "source-threshold": evaluate(
            test_scores, test.labels, test.video_ids, threshold=threshold
        ),
    }


def evaluate_model(
    forward: Forward,
    val: FrameSet,
    test: FrameSet,
    *,
    norm: Preprocess,
    device: torch.device,
    amp: bool = True,
) -> dict[str, dict]:
    """Score source validation and target test with ``forward``; both metric sets."""
    val_scores = predict_scores(forward, val, norm=norm, device=device, amp=amp)
    test_scores = predict_scores(forward, test, norm=norm, device=device, amp=amp)
    return evaluate_scores(val_scores, val, test_scores, test)
