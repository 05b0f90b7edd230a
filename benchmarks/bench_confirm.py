"""How much of a single-seed front survives re-training over seeds, on the synthetic benchmark.

Claim (issue "Noise-aware fronts"): a single-seed front ranks luck as much as architectures;
``fasnas study confirm`` measures how much. On a copy of a finished demo study (``make demo``
builds it: data, teachers, caches, the ``demo`` study in ``studies/demo.journal``), this runs
``confirm --top K --seeds N`` (K=5, N=3 by default) in a scratch folder, so the demo's own
journal and artifacts are left as they are, and prints:

- the seed standard deviation (ddof=1, over the original run and its N confirmations) of each
  candidate's selection value and of its target mean HTER at both thresholds, and their medians;
- how many single-seed front points survive on the front recomputed on the means, how many drop
  off, and how many trials join it;
- Kendall tau and Spearman rho between the single-seed and the confirmed (mean) values over the
  K candidates, for the selection value and the target HTERs.

Run it (about 5 minutes on 2 cores for K=5, N=3 on the demo)::

    .venv/bin/python benchmarks/bench_confirm.py --root . --top 5 --seeds 3 --workers 2
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from scipy import stats

from fasnas.config import load_config
from fasnas.report.confirmed import outcome_counts
from fasnas.search.commands import confirm_study

SCORES = {
    "selection": "selection value",
    "mean_hter_test_eer": "target HTER, test-EER threshold",
    "mean_hter_source_threshold": "target HTER, source threshold",
}


def scratch_config(root: Path, folder: Path) -> Path:
    """The demo config with absolute paths, in ``folder`` beside a copy of its journal."""
    base = root / "studies"
    config = yaml.safe_load((base / "demo.yaml").read_text())
    for section, key in (("data", "root"), ("data", "cache_dir"), ("teacher", "dir")):
        config[section][key] = str((base / config[section][key]).resolve())
    config["space"] = str((base / config["space"]).resolve())
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(base / f"{config['name']}.journal", folder / f"{config['name']}.journal")
    path = folder / "demo.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _correlation(x: np.ndarray, y: np.ndarray) -> str:
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        return "n < 3"
    tau = stats.kendalltau(x[keep], y[keep]).statistic
    rho = stats.spearmanr(x[keep], y[keep]).statistic
    return f"Kendall tau {tau:+.2f}, Spearman rho {rho:+.2f} (n={int(keep.sum())})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository root")
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from fasnas.report.confirmed import confirmed_of
    from fasnas.search.confirm import companion_of
    from fasnas.search.session import load_study

    with tempfile.TemporaryDirectory(prefix="fasnas-confirm-") as scratch:
        config = load_config(scratch_config(args.root.resolve(), Path(scratch)))
        start = time.perf_counter()
        confirm_study(
            config, top=args.top, seeds=args.seeds, workers=args.workers, echo=lambda _: None
        )
        wall = time.perf_counter() - start
        search = load_study(config)
        confirmed = confirmed_of(search, companion_of(search))
    print(
        f"confirm --top {args.top} --seeds {args.seeds} --workers {args.workers}: "
        f"{wall:.0f} s wall"
    )
    print("candidate  family        GMACs  n  " + "  ".join(f"{s:>22}" for s in SCORES))
    for row in confirmed.to_dict("records"):
        cells = [
            f"{100 * row[f'{s}_single']:6.2f} -> {100 * row[f'{s}_mean']:5.2f} ± "
            f"{100 * row[f'{s}_std']:4.2f}"
            for s in SCORES
        ]
        print(
            f"{row['number']:>9}  {str(row['family']):<12} {row['gmacs']:6.4f} {row['n']:>2}  "
            + "  ".join(f"{c:>22}" for c in cells)
            + f"  {row['outcome']}"
        )
    for score, label in SCORES.items():
        spread = confirmed[f"{score}_std"].to_numpy(dtype=float) * 100
        single = confirmed[f"{score}_single"].to_numpy(dtype=float)
        mean = confirmed[f"{score}_mean"].to_numpy(dtype=float)
        front = confirmed["single_front"].to_numpy(dtype=bool)
        print(
            f"{label}: seed std median {np.nanmedian(spread):.2f} points "
            f"(range {np.nanmin(spread):.2f}-{np.nanmax(spread):.2f}); front points' median "
            f"{np.nanmedian(spread[front]) if front.any() else float('nan'):.2f}; "
            f"single-seed vs mean: {_correlation(single, mean)}"
        )
    counts = outcome_counts(confirmed)
    single_front = counts["survives"] + counts["drops"]
    print(
        f"single-seed front points confirmed: {single_front}; survive {counts['survives']}, "
        f"drop off {counts['drops']}; joined the front: {counts['joins']}"
    )


if __name__ == "__main__":
    main()
