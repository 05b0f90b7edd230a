"""Benchmark: the report of a 10,000-trial SQLite study, end to end, against a 5 s target.

Claim: ``build_report`` (read the trials once, build every frame, render ``index.html`` and
``summary.md``; the optional ``pareto.png`` excluded) finishes a 10,000-trial study in under
5 s, measured in a fresh Python process (imports included, as ``fasnas report`` runs). The PNG
export is timed apart with ``--png``. Wall time depends on what else runs on the machine, so CPU
seconds of the process are printed too, with the load average.

    .venv/bin/python benchmarks/bench_report.py                 # 10,000 trials, 3 fresh runs
    .venv/bin/python benchmarks/bench_report.py --trials 2000 --repeats 1 --png

The study is synthetic but shaped like ``fasnas/objective.py``'s: two objectives, per-protocol
metrics at both thresholds, distill specs, workers, about 3% failed, 2% pruned and 5% rejected
trials, a teacher and a ``<study>-bench`` study of baselines. Building it goes through
``study.add_trials`` (Optuna's ORM: minutes for 10,000 trials) and is not timed; the file is
kept in the temp folder and reused by later runs (``--rebuild`` makes it again). Prints each
run's wall and CPU seconds, a stage breakdown of one in-process run, the median against the
target and their ratio; exits 1 if the median misses the target.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FAMILIES = ("mobilenetv3", "efficientnet", "resnet", "vit_tiny", "levit", "repvit")
SIZES = (112, 128, 160, 224)
PROTOCOLS = ("M", "C", "I", "O")
BASELINES = ("mobilenetv3_small_100", "mobilenetv3_large_100", "efficientnet_b0", "resnet18")
GENERATOR_VERSION = 1  # bump when the synthetic study changes, so cached files are rebuilt


@dataclass
class BenchConfig:
    trials: int = 10_000  # trials in the synthetic study
    seed: int = 0  # seed of the synthetic study
    repeats: int = 3  # fresh-process runs of build_report
    target: float = 5.0  # seconds the median run must stay under
    db: Path | None = None  # SQLite file; default: <tmp>/fasnas_bench_report_<trials>_<seed>.db
    rebuild: bool = False  # build the study again even when the file exists
    png: bool = False  # also time pareto.png (kaleido + Chromium) apart


def _metric(rng: np.random.Generator, hter: float) -> dict[str, float | int]:
    """One protocol's metric set with the keys of fasnas.metrics.evaluate."""
    far = float(np.clip(hter + rng.normal(0, 0.01), 0, 1))
    frr = float(np.clip(2 * hter - far, 0, 1))
    return {
        "hter": hter,
        "eer": float(np.clip(hter + rng.normal(0, 0.005), 0, 1)),
        "auc": float(np.clip(1 - hter * rng.uniform(0.4, 1.2), 0, 1)),
        "tpr_at_fpr_1pct": float(np.clip(1 - 3 * hter + rng.normal(0, 0.02), 0, 1)),
        "threshold": float(rng.uniform(0.2, 0.8)),
        "far": far,
        "frr": frr,
        "apcer": far,
        "bpcer": frr,
        "acer": hter,
        "n_videos": 400,
    }


def _protocol_result(rng: np.random.Generator, hter: float) -> dict:
    source = float(np.clip(hter * rng.uniform(1.0, 1.5), 0, 0.5))
    return {
        "test-eer": _metric(rng, hter),
        "source-threshold": _metric(rng, source),
        "train_seconds": float(rng.uniform(30, 300)),
        "eval_seconds": float(rng.uniform(1, 5)),
        "final_loss": float(rng.uniform(0.05, 0.6)),
    }


