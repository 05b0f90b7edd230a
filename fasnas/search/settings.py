"""The ``search:`` and ``objective:`` sections of a study config, and the sampler registry.

Owns :class:`SearchSettings` (sampler, budget, local workers, heartbeat and recovery),
:class:`ObjectiveSettings` (which HTER is minimised, latency, hard budgets) and
:func:`make_sampler`. Sections are built by :func:`fasnas.schema.build` when the config loads::

    search:
      sampler: nsga2          # nsga2 (default) | tpe | gp | nsga3 | random; seeded per worker
      n_trials: 16            # global budget over all workers (null: no limit)
      timeout: null           # seconds from the study's creation, global (null: no limit)
      workers: 1              # local worker processes of `study start` and `study resume`
      heartbeat_interval: 60  # seconds between heartbeats of a running trial
      grace_period: 600       # a RUNNING trial silent for longer is stale (resume retries it)
      max_retries: 3          # retries of one lost trial before it is given up
      threads: null           # torch CPU threads per worker (null: 1, bit-reproducible)
      devices: null           # GPUs of this server's local workers, e.g. [0, 1] (round-robin)
      workers_per_device: 1   # local workers per listed GPU (small students share a GPU)
      resident_frames: auto   # auto | on | off: upload a protocol's frames to the device
      device_memory_share: 0.5  # (auto) upload when they fit in this share of free memory
      compile: false          # torch.compile the students (GPU; first steps slower)
    objective:
      select_on: source-val   # source-val | leave-one-source-out | target-test (an oracle)
      hter: test-eer          # the target HTER shown first: test-eer (FLIP) | source-threshold
      latency: false          # add measured CPU latency as a third objective
      max_gmacs: null         # hard budgets, checked before training
      max_latency_ms: null
      latency_runs: 20
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fasnas import selection
from fasnas.errors import ConfigError
from fasnas.schema import is_number, one_of

RESIDENT_CHOICES = ("auto", "on", "off")

HTER_CHOICES = ("test-eer", "source-threshold")


def _nsga2(seed: int) -> Any:
    import optuna

    return optuna.samplers.NSGAIISampler(seed=seed)


def _nsga3(seed: int) -> Any:
    import optuna

    return optuna.samplers.NSGAIIISampler(seed=seed)


def _tpe(seed: int) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed, multivariate=True)


def _gp(seed: int) -> Any:
    import optuna

    return optuna.samplers.GPSampler(seed=seed)


def _random(seed: int) -> Any:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


# name -> factory(seed); budget constraints reach every sampler through trial.set_constraint
SAMPLERS: dict[str, Callable[[int], Any]] = {
    "nsga2": _nsga2,
    "tpe": _tpe,
    "gp": _gp,
    "nsga3": _nsga3,
    "random": _random,
}


def make_sampler(name: str, seed: int) -> Any:
    """One of the shipped multi-objective samplers, seeded.

    Raises:
        ConfigError: An unknown sampler name, listing the choices.
    """
    import warnings

    import optuna

    if name not in SAMPLERS:
        raise ConfigError(f"sampler: expected one of {list(SAMPLERS)}, got {name!r}")
    with warnings.catch_warnings():  # GP and NSGA-III are experimental in Optuna 5.1
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return SAMPLERS[name](seed)


@dataclass(frozen=True)
class SearchSettings:
    """The ``search:`` section of a study config."""

    sampler: str = "nsga2"  # one of SAMPLERS
    n_trials: int | None = 16  # global trial budget (all workers); None: no limit
    timeout: float | None = None  # global time budget in seconds from creation; None: none
    workers: int = 1  # local worker processes of `study start` / `study resume`
    heartbeat_interval: int = 60  # seconds between heartbeats of a running trial
    grace_period: int = 600  # seconds without heartbeat after which a trial is stale
    max_retries: int = 3  # retries of one lost trial
    threads: int | None = None  # torch CPU threads per worker; None: 1 (bit-reproducible)
    devices: tuple[int, ...] | None = None  # CUDA devices of the local workers (round-robin)
    workers_per_device: int = 1  # local workers per listed device
    resident_frames: str = "auto"  # auto | on | off (fasnas.resident)
    device_memory_share: float = 0.5  # share of free device memory resident frames may take
    compile: bool = False  # torch.compile each student before training

    @property
    def local_workers(self) -> int:
        """Local workers of ``study start`` when ``--workers`` is not given: one per device
        slot when ``devices`` is set, else ``workers``."""
        if self.devices:
            return len(self.devices) * self.workers_per_device
        return self.workers

    def torch_threads(self) -> int:
        """CPU threads each worker gives torch.

        One by default: with more, the same seed and parameters gave different losses on the
        CPU (threaded reductions), and small students on oversubscribed cores slowed down
        several-fold (OpenMP spinning). Use more workers, not more threads, to fill the cores;
        set ``search.threads`` to trade reproducibility for speed.
        """
        return self.threads if self.threads is not None else 1

    def check(self, where: str) -> None:
        """Validate the section (``where`` is ``<file>: search``)."""
        one_of(self.sampler, tuple(SAMPLERS), f"{where}.sampler")
        one_of(self.resident_frames, RESIDENT_CHOICES, f"{where}.resident_frames")
        if not (is_number(self.device_memory_share) and 0 < self.device_memory_share <= 1):
            raise ConfigError(
                f"{where}.device_memory_share: expected a number in (0, 1], got "
                f"{self.device_memory_share!r}"
            )
        if self.devices is not None:
            if not self.devices or any(d < 0 for d in self.devices):
                raise ConfigError(
                    f"{where}.devices: expected a non-empty list of GPU indices >= 0 or null, "
                    f"got {list(self.devices)}"
                )
            if len(set(self.devices)) != len(self.devices):
                raise ConfigError(
                    f"{where}.devices: indices must be distinct, got {list(self.devices)}"
                )
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"{where}.threads: expected an integer >= 1, got {self.threads!r}")
        for key in ("n_trials", "timeout"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                raise ConfigError(
                    f"{where}.{key}: expected a positive number or null, got {value!r}"
                )
        for key in ("workers", "heartbeat_interval", "grace_period", "workers_per_device"):
            value = getattr(self, key)
            if value < 1:
                raise ConfigError(f"{where}.{key}: expected an integer >= 1, got {value!r}")
        if self.max_retries < 0:
            raise ConfigError(
                f"{where}.max_retries: expected an integer >= 0, got {self.max_retries!r}"
            )
        if self.grace_period <= self.heartbeat_interval:
            raise ConfigError(
                f"{where}: `grace_period > heartbeat_interval` must hold, but got "
                f"(grace_period={self.grace_period}, "
                f"heartbeat_interval={self.heartbeat_interval})"
            )


@dataclass(frozen=True)
class ObjectiveSettings:
    """The ``objective:`` section of a study config."""

    select_on: str = selection.SOURCE_VAL  # what is minimised (fasnas.selection.SELECT_ON)
    hter: str = "test-eer"  # the target HTER reported first (and minimised by target-test)
    latency: bool = False  # add measured CPU latency (batch 1, 1 thread) as a third objective
    max_gmacs: float | None = None  # hard budget, checked before training
    max_latency_ms: float | None = None  # hard budget, checked before training
    latency_runs: int = 20  # timed runs whose median is the latency

    def check(self, where: str) -> None:
        """Validate the section (``where`` is ``<file>: objective``)."""
        one_of(self.select_on, selection.SELECT_ON, f"{where}.select_on")
        one_of(self.hter, HTER_CHOICES, f"{where}.hter")
        for key in ("max_gmacs", "max_latency_ms"):
            value = getattr(self, key)
            if value is not None and not (is_number(value) and value > 0):
                raise ConfigError(f"{where}.{key}: expected a positive number, got {value!r}")
        if self.latency_runs < 1:
            raise ConfigError(
                f"{where}.latency_runs: expected an integer >= 1, got {self.latency_runs!r}"
            )

    @property
    def directions(self) -> list[str]:
        return ["minimize"] * (3 if self.latency else 2)

    @property
    def metric_names(self) -> list[str]:
        names = [selection.metric_name(self.select_on, self.hter), "GMACs"]
        return names + ["CPU latency (ms)"] if self.latency else names
