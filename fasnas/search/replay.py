"""``fasnas study replay``: re-run one trial of a study from its record and compare the metrics.

Owns the replay of a search trial: its parameters, its training seed (the ``seed`` user
attribute) and the study's record (the config fingerprint holds the data lists' and teachers'
sha256, :mod:`fasnas.search.fingerprint`) are checked and reused; the trial is trained again in
this process, in a throw-away in-memory study, on the protocols it recorded metrics for (no
artifact is written, nothing in the study changes). Per protocol and metric it prints the
stored value, the new one and the difference. On the CPU with one torch thread
(``search.threads: null``) training is bit-reproducible, so every difference is 0.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from fasnas import record
from fasnas.config import StudyConfig
from fasnas.errors import ConfigError
from fasnas.search.fingerprint import fingerprint_difference, study_fingerprint

TIMING_KEYS = ("train_seconds", "eval_seconds")  # wall-clock times differ from run to run


def flat_metrics(result: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    """``(dotted.path, value)`` for every number of a protocol result, times left out."""
    if isinstance(result, dict):
        for key, value in result.items():
            if key in TIMING_KEYS:
                continue
            yield from flat_metrics(value, f"{prefix}{key}.")
    elif isinstance(result, int | float) and not isinstance(result, bool):
        yield prefix.rstrip("."), float(result)


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)  # NaN equals NaN here


def compare(stored: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], int]:
    """Lines ``metric stored new difference`` for one protocol, and how many differ."""
    old = dict(flat_metrics(stored))
    now = dict(flat_metrics(new))
    lines, differ = [], 0
    for key in sorted(old.keys() | now.keys()):
        a, b = old.get(key, float("nan")), now.get(key, float("nan"))
        same = key in old and key in now and _same(a, b)
        differ += not same
        mark = "" if same else "  DIFFERS"
        lines.append(f"    {key:<40} stored {a:.6g}  new {b:.6g}  diff {b - a:+.3g}{mark}")
    return lines, differ


def _find_trial(study: Any, number: Any) -> Any:
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        raise ConfigError(f"--trial: expected a trial number >= 0, got {number!r}")
    trials = study.get_trials(deepcopy=False)
    if number >= len(trials):
        last = len(trials) - 1
        raise ConfigError(
            f"--trial: study {study.study_name!r} has no trial {number} (trials 0..{last})"
        )
    return trials[number]


def replay_trial(
    config: StudyConfig,
    number: int,
    *,
    storage: str | None = None,
    echo: Callable[[str], Any] = print,
) -> int:
    """Re-run trial ``number`` of the study of ``config`` and print stored vs new metrics.

    Returns:
        0 when every metric is identical, 1 when one differs.

    Raises:
        ConfigError: No such trial, a trial without recorded metrics or seed, or not a
            search trial.
        StorageError: The study is missing, or its record disagrees with this config (data,
            teachers, space, objective).
    """
    import optuna
    import torch

    from fasnas.objective import StudentObjective
    from fasnas.search.session import SEARCH, load_study

    study = load_study(config, storage)
    trial = _find_trial(study, number)
    trial_record = record.TrialRecord.of(trial)
    stored = record.StudyRecord.of(study).config or {}
    difference = fingerprint_difference(stored, study_fingerprint(config))
    if difference is not None:
        raise ConfigError(
            f"{config.path}: cannot replay, the study's record disagrees with it: {difference}"
        )
    protocols = [p for p in config.protocols if trial_record.metrics(p) is not None]
    where = f"--trial {number}"
    if not protocols:
        raise ConfigError(f"{where}: trial has no recorded metrics (state {trial.state.name})")
    if trial_record.seed is None or trial_record.is_fixed and not trial_record.is_retry:
        raise ConfigError(f"{where}: not a sampled search trial with a recorded seed")

    replayed = dataclasses.replace(config, protocols=tuple(protocols))
    objective = StudentObjective(replayed, SEARCH.space(replayed))
    memory = optuna.create_study(directions=list(study.directions))
    memory.enqueue_trial(dict(trial.params), user_attrs={record.SEED: trial_record.seed})
    threads = torch.get_num_threads()
    torch.set_num_threads(config.search.torch_threads())
    try:
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        memory.optimize(objective, n_trials=1, catch=(Exception,))
    finally:
        torch.set_num_threads(threads)
    new = record.TrialRecord.of(memory.trials[0])
    echo(
        f"trial {number} ({trial_record.family}, seed {trial_record.seed}) replayed on "
        f"{', '.join(protocols)}"
    )
    total = 0
    for protocol in protocols:
        lines, differ = compare(trial_record.metrics(protocol) or {}, new.metrics(protocol) or {})
        total += differ
        echo(f"  {protocol}: " + ("identical" if not differ else f"{differ} metric(s) differ"))
        for line in lines:
            echo(line)
    reason = new.reason
    if reason:
        echo(f"  the replay failed: {reason}")
    echo(f"replay of trial {number}: " + ("identical" if not total else f"{total} differences"))
    return 0 if total == 0 and not reason else 1