def _trial(rng: np.random.Generator, number: int, start: dt.datetime, *, bench: dict | None):
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    state = optuna.trial.TrialState
    family = FAMILIES[int(rng.integers(len(FAMILIES)))]
    params = {
        "family": family,
        "img_size": SIZES[int(rng.integers(len(SIZES)))],
        "width": float(rng.uniform(0.25, 1.5)),
        "depth": int(rng.integers(2, 13)),
        "lr": float(10 ** rng.uniform(-5, -2)),
        "w_kd": float(rng.uniform(0, 2)),
        "temperature": float(rng.uniform(1, 8)),
        "w_feat": float(rng.uniform(0, 1)),
    }
    distributions = {
        "family": CategoricalDistribution(FAMILIES),
        "img_size": CategoricalDistribution(SIZES),
        "width": FloatDistribution(0.25, 1.5),
        "depth": IntDistribution(2, 12),
        "lr": FloatDistribution(1e-5, 1e-2, log=True),
        "w_kd": FloatDistribution(0, 2),
        "temperature": FloatDistribution(1, 8),
        "w_feat": FloatDistribution(0, 1),
    }
    gmacs = params["width"] * params["depth"] * (params["img_size"] / 224) ** 2 * 0.2
    quality = 0.3 * math.exp(-gmacs) + 0.05 * (1 - params["w_kd"] / 2) + rng.uniform(0, 0.12)
    distill = {
        "w_ce": 1.0,
        "w_kd": params["w_kd"],
        "temperature": params["temperature"],
        "w_feat": params["w_feat"],
        "feat_loss": "cosine",
        "w_text": 0.0,
        "text_logit_scale": 100.0,
        "lr": params["lr"],
        "weight_decay": 1e-4,
        "iterations": 400,
        "batch_per_group": 3,
        "warmup_frac": 0.1,
        "aug_strength": 0.5,
    }
    attrs: dict = {
        "seed": int(rng.integers(2**31 - 1)),
        "family": family,
        "img_size": params["img_size"],
        "student_spec": {"family": family, "img_size": params["img_size"], "width": 1.0},
        "distill_spec": distill,
        "gmacs": gmacs,
        "params": int(gmacs * 4e6),
        "unsupported_ops": {},
        "constraints": [0.0],
        "worker": {"host": f"node{number % 4}", "pid": 1000 + number % 8},
    }
    if bench is not None:
        attrs.update(bench)
    duration = float(rng.uniform(300, 1800))
    draw = rng.random() if bench is None else 1.0
    values = None
    if draw < 0.03:
        trial_state, duration = state.FAIL, 20.0
        attrs["fail_reason"] = "nan-loss: loss became nan at iteration 12"
    elif draw < 0.05:
        trial_state = state.PRUNED
        attrs["prune_reason"] = "early stop after protocol M"
        attrs["metrics.M"] = _protocol_result(rng, float(np.clip(quality, 0, 0.5)))
    elif draw < 0.10:
        trial_state, duration = state.COMPLETE, 2.0
        attrs["rejected"] = "over budget; not trained"
        attrs["constraints"] = [1.0]
        values = [1.0, gmacs]
    else:
        trial_state = state.COMPLETE
        hters = []
        for protocol in PROTOCOLS:
            hter = float(np.clip(quality + rng.normal(0, 0.03), 0.001, 0.5))
            attrs[f"metrics.{protocol}"] = _protocol_result(rng, hter)
            attrs[f"hter.{protocol}"] = hter
            hters.append(hter)
        attrs["train_seconds"] = duration * 0.9
        values = [float(np.mean(hters)), gmacs]
    trial = optuna.trial.create_trial(
        state=trial_state,
        values=values,
        params=params,
        distributions=distributions,
        user_attrs=attrs,
    )
    trial.datetime_start = start
    trial.datetime_complete = start + dt.timedelta(seconds=duration)
    return trial


def _fast_sqlite_writes() -> None:
    """No fsync per commit while building (the file is a throwaway fixture)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _pragma(connection, _record) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()


def build_study(path: Path, trials: int, seed: int, name: str = "bench") -> None:
    """Write the synthetic study ``name`` and ``<name>-bench`` into the SQLite file ``path``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _fast_sqlite_writes()
    temp = path.with_suffix(".building")
    temp.unlink(missing_ok=True)
    url = f"sqlite:///{temp}"
    rng = np.random.default_rng(seed)
    study = optuna.create_study(study_name=name, storage=url, directions=["minimize"] * 2)
    study.set_metric_names(["mean HTER (test-eer)", "GMACs"])
    study.set_user_attr("objective_hter", "test-eer")
    study.set_user_attr("config_hash", "0123456789abcdef")
    study.set_user_attr(
        "config",
        {"protocols": list(PROTOCOLS), "data_hashes": {"MCIO": "feedfacecafe"}},
    )
    teacher_hter = {p: {"test-eer": 0.03, "source-threshold": 0.05} for p in PROTOCOLS}
    study.set_user_attr(
        "teacher",
        {
            "name": "FLIP-IT ViT-B/16",
            "gmacs": 17.58,
            "hter": teacher_hter,
            "mean_hter": {"test-eer": 0.03, "source-threshold": 0.05},
        },
    )
    start = dt.datetime(2025, 1, 1)
    built = time.perf_counter()
    for first in range(0, trials, 500):
        batch = [
            _trial(rng, k, start + dt.timedelta(minutes=3 * k), bench=None)
            for k in range(first, min(first + 500, trials))
        ]
        study.add_trials(batch)
        done = first + len(batch)
        print(f"  built {done}/{trials} trials ({time.perf_counter() - built:.0f}s)", flush=True)
    bench = optuna.create_study(
        study_name=f"{name}-bench", storage=url, directions=["minimize"] * 2
    )
    bench.set_metric_names(["mean HTER (test-eer)", "GMACs"])
    bench_trials = []
    for baseline in BASELINES:
        for kd in (False, True):
            for bench_seed in range(3):
                info = {"baseline": baseline, "kd": kd, "bench_seed": bench_seed}
                bench_trials.append(_trial(rng, len(bench_trials), start, bench=info))
    bench.add_trials(bench_trials)
    study.set_user_attr("built", {"trials": trials, "seed": seed, "version": GENERATOR_VERSION})
    os.replace(temp, path)


