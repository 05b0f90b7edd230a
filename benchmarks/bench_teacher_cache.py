"""One student training epoch with cached teacher outputs vs online teacher forward passes.

The teacher is a real-size FLIP-IT on open_clip ViT-B-16 (random weights) at 224 px; the student
is mobilenetv3_large_100 at 224 px. Both epochs run the project's own loop (`fasnas.train.fit`
with `fasnas.distill.compose.training_loss`: CE + Hinton KD + feature distillation) over the same
balanced batches; the only difference is where the teacher's logits and embeddings come from.
Building the cache (one teacher pass over every frame, done once per study) is timed apart.

Run::

    .venv/bin/python benchmarks/bench_teacher_cache.py [--frames 96] [--per-group 6]

Claim (issue 3): cached is >= 4x faster per epoch (arithmetic says about 5x).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from fasnas.data.cache import FrameCache
from fasnas.data.frameset import FrameSet
from fasnas.data.layout import FrameRecord
from fasnas.distill.compose import training_loss
from fasnas.distill.spec import DistillSpec
from fasnas.students import StudentSpec, create_student
from fasnas.teacher.cache import TeacherCache, TeacherOutputs
from fasnas.teacher.flip import build_teacher
from fasnas.train import fit

SIZE = 224


def write_frames(folder: Path, count: int, rng: np.random.Generator) -> list[FrameRecord]:
    records = []
    for i in range(count):
        domain, label = ("msu", "casia")[i % 2], (i // 2) % 2
        noise = rng.normal(128, 40, (SIZE // 8, SIZE // 8, 3)).clip(0, 255).astype(np.uint8)
        image = cv2.resize(noise, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
        path = folder / f"{domain}_{label}_{i:04d}_frame0.png"
        cv2.imwrite(str(path), image)
        records.append(FrameRecord(path, label, domain, f"{domain}/{i:04d}", "train"))
    return records


def epoch(student, frames, loss_fn, norm, per_group: int) -> float:
    steps = len(frames) // (per_group * len(frames.groups()))
    result = fit(
        student, frames, loss_fn, norm=norm, iterations=steps, lr=1e-3, weight_decay=0.0,
        per_group=per_group, seed=0, device=torch.device("cpu"), progress=False,
    )  # fmt: skip
    return result.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--per-group", type=int, default=6, help="images per (domain, class)")
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        records = write_frames(Path(tmp), args.frames, np.random.default_rng(0))
        cache = FrameCache.from_records(
            records, SIZE, Path(tmp) / "c", name="bench", progress=False
        )
        frames = FrameSet.from_caches([(cache, None)])
        teacher = build_teacher("flip-it", "ViT-B-16-quickgelu").eval()
        start = time.perf_counter()
        teacher_cache, _ = TeacherCache.build_or_open(
            teacher, "bench", Path(tmp) / "t", "M", cache, device=torch.device("cpu"),
            batch_size=16, progress=False,
        )  # fmt: skip
        build_seconds = time.perf_counter() - start
        outputs = TeacherOutputs(by_cache={cache.key: teacher_cache}, frames=frames)
        distill = DistillSpec(w_kd=1.0, w_feat=1.0)
        spec = StudentSpec("mobilenetv3", {"variant": "large", "width": 1.0}, img_size=SIZE)
        norm = teacher.preprocess

        torch.manual_seed(0)
        student = create_student(spec, embed_dim=teacher.embed_dim)
        cached = epoch(student, frames, training_loss(student, distill, outputs), norm,
                       args.per_group)  # fmt: skip
        torch.manual_seed(0)
        student = create_student(spec, embed_dim=teacher.embed_dim)
        online_loss = training_loss(student, distill, None, online_teacher=teacher)
        online = epoch(student, frames, online_loss, norm, args.per_group)
    threads = torch.get_num_threads()
    print(f"teacher ViT-B-16 @224 (FLIP-IT), student mobilenetv3_large_100 @224, "
          f"{args.frames} frames, batch {args.per_group * 4}, {threads} threads")  # fmt: skip
    print(f"cache build (once per study): {build_seconds:.1f}s")
    print(f"epoch with cached teacher outputs: {cached:.1f}s")
    print(f"epoch with online teacher:         {online:.1f}s")
    print(f"ratio online/cached: {online / cached:.2f}x (claim >= 4x)")


if __name__ == "__main__":
    main()
