"""Benchmark: random batches read from a FrameCache against decoding the same PNG files.

Claim: on 2 CPU cores, batches of 64 come from the cache at least 5x faster than
``cv2.imread`` + ``cvtColor`` + ``resize`` of the same files (one process, same batches).

    .venv/bin/python benchmarks/bench_frame_cache.py                       # 512 generated PNGs
    .venv/bin/python benchmarks/bench_frame_cache.py --root demo_data --domain oulu --split test

Without ``--root`` it writes ``--images`` smooth-noise 224 px PNGs (noise upscaled and lightly
grained, so they compress like face crops rather than like white noise), half labelled real and
half spoof. With ``--root`` it reads a FLIP layout (e.g. ``fasnas data synth`` output). Both
paths read files that were just written, so both run from a warm page cache. Prints both rates
(images/s), the ratio, and a one-line summary; exits 1 if the ratio is below ``--claim``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fasnas.data.cache import FrameCache
from fasnas.data.layout import FrameRecord, Layout


@dataclass
class BenchConfig:
    root: Path | None = None  # FLIP layout to read; None writes generated PNGs
    domain: str = "msu"  # domain of --root
    split: str = "train"  # split of --root
    images: int = 512  # generated PNGs (without --root)
    size: int = 224  # cache frame side in px
    batch_size: int = 64  # rows per batch, half real and half spoof
    batches: int = 30  # timed batches per method
    workers: int = 2  # decoding threads of the cache build
    seed: int = 0  # image generation and row sampling
    cache_dir: Path | None = None  # where the cache goes; None uses a temporary folder
    claim: float = 5.0  # the speed-up the script claims


def write_pngs(folder: Path, count: int, size: int, seed: int) -> list[FrameRecord]:
    """Write ``count`` smooth-noise PNGs of ``size`` px; half real (label 1), half spoof."""
    rng = np.random.default_rng(seed)
    records = []
    for index in range(count):
        coarse = rng.integers(0, 256, (14, 14, 3), dtype=np.uint8)
        image = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.int16)
        image += rng.normal(0.0, 3.0, image.shape).astype(np.int16)  # sensor-like grain
        label = index % 2
        path = folder / ("real" if label else "fake") / f"frame_{index:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.clip(image, 0, 255).astype(np.uint8))
        records.append(FrameRecord(path, label, "bench", f"video_{index:05d}", "train"))
    return records


def balanced_batches(labels: np.ndarray, config: BenchConfig) -> list[np.ndarray]:
    """``config.batches`` random batches, each half real rows and half spoof rows."""
    rng = np.random.default_rng(config.seed + 1)
    real, spoof = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    half = config.batch_size // 2
    batches = []
    for _ in range(config.batches):
        rows = np.concatenate(
            [
                rng.choice(real, half, replace=len(real) < half),
                rng.choice(spoof, config.batch_size - half, replace=len(spoof) < half),
            ]
        )
        batches.append(rng.permutation(rows))
    return batches


def decode_batch(paths: list[Path], size: int) -> np.ndarray:
    """The no-cache baseline: imread, BGR->RGB, resize if needed, stacked into one batch."""
    frames = []
    for path in paths:
        image = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        if image.shape[:2] != (size, size):
            shrink = min(image.shape[:2]) >= size
            method = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            image = cv2.resize(image, (size, size), interpolation=method)
        frames.append(image)
    return np.stack(frames)


def images_per_second(
    batches: list[np.ndarray], read: Callable[[np.ndarray], np.ndarray]
) -> float:
    """Throughput of ``read(rows)`` over the batches, after one untimed warm-up batch."""
    read(batches[0])
    started = time.perf_counter()
    for rows in batches:
        read(rows)
    elapsed = time.perf_counter() - started
    return sum(len(rows) for rows in batches) / elapsed


def run(config: BenchConfig, scratch: Path) -> float:
    """Build the cache, time both readers, print the figures; return the speed-up."""
    if config.root is None:
        records = write_pngs(scratch / "png", config.images, config.size, config.seed)
        source = f"{config.images} generated PNGs"
    else:
        records = Layout(config.root).records(config.domain, config.split)
        source = f"{config.root} {config.domain}/{config.split}"
    png_kib = np.mean([record.path.stat().st_size for record in records]) / 1024
    started = time.perf_counter()
    cache = FrameCache.from_records(
        records,
        config.size,
        config.cache_dir or scratch / "cache",
        name="bench",
        workers=config.workers,
        progress=False,
    )
    build_s = time.perf_counter() - started
    verb = "built" if cache.built else "opened"
    print(f"source: {source}, {len(records)} frames, mean file {png_kib:.1f} KiB")
    print(f"cache {verb} in {build_s:.2f} s ({config.workers} threads): {cache.path}")
    batches = balanced_batches(cache.labels, config)
    paths = [record.path for record in cache.records]
    check = batches[0][:4]
    if not np.array_equal(cache.batch(check), decode_batch([paths[i] for i in check], cache.size)):
        print("warning: cached frames differ from the baseline decode")
    cached = images_per_second(batches, cache.batch)
    decoded = images_per_second(
        batches, lambda rows: decode_batch([paths[i] for i in rows], cache.size)
    )
    ratio = cached / decoded
    print(f"cache  batches: {cached:10.0f} images/s")
    print(f"decode batches: {decoded:10.0f} images/s")
    print(f"ratio: {ratio:.1f}x")
    verdict = "met" if ratio >= config.claim else "NOT met"
    print(
        f"summary: frame cache {cached:.0f} img/s vs PNG decode {decoded:.0f} img/s = "
        f"{ratio:.1f}x at {config.size}px, batch {config.batch_size} "
        f"(claim >= {config.claim:g}x: {verdict})"
    )
    return ratio


def parse_args(argv: list[str] | None = None) -> BenchConfig:
    defaults = BenchConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--domain", default=defaults.domain)
    parser.add_argument("--split", default=defaults.split)
    parser.add_argument("--images", type=int, default=defaults.images)
    parser.add_argument("--size", type=int, default=defaults.size)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--batches", type=int, default=defaults.batches)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--claim", type=float, default=defaults.claim)
    return BenchConfig(**vars(parser.parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_frame_cache_") as scratch:
        ratio = run(config, Path(scratch))
    return 0 if ratio >= config.claim else 1


if __name__ == "__main__":
    sys.exit(main())
