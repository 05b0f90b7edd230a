"""Does the synthetic demo behave like MCIO? The four checks of issue 13, on a finished demo.

Reads a finished ``make demo`` (``studies/demo.yaml``: the ``demo`` study, ``demo-confirm``,
``demo-bench`` and the teacher files) and prints:

1. the teacher's mean target HTER at the honest threshold (fixed on source validation) against
   the best point of the demo front (the front chosen on the sources), single-seed and, when
   ``study confirm`` ran, confirmed (mean over seeds); the aim is a gap of >= 3 points;
2. KD minus CE per bench baseline (target HTER at the honest threshold, paired by seed, mean over
   seeds) and its median over baselines; the aim is a negative median. ``--bench-seeds 0 1 2``
   first runs the missing seeds of the bench in a scratch copy of the journal (the demo's own
   journal is left as it is);
3. the front's GMACs span and size; the aim is >= 10x with >= 4 points.

The fourth check, ``make demo`` in <= 10 minutes on an idle 2-core machine, is ``time make demo``.

Run it after ``make demo`` (the three extra bench seeds take about 8 minutes on 2 cores)::

    .venv/bin/python benchmarks/calibrate_demo.py --root . --bench-seeds 0 1 2 --workers 2
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
import yaml

from fasnas.config import load_config
from fasnas.record import bench_study_name, confirm_study_name
from fasnas.report.leaderboard import kd_gain_median
from fasnas.report.load import load_report_data, study_exists
from fasnas.search.commands import run_bench
from fasnas.teacher.reference import teacher_reference

HONEST = "source-threshold"


def scratch_config(root: Path, folder: Path, bench_seeds: list[int]) -> Path:
    """The demo config with absolute paths and ``bench_seeds``, beside a copy of its journal."""
    base = root / "studies"
    config = yaml.safe_load((base / "demo.yaml").read_text())
    for section, key in (("data", "root"), ("data", "cache_dir"), ("teacher", "dir")):
        config[section][key] = str((base / config[section][key]).resolve())
    config["space"] = str((base / config["space"]).resolve())
    config.setdefault("bench", {})["seeds"] = bench_seeds
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(base / f"{config['name']}.journal", folder / f"{config['name']}.journal")
    path = folder / "demo.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def report(config_path: Path) -> None:
    """Print the three checks read from the study behind ``config_path``."""
    config = load_config(config_path)
    url = config.storage_url(None)
    confirm, bench = confirm_study_name(config.name), bench_study_name(config.name)
    data = load_report_data(
        url,
        config.name,
        bench_study_name=bench if study_exists(url, bench) else None,
        confirm_study_name=confirm if study_exists(url, confirm) else None,
        importances=False,
        teacher_reference=teacher_reference(config),
    )
    teacher = 100 * data.teacher.mean_hter[HONEST]
    front = data.pareto
    single = 100 * front["mean_hter_source_threshold"].to_numpy(dtype=float)
    best = front.iloc[int(np.nanargmin(single))]
    print(
        f"teacher: mean target HTER {teacher:.2f}% at the source threshold "
        f"({100 * data.teacher.mean_hter['test-eer']:.2f}% at the test EER), "
        f"{data.teacher.gmacs:.4f} GMACs"
    )
    print(
        f"front ({len(front)} points, chosen on the sources): best single-seed target HTER "
        f"{np.nanmin(single):.2f}% (trial {int(best['number'])}, {best['family']}); "
        f"gap to the teacher {np.nanmin(single) - teacher:+.2f} points"
    )
    on_front = data.confirmed[(data.confirmed["n"] > 1) & data.confirmed["confirmed_front"]]
    if len(on_front):
        means = 100 * on_front["mean_hter_source_threshold_mean"].to_numpy(dtype=float)
        where = on_front.iloc[int(np.nanargmin(means))]
        print(
            f"confirmed front ({len(on_front)} points, n={int(where['n'])}): best mean target "
            f"HTER {np.nanmin(means):.2f} ± {100 * where['mean_hter_source_threshold_std']:.2f}% "
            f"(trial {int(where['number'])}); gap to the teacher "
            f"{np.nanmin(means) - teacher:+.2f} points"
        )
    gmacs = front["gmacs"].to_numpy(dtype=float)
    print(
        f"front span: {len(front)} points, {gmacs.min():.5f}-{gmacs.max():.5f} GMACs "
        f"({gmacs.max() / gmacs.min():.1f}x)"
    )
    board = data.baselines_at.get(HONEST)
    if board is None or "kd_gain_mean" not in board:
        print("bench: no paired CE and KD runs yet")
        return
    kd = board[board["kd"] == True]  # noqa: E712 (a nullable column)
    print("bench, target HTER at the source threshold (mean over seeds), KD - CE paired by seed:")
    for row in kd.to_dict("records"):
        ce = board[(board["model"] == row["model"]) & (board["kd"] == False)]  # noqa: E712
        print(
            f"  {row['model']:<24} CE {100 * float(ce['mean_hter_mean'].iloc[0]):5.2f}%  "
            f"KD {100 * row['mean_hter_mean']:5.2f}%  KD - CE "
            f"{100 * row['kd_gain_mean']:+5.2f} ± {100 * row['kd_gain_std']:.2f} "
            f"(n={int(row['kd_gain_n'])})"
        )
    wins = int((kd["kd_gain_mean"] < 0).sum())
    print(
        f"KD beats CE for {wins} of {len(kd)} baselines; median KD - CE "
        f"{100 * kd_gain_median(board):+.2f} points"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository root")
    parser.add_argument("--bench-seeds", type=int, nargs="+", default=None)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    root = args.root.resolve()
    if not args.bench_seeds:
        report(root / "studies" / "demo.yaml")
        return
    with tempfile.TemporaryDirectory(prefix="fasnas-calibrate-") as scratch:
        path = scratch_config(root, Path(scratch), args.bench_seeds)
        run_bench(load_config(path), workers=args.workers, echo=lambda _: None)
        report(path)


if __name__ == "__main__":
    main()
