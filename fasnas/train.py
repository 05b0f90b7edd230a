"""The one fit/evaluate loop, shared by teacher fine-tuning, teacher evaluation and students.

Owns AMP, FLIP's balanced batches per (domain, class), the optimiser/schedule loop, and
scoring a frame set into both metric sets of docs/flip.md §3: the paper-comparable test-EER
figure and the honest figure at a threshold fixed on source validation. The augmentations are
:mod:`fasnas.augment`'s.

A batch is made on the host (frames gathered from the memory-mapped caches, augmented with
OpenCV, copied to the device; pinned on CUDA) or, given a :class:`~fasnas.resident.ResidentView`,
gathered and augmented on the device itself. The loop never waits for the device between
steps: a non-finite loss is recorded in a device flag and checked every
:data:`FINITE_CHECK_EVERY` steps and at the end (failing with the first bad step), and the
logged losses are read once, at the end.

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

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from fasnas.augment import Augment
from fasnas.data.frameset import FrameSet
from fasnas.metrics import eer_threshold, evaluate
from fasnas.preprocess import Preprocess
from fasnas.resident import ResidentView

LossFn = Callable[[torch.Tensor, torch.Tensor, np.ndarray], torch.Tensor]
Forward = Callable[[torch.Tensor], torch.Tensor]
THRESHOLDS = ("test-eer", "source-threshold")
FINITE_CHECK_EVERY = 50  # steps between reads of the device's non-finite-loss flag


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


def to_input(images: np.ndarray, norm: Preprocess, device: torch.device) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` -> normalised float ``(B, 3, size, size)`` on ``device``."""
    if device.type == "cuda":
        pinned = torch.from_numpy(np.ascontiguousarray(images)).pin_memory()
        return norm.normalize(pinned.to(device, non_blocking=True))
    return norm.normalize(images, device)


def is_convolutional(model: nn.Module) -> bool:
    """Whether ``model`` has a convolution that is not a patchify stem (kernel == stride):
    such models run faster in ``channels_last`` on a GPU."""
    return any(
        isinstance(m, nn.Conv2d) and tuple(m.kernel_size) != tuple(m.stride)
        for m in model.modules()
    )


class FiniteGuard:
    """A device-side record of the first step with a non-finite loss, read only every
    ``every`` steps (no host-device synchronisation on the other steps)."""

    def __init__(self, device: torch.device, every: int = FINITE_CHECK_EVERY) -> None:
        self.every = every
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)
        self.bad_value = torch.zeros((), dtype=torch.float32, device=device)

    def record(self, loss: torch.Tensor, step: int) -> None:
        bad = ~torch.isfinite(loss.detach()) & (self.first_bad < 0)
        self.first_bad = torch.where(bad, torch.full_like(self.first_bad, step), self.first_bad)
        self.bad_value = torch.where(bad, loss.detach().float(), self.bad_value)

    def check(self, step: int, last: bool = False) -> None:
        """Raise :class:`NonFiniteLossError` naming the first bad step (every ``every`` steps
        and at the last one)."""
        if not last and (step + 1) % self.every:
            return
        first = int(self.first_bad)
        if first >= 0:
            raise NonFiniteLossError(f"non-finite loss {float(self.bad_value)} at step {first}")


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
    resident: ResidentView | None = None,
) -> FitResult:
    """Train ``model`` in place for ``iterations`` balanced batches.

    Args:
        resident: ``frames`` on the device (:mod:`fasnas.resident`): batches are gathered and
            augmented there. None: the host path.

    Raises:
        NonFiniteLossError: When a loss is NaN or infinite (checked every
            :data:`FINITE_CHECK_EVERY` steps and at the end; names the first bad step).
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
    channels_last = device.type == "cuda" and is_convolutional(model)
    model.to(device).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    result = FitResult(iterations=iterations, seconds=0.0)
    guard = FiniteGuard(device)
    logged: list[torch.Tensor] = []
    start = time.perf_counter()
    bar = tqdm(range(iterations), desc=desc, disable=not progress, leave=False, mininterval=1.0)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr * lr_factor(step, iterations, warmup_frac, schedule)
        index = next(batches)
        if resident is not None:
            images = resident.images(index)
            if augment is not None:
                images = augment.apply_torch(images, augment.draw(len(index), rng))
            x = norm.normalize(images)
            y = resident.labels(index)
        else:
            images = frames.images(index)
            if augment is not None:
                images = augment(images, rng)
            x = to_input(images, norm, device)
            y = torch.from_numpy(frames.labels[index]).to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, amp):
            loss = loss_fn(x, y, index)
        guard.record(loss, step)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        if step % log_every == 0 or step == iterations - 1:
            logged.append(loss.detach())
            if progress:
                bar.set_postfix(loss=f"{float(logged[-1]):.4f}")
        if on_step is not None:
            on_step(step)
        guard.check(step, last=step == iterations - 1)
    result.losses = [float(value) for value in logged]
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


def evaluate_source_val(forward: Forward, val: FrameSet, norm: Preprocess, device) -> dict:
    """The source-validation metrics alone, at their own EER threshold (a protocol without a
    target: ``ALL``)."""
    scores = predict_scores(forward, val, norm=norm, device=device)
    threshold = eer_threshold(scores, val.labels, val.video_ids)
    return evaluate(scores, val.labels, val.video_ids, threshold=threshold)


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