def study_is_built(path: Path, trials: int, seed: int, name: str = "bench") -> bool:
    """Whether ``path`` already holds the study this configuration builds."""
    if not path.exists():
        return False
    import optuna

    try:
        study = optuna.load_study(study_name=name, storage=f"sqlite:///{path}")
    except Exception:  # noqa: BLE001 - any unreadable file is rebuilt
        return False
    expected = {"trials": trials, "seed": seed, "version": GENERATOR_VERSION}
    return study.user_attrs.get("built") == expected


RUN_ONCE = """
import json, sys, time
start_wall, start_cpu = time.perf_counter(), time.process_time()
from fasnas.report import build_report
paths = build_report(sys.argv[1], "bench", sys.argv[2], bench_study_name="bench-bench", png=False,
                     importances=sys.argv[3] == "1")
print(json.dumps({"wall": time.perf_counter() - start_wall,
                  "cpu": time.process_time() - start_cpu, "html": str(paths.html)}))
"""


def time_fresh_process(url: str, out_dir: Path, *, importances: bool = True) -> dict:
    """One ``build_report`` in a new interpreter: imports, read, frames, page, summary."""
    result = subprocess.run(
        [sys.executable, "-c", RUN_ONCE, url, str(out_dir), "1" if importances else "0"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def stage_breakdown(url: str, out_dir: Path) -> list[tuple[str, float]]:
    """Seconds of each stage, in this (already warm) process."""
    from fasnas._io import atomic_write
    from fasnas.report.html import render_html
    from fasnas.report.load import load_report_data, storage_of
    from fasnas.report.summary import write_summary
    from fasnas.storage.fast_read import read_trials

    stages = []

    def timed(label, function):
        start = time.perf_counter()
        value = function()
        stages.append((label, time.perf_counter() - start))
        return value

    storage = timed("open storage", lambda: storage_of(url))
    study_id = storage.get_study_id_from_name("bench")
    trials = timed("read trials", lambda: read_trials(storage, study_id))
    data = timed(
        "load_report_data (all)",
        lambda: load_report_data(storage, "bench", bench_study_name="bench-bench"),
    )
    page = timed("render_html", lambda: render_html(data))
    timed("write index.html", lambda: atomic_write(out_dir / "index.html", page))
    timed("write summary.md", lambda: write_summary(data, out_dir))
    del trials
    return stages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = BenchConfig()
    parser.add_argument("--trials", type=int, default=defaults.trials)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--repeats", type=int, default=defaults.repeats)
    parser.add_argument("--target", type=float, default=defaults.target)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--png", action="store_true")
    config = BenchConfig(**vars(parser.parse_args(argv)))
    path = config.db or Path(tempfile.gettempdir()) / (
        f"fasnas_bench_report_{config.trials}_{config.seed}.db"
    )
    if config.rebuild or not study_is_built(path, config.trials, config.seed):
        print(f"building {config.trials} trials into {path} (not timed; kept for later runs)")
        build_study(path, config.trials, config.seed)
    else:
        print(f"reusing {path}")
    url = f"sqlite:///{path}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPUs, load average {load:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        out_dir = Path(folder)
        runs = []
        for k in range(config.repeats):
            run = time_fresh_process(url, out_dir)
            runs.append(run)
            print(f"run {k + 1}: build_report {run['wall']:.2f}s wall, {run['cpu']:.2f}s CPU")
        run = time_fresh_process(url, out_dir, importances=False)
        print(f"without importances (informative): {run['wall']:.2f}s wall, {run['cpu']:.2f}s CPU")
        size = (out_dir / "index.html").stat().st_size / 1e6
        print(f"index.html: {size:.1f} MB")
        print("stages (one warm in-process run):")
        for label, seconds in stage_breakdown(url, out_dir):
            print(f"  {label:<24} {seconds:6.2f}s")
        if config.png:
            from fasnas.report.figures import pareto_figure
            from fasnas.report.load import load_report_data
            from fasnas.report.png import png_unavailable_reason, write_png

            figure = pareto_figure(load_report_data(url, "bench"))
            start = time.perf_counter()
            written = write_png(figure, out_dir / "pareto.png")
            note = "written" if written else png_unavailable_reason() or "kaleido failed"
            print(f"pareto.png: {time.perf_counter() - start:.2f}s ({note}; not in the target)")
    median = statistics.median(run["wall"] for run in runs)
    cpu = statistics.median(run["cpu"] for run in runs)
    verdict = "meets" if median < config.target else "MISSES"
    print(
        f"{config.trials} trials: median {median:.2f}s wall ({cpu:.2f}s CPU) for the whole "
        f"report; target {config.target:.1f}s; ratio {median / config.target:.2f} of the "
        f"target: {verdict} it"
    )
    return 0 if median < config.target else 1


if __name__ == "__main__":
    sys.exit(main())
