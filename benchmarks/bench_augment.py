"""The augmentation's cost per training step on each path (issue 15).

FLIP's augmentation (horizontal flip, HSV saturation jitter) on one batch, timed on the CPU with
one thread (as every worker runs): the OpenCV path per image (the CPU path,
:meth:`fasnas.augment.Augment.apply_numpy`) and the vectorised torch path
(:meth:`~fasnas.augment.Augment.apply_torch`, the device path), at the demo's batch (24 frames
of 64 px) and a real one (48 and 96 frames of 224 px); and, on a GPU when there is one, the
torch path there. Both paths apply the same draw.

Run::

    .venv/bin/python benchmarks/bench_augment.py
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import torch

from fasnas.augment import Augment

SHAPES = ((24, 64), (48, 224), (96, 224))


def per_call(fn, *args, repeats: int = 20) -> float:
    fn(*args)
    start = time.perf_counter()
    for _ in range(repeats):
        fn(*args)
    return (time.perf_counter() - start) / repeats


def on_gpu(images: torch.Tensor, draw) -> None:
    Augment.apply_torch(images, draw)
    torch.cuda.synchronize()


def main() -> None:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    augment = Augment.scaled(1.0)
    rng = np.random.default_rng(0)
    cuda = torch.cuda.is_available()
    print("batch      opencv (CPU)   torch (CPU)" + ("   torch (GPU)" if cuda else ""))
    for n, size in SHAPES:
        images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
        draw = augment.draw(n, np.random.default_rng(1))
        tensor = torch.from_numpy(images)
        row = [
            per_call(augment.apply_numpy, images, draw),
            per_call(Augment.apply_torch, tensor, draw),
        ]
        if cuda:
            row.append(per_call(on_gpu, tensor.cuda(), draw))
        cells = "".join(f"{1000 * t:11.2f} ms" for t in row)
        print(f"{n:3d} x {size:3d} {cells}")


if __name__ == "__main__":
    main()
