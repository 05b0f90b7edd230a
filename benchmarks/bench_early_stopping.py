"""Benchmark: the demo study with and without early stopping (compute saved, hypervolume lost).

Claim: on the demo study (synthetic MCIO, tiny FLIP-IT teachers, ``search_spaces/demo.yaml``,
NSGA-II), the default early-stopping rule of :mod:`fasnas.search.early_stop` saves at least 40 %
of the students' compute (train + eval seconds, summed over trials) and loses at most 2 % of the
hypervolume of the front, for the same sampler seed and trial count::

    .venv/bin/python benchmarks/bench_early_stopping.py --trials 40 --out /tmp/es_bench

Steps, all inside ``--out`` (a temporary folder by default; kept, and reused when run again):

1. ``fasnas data synth OUT/data --scale S --size 64`` (skipped when it exists);
2. a study config like ``studies/demo.yaml`` pointing at it, then ``fasnas teacher train`` and
   ``fasnas teacher cache`` (skipped when the teacher files exist);
3. ``fasnas study start CONFIG --workers 1`` twice, into ``OUT/bench.db``: study ``no-es`` (no
   early stopping) and study ``es`` (the ``early_stopping:`` defaults, or ``--set KEY=VALUE``
   overrides), same seed, same trial count, one torch thread. ``--run es`` runs only ``es``
   again and reads ``no-es`` from the folder (to try other settings against one baseline).

Printed: trials (complete / pruned / failed), compute with and without (seconds; protocol runs
too, which the machine's load does not blur), the share saved, the hypervolume of each front
and the relative loss. The hypervolume's reference point is fixed: HTER 0.5 (chance) and the
space's largest GMACs, found by costing every architecture the space holds. Early stopping
changes what the sampler sees only after NSGA-II's first generation (50 trials by default), so
up to ``--trials 50`` both runs train the same students and differ only by the stops (the
sampler seeds of both runs are printed, with a warning when they differ). Exits 1 when the
claim does not hold.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
REFERENCE_HTER = 0.5  # chance level: a front point must beat it to count
STUDIES = ("no-es", "es")


@dataclass
class RunSummary:
    """One study's figures."""

    name: str
    complete: int
    pruned: int
    failed: int
    seconds: float  # students' train + eval seconds, summed over trials and protocols
    protocol_runs: int  # students trained (one per trial and protocol)
    wall: float  # from the first trial's start to the last trial's end
    hypervolume: float
    front: list[tuple[float, float]]
    sampler_seeds: list[int]  # the workers' sampler seeds (user attribute ``worker.seed``)


