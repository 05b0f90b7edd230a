"""Calibrates the synthetic MCIO generator: how hard is leave-one-domain-out on it?

Synthesises a small benchmark, trains a tiny CNN on the ``train`` lists of three of M/C/I/O
(CPU, one thread, balanced batches per (domain, class) as FLIP samples them) and prints the
video-level HTER at the test-EER threshold (FLIP's paper convention, docs/flip.md §3) and the
AUC on the held-out domain's ``test`` list. The generator targets cross-domain HTERs of about
5-30 %: not 0 (trivial) and not 50 (impossible). A seen-domain figure (the target's
``train/``-folder subjects join the sources; its ``test/``-folder subjects are tested) is
printed as a reference: it should be clearly lower, which shows that the difficulty comes from
the domain shift::

    .venv/bin/python benchmarks/synth_calibration.py --scale 0.1 --size 64 --seeds 0 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from torch import nn

from fasnas.data.layout import Layout
from fasnas.data.synth import synthesize

PROTOCOLS = {"M": "msu", "C": "casia", "I": "replay", "O": "oulu"}
TARGET = (5.0, 30.0)


def hter_at_test_eer(labels: np.ndarray, scores: np.ndarray) -> float:
    """HTER (%) at the threshold where |FAR - FRR| is smallest on these scores (label 1 = real)."""
    fpr, tpr, _ = roc_curve(labels, scores, pos_label=1)
    frr = 1 - tpr
    best = int(np.argmin(np.abs(fpr - frr)))
    return float((fpr[best] + frr[best]) / 2 * 100)


def tiny_cnn() -> nn.Module:
    """Three strided conv blocks, global average pooling and a linear head (~25k params)."""

    def block(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    return nn.Sequential(
        block(3, 16),
        block(16, 32),
        block(32, 64),
        block(64, 64),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 2),
    )


def load(layout: Layout, domain: str, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images (N, 3, H, W) float32 in [-1, 1], labels and video ids of one list pair."""
    records = layout.records(domain, split)
    images = np.stack([cv2.imread(str(r.path))[..., ::-1] for r in records])
    images = images.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1
    return images, np.array([r.label for r in records]), [r.video_id for r in records]


def train(
    sources: list[tuple[np.ndarray, np.ndarray]], steps: int, per_group: int, seed: int
) -> nn.Module:
    """Fit the tiny CNN with batches of ``per_group`` images per (source domain, class)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = tiny_cnn()
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-4)
    groups = [
        (images, np.flatnonzero(labels == label), label)
        for images, labels in sources
        for label in (0, 1)
    ]
    model.train()
    for _ in range(steps):
        batch, targets = [], []
        for images, indices, label in groups:
            pick = rng.choice(indices, per_group, replace=len(indices) < per_group)
            chunk = images[pick]
            flip = rng.random(per_group) < 0.5
            chunk[flip] = chunk[flip, :, :, ::-1]
            batch.append(chunk)
            targets += [label] * per_group
        x = torch.from_numpy(np.ascontiguousarray(np.concatenate(batch)))
        loss = nn.functional.cross_entropy(model(x), torch.tensor(targets))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


def evaluate(model: nn.Module, images: np.ndarray, labels: np.ndarray, videos: list[str]):
    """Video-level (HTER % at the test EER, AUC) of ``model`` on one test set."""
    with torch.no_grad():
        scores = torch.softmax(model(torch.from_numpy(images)), dim=1)[:, 1].numpy()
    fused: dict[str, list[float]] = defaultdict(list)
    truth: dict[str, int] = {}
    for video, label, score in zip(videos, labels, scores, strict=True):
        fused[video].append(float(score))
        truth[video] = int(label)
    y = np.array([truth[v] for v in fused])
    s = np.array([np.mean(fused[v]) for v in fused])
    return hter_at_test_eer(y, s), float(roc_auc_score(y, s) * 100)


def run(root: Path, steps: int, per_group: int, seed: int) -> dict[str, tuple[float, ...]]:
    """Cross-domain and seen-domain figures of every protocol on one synthesised root."""
    layout = Layout(root)
    train_sets = {d: load(layout, d, "train") for d in PROTOCOLS.values()}
    test_sets = {d: load(layout, d, "test") for d in PROTOCOLS.values()}
    results = {}
    for protocol, target in PROTOCOLS.items():
        sources = [train_sets[d][:2] for d in PROTOCOLS.values() if d != target]
        cross = evaluate(train(sources, steps, per_group, seed), *test_sets[target])
        # seen-domain reference: the target's own train/-folder subjects join the sources, and
        # its test/-folder subjects are tested (subject-disjoint, as the test list is a subset
        # of the train list)
        seen = [*sources, _folder(train_sets[target], "train")[:2]]
        inside = evaluate(train(seen, steps, per_group, seed), *_folder(test_sets[target], "test"))
        results[protocol] = (*cross, *inside)
    return results


def _folder(data: tuple[np.ndarray, np.ndarray, list[str]], folder: str):
    """The part of a loaded list whose videos sit in the ``folder`` directory."""
    images, labels, videos = data
    keep = [i for i, video in enumerate(videos) if video.split("/")[1] == folder]
    return images[keep], labels[keep], [videos[i] for i in keep]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--per-group", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    table = defaultdict(list)
    started = time.perf_counter()
    for seed in args.seeds:
        with tempfile.TemporaryDirectory(prefix="fasnas-synth-cal-") as tmp:
            summary = synthesize(
                Path(tmp), scale=args.scale, size=args.size, seed=seed, workers=args.workers
            )
            print(summary)
            train_started = time.perf_counter()
            for protocol, figures in run(Path(tmp), args.steps, args.per_group, seed).items():
                table[protocol].append(figures)
            print(f"training and testing: {time.perf_counter() - train_started:.1f} s")
    print(f"\nseeds {args.seeds}, scale {args.scale}, size {args.size}, {args.steps} steps")
    print("protocol  cross HTER %  cross AUC %  seen HTER %  seen AUC %")
    means = []
    for protocol, rows in table.items():
        m = np.mean(rows, axis=0)
        means.append(m)
        spread = ", ".join(f"{row[0]:.1f}" for row in rows)
        print(
            f"{protocol:<9} {m[0]:>12.1f}  {m[1]:>11.1f}  {m[2]:>10.1f}  {m[3]:>9.1f}"
            f"   cross HTER per seed: {spread}"
        )
    avg = np.mean(means, axis=0)
    print(f"{'avg':<9} {avg[0]:>12.1f}  {avg[1]:>11.1f}  {avg[2]:>10.1f}  {avg[3]:>9.1f}")
    low, high = TARGET
    verdict = "inside" if low <= avg[0] <= high else "OUTSIDE"
    print(
        f"mean cross-domain HTER {avg[0]:.1f} % is {verdict} the {low:g}-{high:g} % target; "
        f"cross/seen-domain HTER ratio {avg[0] / max(avg[2], 1e-9):.1f}x; "
        f"total {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
