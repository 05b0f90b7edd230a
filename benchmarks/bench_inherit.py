"""Inherit against scratch: ViT students starting from a ViT teacher's weights, synthetic MCIO.

Builds everything in a temporary folder: synthetic MCIO (``fasnas data synth``), a study config
whose teacher is the built-in tiny CLIP ViT (``teacher.model: tiny``: 2 layers, 64 wide, 2 heads,
patch 8, 32 px, QuickGELU) trained briefly from random init per protocol (``fasnas teacher
train``) and cached. Then, through the real pipeline (``StudentObjective.run_protocol``: the same
fit, distillation loss and evaluation as a search trial), each ViT student is trained with
``init: inherit`` and ``init: scratch`` at equal iterations over several seeds, and ``scratch``
again at more iterations, to see how many it needs to match ``inherit``. Every student is
distilled (Hinton KD + feature loss) with the same settings.

The figure of merit is the target HTER at the **source threshold** (fixed on the sources'
held-out validation videos: the honest, deployable figure); the test-EER HTER (FLIP's
convention, the threshold chosen on the target itself) is printed beside it. Run::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_inherit.py [--protocols M C I O] \\
        [--seeds 0 1 2] [--iterations 60] [--scratch-iterations 120 240]

Claim (issue 14): at equal iterations, inherited students are at least 3 points better.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from fasnas.config import load_config
from fasnas.distill.spec import DistillSpec
from fasnas.objective import StudentObjective
from fasnas.search.settings import ObjectiveSettings
from fasnas.students import StudentSpec
from fasnas.teacher.cache import cache_protocol
from fasnas.teacher.train import train_teacher

PATCH = 8
ARCHS = {  # (depth, width, heads) of ViT students at 32 px; d2 w64 h2 is the teacher's shape
    "d2 w64 h2": (2, 64, 2),
    "d1 w32 h2": (1, 32, 2),
    "d2 w48 h4": (2, 48, 4),
}


def spec(arch: str, init: str) -> StudentSpec:
    depth, width, heads = ARCHS[arch]
    shape = {"depth": depth, "embed_dim": width, "num_heads": heads, "patch_size": PATCH}
    return StudentSpec("vit", {**shape, "act": "quick_gelu"}, 32, init=init)


def write_study(folder: Path, root: Path, protocols: list[str], teacher_steps: int) -> Path:
    config = {
        "name": "bench-inherit",
        "seed": 0,
        "device": "cpu",
        "data": {"root": str(root), "size": 32, "val_fraction": 0.15},
        "protocols": protocols,
        "teacher": {
            "variant": "flip-it",
            "model": "tiny",  # a CLIP ViT: what `inherit` takes its slices from
            "init": "random",
            "train": {
                "iterations": teacher_steps,
                "lr": 1.0e-3,
                "schedule": "cosine",
                "weight_decay": 1.0e-4,
                "batch_per_group": 8,
                "frozen": ["clip.token_embedding"],
            },
        },
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run(objective, arch: str, init: str, distill, seeds, protocols) -> dict[str, list[float]]:
    """Per seed, the mean over protocols of the target HTER at each threshold."""
    out: dict[str, list[float]] = {"source-threshold": [], "test-eer": []}
    for seed in seeds:
        results = [objective.run_protocol(p, spec(arch, init), distill, seed) for p in protocols]
        for threshold in out:
            out[threshold].append(float(np.mean([r[threshold]["hter"] for r in results])))
    return out


def shown(values: list[float]) -> str:
    return f"{100 * np.mean(values):5.1f} ± {100 * np.std(values):4.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocols", nargs="+", default=["M", "C", "I", "O"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--scratch-iterations", type=int, nargs="*", default=[120, 240])
    parser.add_argument("--teacher-steps", type=int, default=600)
    parser.add_argument("--scale", type=float, default=0.25, help="synthetic data scale")
    parser.add_argument("--archs", nargs="+", choices=list(ARCHS), default=list(ARCHS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fasnas-inherit-") as temp:
        folder = Path(temp)
        command = [sys.executable, "-m", "fasnas", "data", "synth", str(folder / "data")]
        command += ["--scale", str(args.scale), "--size", "32", "--seed", "0", "--workers", "2"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        config = load_config(
            write_study(folder, folder / "data", args.protocols, args.teacher_steps)
        )
        for protocol in args.protocols:
            info = train_teacher(config, protocol, progress=False)
            print(info.summary(), flush=True)
            cache_protocol(config, protocol, progress=False)
        print(f"data and teachers: {time.perf_counter() - start:.0f} s", flush=True)
        objective = StudentObjective(config, space=None, settings=ObjectiveSettings())
        kd = DistillSpec(w_kd=1.0, temperature=4.0, w_feat=0.5, batch_per_group=4, lr=1e-3,
                         iterations=args.iterations)  # fmt: skip
        print(
            f"protocols {args.protocols}, seeds {args.seeds}; mean target HTER % over "
            "protocols, mean ± std over seeds: source threshold (honest) | test-EER (FLIP)"
        )
        for arch in args.archs:
            got = {}
            for init in ("inherit", "scratch"):
                got[init] = run(objective, arch, init, kd, args.seeds, args.protocols)
                print(f"vit {arch} {init:<8} {args.iterations:>4} it: "
                      f"{shown(got[init]['source-threshold'])} | {shown(got[init]['test-eer'])}",
                      flush=True)  # fmt: skip
            gain = np.mean(got["scratch"]["source-threshold"]) - np.mean(
                got["inherit"]["source-threshold"]
            )
            print(f"vit {arch}: inherit better by {100 * gain:.1f} points (source threshold)")
            if arch != args.archs[0]:
                continue
            target = np.mean(got["inherit"]["source-threshold"])
            for steps in args.scratch_iterations:
                longer = DistillSpec(**{**kd.to_dict(), "iterations": steps})
                more = run(objective, arch, "scratch", longer, args.seeds, args.protocols)
                verdict = (
                    "matches" if np.mean(more["source-threshold"]) <= target else "does not match"
                )
                print(f"vit {arch} scratch  {steps:>4} it: {shown(more['source-threshold'])} | "
                      f"{shown(more['test-eer'])}  ({verdict} inherit at "
                      f"{args.iterations})", flush=True)  # fmt: skip
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
