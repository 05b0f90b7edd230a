"""How close the real training loop comes to pure forward+backward, and how busy a GPU gets.

Issue 15's GPU measurements (``benchmarks/gpu_check.sh`` runs this, then ``study estimate``):

1. **Loop efficiency.** For each model (default mobilenetv3_large_100 and vit_tiny_patch16_224,
   at ``--size`` 224, batch ``--batch`` 96 = 6 groups x 16), student training steps per second
   through the real :func:`fasnas.train.fit` (cached teacher outputs and frames resident on the
   device, augmentation on, CE + KD + feature loss, AMP) against pure forward+backward+AdamW on
   random device tensors with the same loss. Aim: ratio >= 0.9.
2. **Utilisation.** ``--workers 1 4``: that many processes each run the real loop on the same
   device at once for ``--seconds``; the aggregate steps per second and, on CUDA, the mean GPU
   utilisation sampled with ``nvidia-smi`` while they run.

The frames are random images written as a real frame cache (``FrameCache.from_records``), the
teacher outputs random arrays of the real shapes: the values do not change the speed.

Run::

    .venv/bin/python benchmarks/bench_gpu.py --device cuda            # on a GPU
    .venv/bin/python benchmarks/bench_gpu.py --device cpu --size 64 --batch 24 --steps 5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from fasnas.augment import Augment
from fasnas.data.cache import FrameCache
from fasnas.data.frameset import FrameSet
from fasnas.data.layout import FrameRecord
from fasnas.distill.compose import training_loss
from fasnas.distill.spec import DistillSpec
from fasnas.preprocess import Preprocess
from fasnas.resident import ResidentFrames
from fasnas.search.bench_settings import baseline_spec
from fasnas.students import create_student
from fasnas.train import autocast, fit

DOMAINS = ("msu", "casia", "replay")
EMBED_DIM = 512
NORM = Preprocess(224, (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
KD = DistillSpec(w_kd=1.0, w_feat=0.5)


class RandomOutputs:
    """Teacher outputs of the right shapes (logits, CLIP embeddings) by frame-set index."""

    text = None

    def __init__(self, n: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self._logits = rng.normal(size=(n, 2)).astype(np.float32)
        self._embeddings = rng.normal(size=(n, EMBED_DIM)).astype(np.float32)

    def logits(self, index: np.ndarray) -> np.ndarray:
        return self._logits[index]

    def embeddings(self, index: np.ndarray) -> np.ndarray:
        return self._embeddings[index]


def make_frames(folder: Path, size: int, per_group: int) -> FrameSet:
    """A frame cache of random frames: 3 domains x 2 classes x ``4 * per_group`` frames."""
    rng = np.random.default_rng(0)
    records = []
    for domain in DOMAINS:
        for label in (0, 1):
            for i in range(4 * per_group):
                noise = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
                image = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
                path = folder / f"{domain}_{label}_{i:04d}.png"
                cv2.imwrite(str(path), image)
                records.append(FrameRecord(path, label, domain, f"{domain}/{label}/{i}", "train"))
    cache = FrameCache.from_records(records, size, folder / "cache", name="gpu", progress=False)
    return FrameSet.from_caches([(cache, None)])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fit_rate(model: str, frames: FrameSet, device: torch.device, steps: int, size: int) -> float:
    """Steps per second of the real loop (after 3 warm-up steps)."""
    outputs = RandomOutputs(len(frames))
    resident = ResidentFrames(frames, outputs, device)
    view = resident.view(frames)
    torch.manual_seed(0)
    student = create_student(baseline_spec(model, size), embed_dim=EMBED_DIM)
    marks: dict[int, float] = {}

    def mark(step: int) -> None:
        if step in (2, steps + 2):
            _sync(device)
            marks[step] = time.perf_counter()

    per_group = len(frames) // (len(DOMAINS) * 2 * 4)
    fit(
        student,
        frames,
        training_loss(student, KD, view),
        norm=NORM.resized(size),
        iterations=steps + 3,
        lr=1e-4,
        weight_decay=0.05,
        per_group=per_group,
        seed=0,
        device=device,
        augment=Augment.scaled(1.0),
        progress=False,
        on_step=mark,
        resident=view,
    )
    return steps / (marks[steps + 2] - marks[2])


def pure_rate(model: str, batch: int, device: torch.device, steps: int, size: int) -> float:
    """Steps per second of forward + the same loss + backward + AdamW on random tensors."""
    torch.manual_seed(0)
    student = create_student(baseline_spec(model, size), embed_dim=EMBED_DIM).to(device).train()
    opt = torch.optim.AdamW(student.parameters(), lr=1e-4, weight_decay=0.05)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 2, (batch,), device=device)
    outputs = RandomOutputs(batch)
    loss_fn = training_loss(student, KD, outputs)
    index = np.arange(batch)
    scaler = torch.amp.GradScaler(
        "cuda", enabled=device.type == "cuda" and not torch.cuda.is_bf16_supported()
    )

    def step() -> None:
        with autocast(device, True):
            loss = loss_fn(x, y, index)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    for _ in range(3):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return steps / (time.perf_counter() - start)


def gpu_utilisation(device: torch.device) -> float | None:
    """The device's utilisation now (%), from nvidia-smi; None off CUDA or without it."""
    if device.type != "cuda":
        return None
    index = device.index if device.index is not None else 0
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
             "-i", str(index)],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return float(out.strip().splitlines()[0])


