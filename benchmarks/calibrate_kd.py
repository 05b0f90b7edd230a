"""Calibration of the synthetic benchmark: does distillation help, and is there a trade-off?

For fixed demo architectures it trains each student on every protocol of studies/demo.yaml with
CE only and with KD (Hinton KD + feature distillation from the cached teacher), over several
seeds, through the real pipeline (`StudentObjective.run_protocol`), and prints per-protocol and
mean HTERs (test-EER threshold, FLIP's convention, and the honest source-threshold figure).

Needs the demo data, teachers and caches (`make demo` builds them). Run::

    .venv/bin/python benchmarks/calibrate_kd.py [--seeds 0 1 2]

Claims (issue 4): KD lowers the mean HTER of the same architecture against CE alone, over at
least 3 seeds; the best student beats chance (50%) by a wide margin on every protocol.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from fasnas.config import load_config
from fasnas.distill.compose import teacher_free
from fasnas.distill.spec import DistillSpec
from fasnas.objective import StudentObjective
from fasnas.search.settings import ObjectiveSettings
from fasnas.students import StudentSpec

ARCHS = {
    "mobilenetv3 small 0.75 @48": StudentSpec(
        "mobilenetv3", {"variant": "small", "width": 0.75}, 48
    ),
    "mobilenetv3 small 1.0 @64": StudentSpec(
        "mobilenetv3", {"variant": "small", "width": 1.0}, 64
    ),
    "vit d2 w64 @32": StudentSpec(
        "vit", {"depth": 2, "embed_dim": 64, "num_heads": 2, "patch_size": 8}, 32
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("studies/demo.yaml"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--archs", nargs="+", choices=list(ARCHS), default=list(ARCHS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = load_config(args.config)
    objective = StudentObjective(config, space=None, settings=ObjectiveSettings())
    kd = DistillSpec(w_kd=1.0, temperature=4.0, w_feat=0.5, iterations=args.iterations,
                     batch_per_group=4, lr=1e-3)  # fmt: skip
    ce = teacher_free(kd)  # every registered KD weight at 0
    protocols = config.protocols
    print(f"seeds {args.seeds}, {args.iterations} iterations, protocols {list(protocols)}")
    for name in args.archs:
        spec = ARCHS[name]
        for label, distill in (("CE", ce), ("KD", kd)):
            table = {p: [] for p in protocols}
            honest = {p: [] for p in protocols}
            for seed in args.seeds:
                for protocol in protocols:
                    result = objective.run_protocol(protocol, spec, distill, seed)
                    table[protocol].append(result["test-eer"]["hter"])
                    honest[protocol].append(result["source-threshold"]["hter"])
            per = "  ".join(f"{p} {100 * np.mean(v):5.1f}" for p, v in table.items())
            means = [np.mean([table[p][i] for p in protocols]) for i in range(len(args.seeds))]
            honest_mean = np.mean([np.mean(v) for v in honest.values()])
            print(f"{name:<28} {label}: {per}  | mean {100 * np.mean(means):5.1f} "
                  f"± {100 * np.std(means):4.1f} (test-EER)  {100 * honest_mean:5.1f} "
                  f"(source-threshold)")  # fmt: skip


if __name__ == "__main__":
    main()
