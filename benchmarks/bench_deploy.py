"""Deployment figures (issue 17): ONNX parity per family, and what retention saves.

1. **Parity.** One student of each family of ``search_spaces/demo.yaml`` (random init, seed 0,
   the demo's sizes) is exported by :func:`fasnas.deploy.write_protocol` with TorchScript, ONNX
   and the uint8-input graphs, checked on real frames of a synthetic data cache (64 px, as the
   demo) against the PyTorch pipeline; the max abs logit differences are printed (the bundle's
   tolerance is 1e-4).
2. **Retention.** A demo-like study: N trials sampled from the demo space (Optuna's
   RandomSampler, seed 0), each saving real weights and results for M, C, I, O in a real
   artifact store, with its real GMACs and a seeded pseudo selection value as its two values;
   the artifact folder is measured before and after ``artifacts.keep: front``
   (:func:`fasnas.search.retention.prune_weights`).

Run it (about a minute on 2 cores)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_deploy.py --trials 16
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import optuna
import torch

DEMO_SPACE = Path(__file__).parents[1] / "search_spaces" / "demo.yaml"
FAMILIES = {
    "vit": {"family": "vit", "vit.depth": 3, "vit.embed_dim": 64, "vit.num_heads": 4,
            "vit.mlp_ratio": 4.0, "vit.img_size": 48},
    "mobilenetv3": {"family": "mobilenetv3", "mobilenetv3.width": 1.0,
                    "mobilenetv3.img_size": 64},
    "levit": {"family": "levit", "levit.variant": "128"},
}  # fmt: skip
DISTILL = {"w_kd": 1.0, "temperature": 2.0, "w_feat": 0.5, "feat_loss": "cosine", "lr": 1e-3,
           "aug_strength": 0.5}  # fmt: skip


def real_frames(folder: Path, n: int = 8) -> np.ndarray:
    """``n`` decoded frames of a synthetic MSU test cache at 64 px."""
    from fasnas.data.cache import FrameCache
    from fasnas.data.layout import Layout
    from fasnas.data.synth import synthesize

    synthesize(folder / "data", scale=0.05, size=64, seed=0, workers=1)
    layout = Layout(folder / "data")
    cache = FrameCache.open(layout, "msu", "test", 64, folder / "cache", progress=False)
    return cache.batch(np.linspace(0, len(cache) - 1, n).round().astype(int))


def parity(folder: Path) -> None:
    from fasnas.deploy import write_protocol
    from fasnas.preprocess import Preprocess
    from fasnas.space import SearchSpace
    from fasnas.students import create_student

    frames = real_frames(folder)
    teacher = Preprocess(224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    space = SearchSpace.load(DEMO_SPACE)
    print(f"parity on {len(frames)} real frames (64 px), max abs logit difference:")
    print(f"{'family':<12} {'spec':<40} torchscript  onnx       uint8 onnx")
    for family, params in FAMILIES.items():
        student_spec, distill = space.fixed({**params, **DISTILL})
        torch.manual_seed(0)
        student = create_student(student_spec, embed_dim=64).eval()
        checks = write_protocol(
            folder / family, student, student_spec, distill, teacher, {}, frames=frames,
            uint8_input=True,
        )  # fmt: skip
        diffs = [checks[k]["max_abs_diff"] for k in ("torchscript", "onnx", "onnx-uint8")]
        print(f"{family:<12} {student_spec.label:<40} " + "  ".join(f"{d:.1e}" for d in diffs))


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def retention(folder: Path, trials: int) -> None:
    from fasnas.cost import spec_cost
    from fasnas.search.artifact_settings import ArtifactSettings
    from fasnas.search.artifacts import AtomicFileSystemArtifactStore, save_protocol
    from fasnas.search.retention import prune_weights
    from fasnas.space import SearchSpace
    from fasnas.students import create_student

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = SearchSpace.load(DEMO_SPACE)
    study = optuna.create_study(
        directions=["minimize"] * 2, sampler=optuna.samplers.RandomSampler(seed=0)
    )
    store_dir = folder / "artifacts"
    store_dir.mkdir()
    store = AtomicFileSystemArtifactStore(store_dir)
    rng = np.random.default_rng(0)
    for _ in range(trials):
        trial = study.ask()
        student_spec, _ = space.suggest(trial)
        gmacs = spec_cost(student_spec).gmacs
        for protocol in ("M", "C", "I", "O"):
            student = create_student(student_spec, embed_dim=64)
            save_protocol(trial, store, protocol, {"test-eer": {"hter": 0.3}}, student)
        study.tell(trial, [float(rng.uniform(0.1, 0.4)), gmacs])
    before = folder_mb(store_dir)
    result = prune_weights(study, store, ArtifactSettings(keep="front"), ("M", "C", "I", "O"))
    after = folder_mb(store_dir)
    print(
        f"retention: {trials} demo-space trials x 4 protocols: {before:.1f} MB of artifacts; "
        f"keep: front kept {len(result.kept)} trial(s) -> {after:.1f} MB "
        f"({before / after:.0f}x smaller; {len(result.removed)} weights files removed)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16, help="trials of the retention study")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="fasnas-deploy-") as tmp:
        parity(Path(tmp))
        retention(Path(tmp), args.trials)


if __name__ == "__main__":
    main()
