"""How honest selection does against the oracle, on the synthetic benchmark.

Claim (issue "Honest search"): selecting architectures on source data (``select_on:
source-val`` or ``leave-one-source-out``) gives a front whose target HTER is within 2 points of
the oracle front chosen on the target itself, at equal GMACs.

For each rule, one study of ``--n-trials`` trials with the same sampler seed runs on a copy of
the demo config (same data, teachers, caches and space; ``make demo`` builds them). Then, over
the study's complete trials, it prints:

- Kendall tau and Spearman rho between the selection value and the target HTER (test-EER
  threshold and source threshold), over the mean and per protocol;
- the honest front (non-dominated on selection value and GMACs) and the oracle front
  (non-dominated on target HTER and GMACs) of the *same* trials, both at their target HTER;
- the optimism gap: for each honest front point, its target HTER minus the best oracle-front
  target HTER at no more GMACs (mean and worst), and the honest front's pick (its lowest
  selection value) against the oracle front's best target HTER;
- the compute: wall seconds, summed trial seconds and students' train seconds per study.

Run it (about 10 min for source-val and 4x that for leave-one-source-out on 2 cores)::

    .venv/bin/python benchmarks/bench_selection.py --root /tmp/demo --n-trials 30
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import yaml
from scipy import stats

from fasnas import record
from fasnas.report.pareto import front_trials, pareto_mask
from fasnas.storage import open_storage

RULES = ("source-val", "leave-one-source-out")
THRESHOLDS = ("test-eer", "source-threshold")


def write_config(root: Path, rule: str, folder: Path, seed: int) -> Path:
    """The demo config of ``root`` with ``select_on: rule``, its own storage and artifacts."""
    config = yaml.safe_load((root / "studies" / "demo.yaml").read_text())
    base = root / "studies"
    config["name"] = f"sel-{rule}"
    config["seed"] = seed
    config["data"]["root"] = str((base / config["data"]["root"]).resolve())
    config["data"]["cache_dir"] = str((base / config["data"]["cache_dir"]).resolve())
    config["teacher"]["dir"] = str((base / config["teacher"]["dir"]).resolve())
    config["space"] = str((base / config["space"]).resolve())
    config["objective"] = {"select_on": rule}
    config.pop("bench", None)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"sel-{rule}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_study(path: Path, n_trials: int, workers: int) -> float:
    start = time.perf_counter()
    command = [sys.executable, "-m", "fasnas", "study", "start", str(path)]
    command += ["--n-trials", str(n_trials), "--workers", str(workers)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def target_hter(trial, protocols, threshold: str) -> float:
    trial_record = record.TrialRecord.of(trial)
    return float(np.mean([trial_record.metrics(p)[threshold]["hter"] for p in protocols]))


def analyse(study, protocols) -> dict:
    complete = [
        t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE" and t.values
    ]
    selection = np.array([t.values[0] for t in complete])
    gmacs = np.array([t.values[1] for t in complete])
    out: dict = {"n_trials": len(complete)}
    for threshold in THRESHOLDS:
        target = np.array([target_hter(t, protocols, threshold) for t in complete])
        row = {
            "kendall": float(stats.kendalltau(selection, target).statistic),
            "spearman": float(stats.spearmanr(selection, target).statistic),
        }
        for p in protocols:
            sel_p = [record.TrialRecord.of(t).selection_values()[p] for t in complete]
            tgt_p = [record.TrialRecord.of(t).metrics(p)[threshold]["hter"] for t in complete]
            row[f"kendall_{p}"] = float(stats.kendalltau(sel_p, tgt_p).statistic)
            row[f"spearman_{p}"] = float(stats.spearmanr(sel_p, tgt_p).statistic)
        honest = {t.number for t in front_trials(complete, 2)}
        oracle_mask = pareto_mask(np.column_stack([target, gmacs]))
        oracle = [(g, h) for g, h, keep in zip(gmacs, target, oracle_mask, strict=True) if keep]
        gaps = []
        for t, g, h in zip(complete, gmacs, target, strict=True):
            if t.number in honest:
                best = min(oh for og, oh in oracle if og <= g + 1e-12)
                gaps.append(h - best)
        on_front = [(t.values[0], h) for t, h in zip(complete, target, strict=True)]
        on_front = [pair for pair, t in zip(on_front, complete, strict=True) if t.number in honest]
        honest_best = min(on_front)[1]  # the point the rule picks: its lowest selection value
        row.update(
            honest_front=sorted(
                (round(float(g), 5), round(float(h), 4))
                for t, g, h in zip(complete, gmacs, target, strict=True)
                if t.number in honest
            ),
            oracle_front=sorted((round(float(g), 5), round(float(h), 4)) for g, h in oracle),
            gap_mean=float(np.mean(gaps)),
            gap_worst=float(np.max(gaps)),
            best_honest=float(honest_best),
            best_oracle=float(min(h for _, h in oracle)),
        )
        out[threshold] = row
    out["train_seconds"] = float(
        sum(record.TrialRecord.of(t).get(record.TRAIN_SECONDS) or 0.0 for t in complete)
    )
    out["trial_seconds"] = float(
        sum((t.datetime_complete - t.datetime_start).total_seconds() for t in complete)
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=Path, required=True, help="a checkout where `make demo` ran"
    )
    parser.add_argument("--n-trials", type=int, default=30)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rules", nargs="+", choices=RULES, default=list(RULES))
    parser.add_argument("--out", type=Path, default=Path("/tmp/fasnas-bench-selection"))
    parser.add_argument("--skip-run", action="store_true", help="analyse existing studies")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    results = {}
    for rule in args.rules:
        path = write_config(args.root.resolve(), rule, args.out, args.seed)
        wall = None if args.skip_run else run_study(path, args.n_trials, args.workers)
        storage = open_storage(f"journal:{args.out / f'sel-{rule}.journal'}", must_exist=True)
        study = optuna.load_study(study_name=f"sel-{rule}", storage=storage)
        protocols = (record.StudyRecord.of(study).config or {}).get("protocols")
        results[rule] = {"wall_seconds": wall, **analyse(study, protocols)}
        print(json.dumps({rule: results[rule]}, indent=1), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
