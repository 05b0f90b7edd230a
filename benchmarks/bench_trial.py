"""Time one demo trial (every protocol of studies/demo.yaml) and where its time goes.

It runs the real objective (`fasnas.objective.StudentObjective`) on a fixed demo student and
attributes wall time to: data loading (frame-cache reads, augmentation, normalisation), the
teacher cache (gathering cached logits/embeddings), forward/backward (the rest of training),
evaluation (scoring source validation and target test), and set-up (opening caches, counting
cost). It also prints the process's peak RSS.

Needs the demo data, teachers and caches (`make demo` builds them). Run::

    .venv/bin/python benchmarks/bench_trial.py [--config studies/demo.yaml] [--trials 2]

Claims (issue 4): one demo trial (4 protocols) takes at most 30 s on 2 cores, and its peak RSS
stays under 2 GiB.
"""

from __future__ import annotations

import argparse
import functools
import resource
import time
from collections import defaultdict
from pathlib import Path

import optuna
import torch

from fasnas import train
from fasnas.config import load_config
from fasnas.data.frameset import FrameSet
from fasnas.objective import StudentObjective
from fasnas.space import SearchSpace
from fasnas.teacher.cache import TeacherOutputs

TIMES: dict[str, float] = defaultdict(float)
_active: list[str] = []


def timed(phase: str, fn):
    """Wrap ``fn`` so its wall time counts towards ``phase``.

    Phases do not nest, except inside training, where data loading and the teacher cache are
    counted apart (and later subtracted from training to give forward/backward).
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if _active and _active[-1] != "training":
            return fn(*args, **kwargs)
        _active.append(phase)
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[phase] += time.perf_counter() - start
            _active.pop()

    return wrapper


def instrument() -> None:
    FrameSet.images = timed("data loading", FrameSet.images)
    train.Augment.__call__ = timed("data loading", train.Augment.__call__)
    train.to_input = timed("data loading", train.to_input)
    TeacherOutputs._gather = timed("teacher cache", TeacherOutputs._gather)
    train.evaluate_model = timed("evaluation", train.evaluate_model)
    train.fit = timed("training", train.fit)
    StudentObjective.prepare = timed("set-up", StudentObjective.prepare)
    StudentObjective.cost_of = timed("set-up", StudentObjective.cost_of)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("studies/demo.yaml"))
    parser.add_argument("--trials", type=int, default=2, help="trials to time (after a warm-up)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (a demo worker gets 1 of 2 cores)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    objective = StudentObjective(config, SearchSpace.load(config.space))
    for protocol in config.protocols:  # open the caches once, as a worker does
        objective.prepare(protocol)
    instrument()
    study = optuna.create_study(directions=objective.settings.directions,
                                sampler=optuna.samplers.RandomSampler(seed=0))  # fmt: skip
    walls = []
    for _ in range(args.trials):
        start = time.perf_counter()
        study.optimize(objective, n_trials=1)
        walls.append(time.perf_counter() - start)
        trial = study.trials[-1]
        print(f"trial {trial.number}: {trial.user_attrs.get('family')} "
              f"@{trial.user_attrs.get('img_size')}px, {walls[-1]:.1f}s, "
              f"mean HTER {100 * trial.values[0]:.1f}%")  # fmt: skip
    total = sum(walls)
    inner = TIMES["data loading"] + TIMES["teacher cache"]
    phases = {
        "data loading": TIMES["data loading"],
        "teacher cache": TIMES["teacher cache"],
        "forward/backward": TIMES["training"] - inner,
        "evaluation": TIMES["evaluation"],
        "set-up and cost": TIMES["set-up"],
    }
    phases["other"] = total - sum(phases.values())
    print(f"time per trial: {total / len(walls):.1f}s over {len(walls)} trials "
          f"({len(config.protocols)} protocols each, {args.threads} torch thread(s)); "
          f"claim <= 30 s")  # fmt: skip
    for name, seconds in phases.items():
        print(f"  {name:<17} {seconds / len(walls):6.2f}s  {100 * seconds / total:5.1f}%")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak_mib:.0f} MiB (claim < 2048 MiB)")


if __name__ == "__main__":
    main()