def run_cli(*args: str) -> None:
    """Run ``python -m fasnas ARGS`` with one torch thread; fail loudly if it fails."""
    command = [sys.executable, "-m", "fasnas", *args]
    print("$", " ".join(command[1:]), flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    subprocess.run(command, check=True, cwd=REPO, env=env)


def write_config(out: Path, seed: int, sampler: str, early_stopping: dict | None) -> Path:
    """A copy of studies/demo.yaml pointing at ``out``'s data, with the demo space."""
    config = yaml.safe_load((REPO / "studies" / "demo.yaml").read_text(encoding="utf-8"))
    config["data"]["root"] = str(out / "data")
    config["data"]["cache_dir"] = str(out / "cache")
    config["teacher"]["dir"] = str(out / "teachers")
    config["space"] = str(REPO / "search_spaces" / "demo.yaml")
    config["seed"] = seed
    config["device"] = "cpu"
    # One worker with one torch thread: the same seed then trains bit-identical students in both
    # runs (several threads may sum in a different order each time).
    search = {**(config.get("search") or {}), "sampler": sampler, "workers": 1, "threads": 1}
    config["search"] = search
    name = "es" if early_stopping is not None else "no-es"
    config["name"] = name
    if early_stopping is not None:
        config["early_stopping"] = early_stopping
    path = out / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def prepare(out: Path, scale: float, seed: int) -> None:
    """Synthetic data, teachers and teacher caches (each skipped when already there)."""
    if not (out / "data" / "MCIO").exists():
        run_cli("data", "synth", str(out / "data"), "--scale", str(scale), "--size", "64")
    config = write_config(out, seed, "nsga2", None)
    if not all((out / "teachers" / f"{p}.pt").exists() for p in "MCIO"):
        run_cli("teacher", "train", "--config", str(config), "--quiet")
    run_cli("teacher", "cache", "--config", str(config), "--quiet")


def space_max_gmacs(space) -> tuple[float, str]:
    """The largest GMACs of any architecture in ``space`` (every cost-relevant choice costed)."""
    from fasnas.cost import spec_cost
    from fasnas.errors import ConfigError

    best, best_spec, seen = 0.0, "", set()
    for family in space.families:
        params = [
            p
            for p in space.params
            if p.target.kind in ("family", "img_size", "arch")
            and p.target.family in (None, family)
        ]
        rest = {
            p.name: p.low
            for p in space.params
            if p.target.kind == "distill" and p.type != "categorical"
        }
        rest.update(
            {
                p.name: p.choices[0]
                for p in space.params
                if p.target.kind == "distill" and p.type == "categorical"
            }
        )

        def domain(p, family: str = family) -> list:
            if p.name == "family":
                return [family]
            if p.type == "categorical":
                return list(p.choices)
            return list(range(int(p.low), int(p.high) + 1, int(p.step or 1)))

        names = [p.name for p in params]
        for values in itertools.product(*(domain(p) for p in params)):
            try:
                spec, _ = space.fixed({**rest, **dict(zip(names, values, strict=True))})
            except ConfigError:
                continue
            key = json.dumps(spec.to_dict(), sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            gmacs = spec_cost(spec).gmacs
            if gmacs > best:
                best, best_spec = gmacs, key
    return best, best_spec


def trial_compute(trial) -> tuple[float, int]:
    """(train + eval seconds, protocol runs) of one trial, from its ``metrics.<P>`` attrs."""
    seconds, runs = 0.0, 0
    for key, value in trial.user_attrs.items():
        if key.startswith("metrics."):
            seconds += float(value.get("train_seconds", 0.0)) + float(value.get("eval_seconds", 0))
            runs += 1
    return seconds, runs


def summarise_study(name: str, storage: str) -> tuple[RunSummary, object]:
    """Count a finished study's trials and compute (the hypervolume is filled in later)."""
    import optuna

    study = optuna.load_study(study_name=name, storage=storage)
    starts = [t.datetime_start for t in study.trials if t.datetime_start]
    ends = [t.datetime_complete for t in study.trials if t.datetime_complete]
    wall = (max(ends) - min(starts)).total_seconds() if starts and ends else float("nan")
    states = [t.state.name for t in study.trials]
    compute = [trial_compute(t) for t in study.trials]
    summary = RunSummary(
        name=name,
        complete=states.count("COMPLETE"),
        pruned=states.count("PRUNED"),
        failed=states.count("FAIL"),
        seconds=sum(s for s, _ in compute),
        protocol_runs=sum(r for _, r in compute),
        wall=wall,
        hypervolume=float("nan"),
        front=[],
        sampler_seeds=sorted(
            {t.user_attrs["worker"]["seed"] for t in study.trials if "worker" in t.user_attrs}
        ),
    )
    return summary, study


def run(config_path: Path, storage: str, trials: int) -> tuple[RunSummary, object]:
    """Run one study from scratch with ``fasnas study start`` (one worker, one torch thread)."""
    import optuna

    name = config_path.stem
    try:
        optuna.delete_study(study_name=name, storage=storage)
    except KeyError:
        pass
    shutil.rmtree(config_path.parent / f"{name}-artifacts", ignore_errors=True)
    run_cli(
        "study", "start", str(config_path), "--workers", "1", "--n-trials", str(trials),
        "--storage", storage,
    )  # fmt: skip
    return summarise_study(name, storage)


def front_and_hypervolume(study, reference: tuple[float, float]) -> tuple[list, float]:
    """Feasible, trained COMPLETE trials' Pareto front and its 2-D hypervolume."""
    import numpy as np

    from fasnas.report.pareto import front_trials, hypervolume_2d

    front_points = [t.values[:2] for t in front_trials(study.trials, 2)]
    front = np.array(front_points, dtype=float).reshape(-1, 2)
    points = front  # the hypervolume of a set is that of its front
    order = np.argsort(front[:, 1]) if len(front) else []
    return [tuple(map(float, p)) for p in front[order]], hypervolume_2d(points, reference)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: a temp one)")
    parser.add_argument("--scale", type=float, default=0.1, help="synthetic data scale")
    parser.add_argument("--trials", type=int, default=32, help="trials per study")
    parser.add_argument("--seed", type=int, default=0, help="study (sampler and training) seed")
    parser.add_argument("--sampler", default="nsga2", help="nsga2 | tpe | gp | nsga3 | random")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="early_stopping overrides, e.g. --set margin=0.02 min_trials=6 (YAML values)",
    )
    parser.add_argument(
        "--run",
        nargs="*",
        choices=STUDIES,
        default=list(STUDIES),
        help="studies to run now (default both); the others are read from OUT/bench.db",
    )
    parser.add_argument("--claim-saved", type=float, default=0.40, help="compute share saved")
    parser.add_argument("--claim-hv-loss", type=float, default=0.02, help="relative HV loss")
    args = parser.parse_args(argv)

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = (args.out or Path(tempfile.mkdtemp(prefix="fasnas-es-bench-"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {out}", flush=True)
    prepare(out, args.scale, args.seed)
    early_stopping = {"enabled": True}
    for item in args.set:
        key, _, value = item.partition("=")
        early_stopping[key] = yaml.safe_load(value)
    base_path = write_config(out, args.seed, args.sampler, None)
    es_path = write_config(out, args.seed, args.sampler, early_stopping)
    storage = f"sqlite:///{out / 'bench.db'}"

    from fasnas.config import load_config
    from fasnas.space import SearchSpace

    max_gmacs, max_spec = space_max_gmacs(SearchSpace.load(load_config(base_path).space))
    reference = (REFERENCE_HTER, max_gmacs)
    print(f"reference point: HTER {REFERENCE_HTER}, {max_gmacs:.6f} GMACs ({max_spec})")

    runs = {}
    for name, path in (("no-es", base_path), ("es", es_path)):
        if name in args.run:
            runs[name] = run(path, storage, args.trials)
        else:
            runs[name] = summarise_study(name, storage)
    (baseline, baseline_study), (stopped, stopped_study) = runs["no-es"], runs["es"]
    for summary, study in ((baseline, baseline_study), (stopped, stopped_study)):
        summary.front, summary.hypervolume = front_and_hypervolume(study, reference)

    if baseline.sampler_seeds != stopped.sampler_seeds:
        print(
            f"warning: the runs' sampler seeds differ ({baseline.sampler_seeds} vs "
            f"{stopped.sampler_seeds}): they sampled different students"
        )
    saved = 1 - stopped.seconds / baseline.seconds
    saved_runs = 1 - stopped.protocol_runs / baseline.protocol_runs
    hv_loss = 1 - stopped.hypervolume / baseline.hypervolume
    print()
    print(f"early_stopping: {json.dumps(early_stopping)}; {args.sampler}, seed {args.seed}")
    for s in (baseline, stopped):
        front = ", ".join(f"({100 * h:.1f}%, {g:.5f})" for h, g in s.front)
        print(
            f"{s.name:>6}: {s.complete + s.pruned + s.failed} trials ({s.complete} complete, "
            f"{s.pruned} pruned, {s.failed} failed); compute {s.seconds:7.1f} s in "
            f"{s.protocol_runs} protocol runs (wall {s.wall:.0f} s); "
            f"sampler seeds {s.sampler_seeds}; hypervolume {s.hypervolume:.6f}; "
            f"front (HTER, GMACs): {front}"
        )
    print(
        f"compute saved: {100 * saved:.1f}% of train+eval seconds "
        f"({100 * saved_runs:.1f}% of protocol runs); "
        f"hypervolume lost: {100 * hv_loss:.2f}% (relative; reference HTER {REFERENCE_HTER}, "
        f"{max_gmacs:.6f} GMACs)"
    )
    ok = saved >= args.claim_saved and hv_loss <= args.claim_hv_loss
    print(
        f"claim (>= {100 * args.claim_saved:.0f}% saved, <= {100 * args.claim_hv_loss:.0f}% "
        f"hypervolume lost): {'holds' if ok else 'does NOT hold'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
