"""Optuna studies: storage URLs, samplers, creating or attaching, and running trials.

Owns the link between a study config and an ``optuna.Study``. The ``search:`` section names::

    search:
      sampler: nsga2        # nsga2 (default) | tpe | gp | nsga3 | random
      n_trials: 16          # global budget
      timeout: null         # seconds, global budget
    storage: null           # default: sqlite:///<config folder>/<name>.db

The embedded default storage is a SQLite file next to the config. Run a study in one process
with::

    fasnas study run studies/demo.yaml --n-trials 8
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fasnas.config import StudyConfig
from fasnas.errors import ConfigError

SAMPLERS = ("nsga2", "tpe", "gp", "nsga3", "random")


@dataclass(frozen=True)
class SearchSettings:
    """The ``search:`` section of a study config."""

    sampler: str = "nsga2"  # one of SAMPLERS
    n_trials: int | None = 16  # global trial budget (all workers)
    timeout: float | None = None  # global time budget in seconds

    @classmethod
    def from_config(cls, config: StudyConfig) -> SearchSettings:
        raw = config.raw.get("search") or {}
        where = f"{config.path}: search"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping")
        for key in raw:
            if key not in cls.__dataclass_fields__:
                valid = sorted(cls.__dataclass_fields__)
                raise ConfigError(f"{where}.{key}: unknown key; valid keys are {valid}")
        settings = cls(**raw)
        if settings.sampler not in SAMPLERS:
            raise ConfigError(
                f"{where}.sampler: expected one of {list(SAMPLERS)}, got {settings.sampler!r}"
            )
        return settings


def storage_url(config: StudyConfig) -> str:
    """The storage URL: the config's ``storage``, or a SQLite file next to the config."""
    url = config.raw.get("storage")
    if url is None:
        return f"sqlite:///{config.path.parent / (config.name + '.db')}"
    if not isinstance(url, str):
        raise ConfigError(f"{config.path}: storage: expected a URL string, got {url!r}")
    return url


def make_sampler(name: str, seed: int, constraints_func: Callable | None = None):
    """One of the shipped multi-objective samplers, seeded, with the budget constraints."""
    import optuna

    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, constraints_func=constraints_func)
    if name == "nsga3":
        return optuna.samplers.NSGAIIISampler(seed=seed, constraints_func=constraints_func)
    if name == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, constraints_func=constraints_func, multivariate=True
        )
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, constraints_func=constraints_func)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ConfigError(f"sampler: expected one of {list(SAMPLERS)}, got {name!r}")


def load_space(config: StudyConfig):
    """The study's search space (``space:`` is a path relative to the config)."""
    from fasnas.space import SearchSpace

    space = config.raw.get("space")
    if not isinstance(space, str):
        raise ConfigError(f"{config.path}: space: required, a path to search_spaces/X.yaml")
    return SearchSpace.load(config.path.parent / space)


def trial_line(trial) -> str:
    """One line per finished trial: number, family, GMACs, mean HTER, seconds."""
    attrs = trial.user_attrs
    seconds = (
        (trial.datetime_complete - trial.datetime_start).total_seconds()
        if trial.datetime_complete and trial.datetime_start
        else float("nan")
    )
    family = attrs.get("family", "?")
    if trial.values:
        hter, gmacs = trial.values[0], trial.values[1]
        note = " (rejected: over budget)" if "rejected" in attrs else ""
        return (
            f"trial {trial.number:4d}  {family:<14} {gmacs:8.4f} GMACs  "
            f"mean HTER {100 * hter:6.2f}%  {seconds:6.1f}s{note}"
        )
    reason = attrs.get("fail_reason") or attrs.get("prune_reason") or trial.state.name
    return f"trial {trial.number:4d}  {family:<14} {trial.state.name.lower()}: {reason}"


def run_study(
    config: StudyConfig,
    *,
    n_trials: int | None = None,
    timeout: float | None = None,
    progress: bool = True,
    echo: Callable[[str], Any] | None = None,
):
    """Create (or continue) the study and run trials in this process.

    Returns:
        The ``optuna.Study``.
    """
    import optuna

    from fasnas.objective import ObjectiveSettings, StudentObjective, TrialFailed, constraints

    echo = echo or functools.partial(print, flush=True)
    settings = SearchSettings.from_config(config)
    objective_settings = ObjectiveSettings.from_config(config)
    space = load_space(config)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=config.name,
        storage=storage_url(config),
        directions=objective_settings.directions,
        sampler=make_sampler(settings.sampler, config.seed, constraints),
        load_if_exists=True,
    )
    study.set_metric_names(objective_settings.metric_names)
    objective = StudentObjective(config, space, objective_settings)
    start = time.perf_counter()

    def report(study, trial) -> None:
        echo(trial_line(trial))

    study.optimize(
        objective,
        n_trials=n_trials if n_trials is not None else settings.n_trials,
        timeout=timeout if timeout is not None else settings.timeout,
        catch=(TrialFailed,),
        callbacks=[report],
        show_progress_bar=progress,
    )
    elapsed = time.perf_counter() - start
    echo(f"{len(study.trials)} trials in the study; this run took {elapsed:.0f}s")
    return study