def worker(args: argparse.Namespace) -> None:
    """One process of the utilisation run: the real loop for ``--seconds``; prints its rate."""
    device = torch.device(args.device)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        frames = make_frames(Path(tmp), args.size, args.batch // 6)
        rates = []
        deadline = time.perf_counter() + args.seconds
        while time.perf_counter() < deadline:
            rates.append(fit_rate(args.models[0], frames, device, args.steps, args.size))
    print(json.dumps({"rate": float(np.mean(rates))}), flush=True)


def utilisation_run(args: argparse.Namespace, count: int) -> dict:
    """``count`` worker processes at once: aggregate steps/s and mean GPU utilisation."""
    command = [sys.executable, __file__, "--worker", "--device", args.device,
               "--models", args.models[0], "--size", str(args.size),
               "--batch", str(args.batch), "--steps", str(args.steps),
               "--seconds", str(args.seconds)]  # fmt: skip
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(count)
    ]
    device = torch.device(args.device)
    samples = []
    while any(p.poll() is None for p in processes):
        value = gpu_utilisation(device)
        if value is not None:
            samples.append(value)
        time.sleep(0.5)
    rates = [json.loads(p.communicate()[0].strip().splitlines()[-1])["rate"] for p in processes]
    utilisation = float(np.mean(samples)) if samples else None
    return {"workers": count, "steps_per_s": float(sum(rates)), "gpu_util": utilisation}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument(
        "--models", nargs="+", default=["mobilenetv3_large_100", "vit_tiny_patch16_224"]
    )
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=96, help="a multiple of 6 (groups)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 4])
    parser.add_argument("--seconds", type=float, default=30.0, help="per utilisation run")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    device = torch.device(args.device)
    torch.set_num_threads(1)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (1 thread)"
    print(f"device: {name}; size {args.size}, batch {args.batch}, {args.steps} timed steps")
    with tempfile.TemporaryDirectory() as tmp:
        frames = make_frames(Path(tmp), args.size, args.batch // 6)
        for model in args.models:
            real = fit_rate(model, frames, device, args.steps, args.size)
            pure = pure_rate(model, args.batch, device, args.steps, args.size)
            print(
                f"{model:<24} fit {real:8.2f} steps/s  pure {pure:8.2f} steps/s  "
                f"ratio {real / pure:.2f}"
            )
    for count in args.workers:
        run = utilisation_run(args, count)
        util = "n/a" if run["gpu_util"] is None else f"{run['gpu_util']:.0f}%"
        print(
            f"{count} worker(s) on one device: {run['steps_per_s']:.2f} steps/s in all, "
            f"GPU utilisation {util}"
        )


if __name__ == "__main__":
    main()
