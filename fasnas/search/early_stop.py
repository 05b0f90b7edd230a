"""Early stopping for multi-objective studies: stop a trial between protocols when it is beaten.

Owns the ``early_stopping:`` section of a study config, the pure decision rule
(:func:`should_stop`) and the hook that applies it after each protocol
(:class:`EarlyStopper`, built by :func:`build_early_stopper`).

Optuna cannot prune multi-objective studies (``trial.report`` and ``trial.should_prune`` raise
NotImplementedError, docs/facts.md §1), so fasnas does it itself. A trial trains one student per
protocol in the study's protocol order; after each protocol its *partial HTER* (the mean over the
protocols done so far of its selection value, :mod:`fasnas.selection`: the source-validation
EER by default, never the target under an honest rule) is compared with the finished trials at
the same *fidelity*: the COMPLETE trials, and the PRUNED ones that got at least as far, that
hold the selection value of every protocol this trial has done. Their partial HTER is the mean
over the same protocols, so the comparison is like for like. A stopped trial is PRUNED; its
partial values and its reason are in its record (:func:`fasnas.record.mark_pruned`).

Config (every key optional; a missing section, or ``enabled: false``, turns it off;
``early_stopping: true`` takes every default)::

    early_stopping:
      enabled: true
      rule: dominated        # dominated | percentile
      margin: 0.02           # HTER as a fraction, like the objective: 0.02 = 2 HTER points
      min_trials: 4          # comparable finished trials needed before any stop
      min_protocols: 1       # never stop before this many protocols are done
      cost_tolerance: 0.0    # "no more GMACs" means GMACs <= this trial's x (1 + cost_tolerance)
      min_dominators: 1      # dominated rule: how many cheaper, better trials it takes
      percentile: 75.0       # percentile rule: stop above this percentile of similar-cost trials
      cost_band: 1.0         # percentile rule: similar cost = GMACs within x/÷ (1 + cost_band)

Rules:

- ``dominated`` (default): stop when at least ``min_dominators`` comparable trials with no more
  GMACs (within ``cost_tolerance``) have a partial HTER lower by at least ``margin``. Such a
  trial can only reach the Pareto front if its remaining protocols beat those trials' by more
  than the margin. A trial cheaper than every comparable trial is never stopped.
- ``percentile``: stop when the partial HTER exceeds the ``percentile``-th percentile of the
  comparable trials of similar cost (GMACs within a factor ``1 + cost_band`` either way) by more
  than ``margin``; ``min_trials`` then counts those similar-cost trials.

No trial is stopped after its last protocol (nothing would be saved), nor on a NaN HTER (the
objective fails such a trial itself). ``benchmarks/bench_early_stopping.py`` measures the
compute these defaults save on the demo study and the hypervolume they cost: over 40 NSGA-II
trials they saved 54 % (seed 0) and 57 % (seed 1) of the students' train + eval seconds, for a
relative hypervolume loss of 0.00 % and 0.77 %. ``cost_tolerance`` is the risky knob: on the
same trials, 0.5 with no margin lost up to 18 % of the hypervolume.

Reading the study. The hook reads the finished trials with
``study.get_trials(deepcopy=False, states=(COMPLETE, PRUNED))`` on every call; Optuna's RDB and
journal storages fetch only what changed since their last read, and the hook parses only trials
it has not seen (finished trials never change), so a call stays cheap in a study of thousands of
trials.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fasnas import record, selection
from fasnas.errors import ConfigError
from fasnas.schema import at_least, build, one_of

RULES = ("dominated", "percentile")


@dataclass(frozen=True)
class EarlyStopSettings:
    """The ``early_stopping:`` section of a study config (see the module docstring)."""

    enabled: bool = True  # false turns early stopping off
    rule: str = "dominated"  # dominated | percentile
    margin: float = 0.02  # HTER fraction a better trial must lead by (0.02 = 2 HTER points)
    min_trials: int = 4  # comparable finished trials needed before any stop
    min_protocols: int = 1  # never stop before this many protocols are done
    cost_tolerance: float = 0.0  # "no more GMACs": GMACs <= this trial's x (1 + tolerance)
    min_dominators: int = 1  # dominated rule: cheaper-and-better trials needed to stop
    percentile: float = 75.0  # percentile rule: the percentile of similar-cost partial HTERs
    cost_band: float = 1.0  # percentile rule: similar cost = GMACs within x/÷ (1 + cost_band)

    @classmethod
    def from_raw(cls, raw: Any, where: str) -> EarlyStopSettings:
        """Build a parsed ``early_stopping:`` section; ``where`` prefixes error messages.

        ``true`` takes every default, ``false`` turns early stopping off.

        Raises:
            ConfigError: On a non-mapping section, an unknown key or a bad value, naming the key
                path (e.g. ``studies/x.yaml: early_stopping.margin: ...``).
        """
        if raw is True:
            return cls()
        if raw is False:
            return cls(enabled=False)
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping (or true/false), got {raw!r}")
        return build(cls, raw, where)

    def check(self, where: str) -> None:
        """Validate the values (called by :func:`fasnas.schema.build`)."""
        one_of(self.rule, RULES, f"{where}.rule")
        at_least(self.margin, 0.0, f"{where}.margin")
        at_least(self.cost_tolerance, 0.0, f"{where}.cost_tolerance")
        at_least(self.min_trials, 1, f"{where}.min_trials")
        at_least(self.min_protocols, 1, f"{where}.min_protocols")
        at_least(self.min_dominators, 1, f"{where}.min_dominators")
        at_least(self.cost_band, 0.0, f"{where}.cost_band", strict=True)
        if not 0 < self.percentile < 100:
            raise ConfigError(f"{where}.percentile: must be in (0, 100), got {self.percentile}")


def should_stop(
    partial_hter: float,
    gmacs: float,
    others: np.ndarray | Sequence[Sequence[float]],
    settings: EarlyStopSettings | None = None,
) -> str | None:
    """The early-stopping decision at one fidelity: a reason to stop, or None to go on.

    Args:
        partial_hter: This trial's mean HTER over the protocols it has done (a fraction).
        gmacs: This trial's GMACs.
        others: ``(n, 2)`` rows ``(partial HTER, GMACs)`` of the comparable finished trials, at
            the same fidelity (mean over the same protocols). Rows holding NaN are ignored.
        settings: The rule and its parameters (defaults: :class:`EarlyStopSettings`).

    Returns:
        A one-line reason (stored as ``prune_reason``), or None.
    """
    settings = settings or EarlyStopSettings()
    rows = np.asarray(others, dtype=float).reshape(-1, 2)
    rows = rows[np.isfinite(rows).all(axis=1)]
    if not (math.isfinite(partial_hter) and math.isfinite(gmacs)):
        return None
    hters, costs = rows[:, 0], rows[:, 1]
    # A tiny slack so that hand-written boundary cases (0.30 - 0.10 vs 0.20) compare as equal.
    eps = 1e-12
    if settings.rule == "dominated":
        if len(rows) < settings.min_trials:
            return None
        cost_limit = gmacs * (1 + settings.cost_tolerance)
        better = (costs <= cost_limit + eps) & (hters <= partial_hter - settings.margin + eps)
        count = int(better.sum())
        if count < settings.min_dominators:
            return None
        best = int(np.argmin(np.where(better, hters, np.inf)))
        return (
            f"dominated: {count} of {len(rows)} comparable trials with <= {cost_limit:.4g} GMACs "
            f"have a partial HTER lower by >= {100 * settings.margin:.2f} points "
            f"(best {100 * hters[best]:.2f}% at {costs[best]:.4g} GMACs vs "
            f"{100 * partial_hter:.2f}% at {gmacs:.4g} GMACs)"
        )
    band = 1 + settings.cost_band
    similar = (costs >= gmacs / band - eps) & (costs <= gmacs * band + eps)
    if int(similar.sum()) < settings.min_trials:
        return None
    level = float(np.percentile(hters[similar], settings.percentile))
    if partial_hter <= level + settings.margin + eps:
        return None
    return (
        f"percentile: partial HTER {100 * partial_hter:.2f}% exceeds the "
        f"{settings.percentile:g}th percentile {100 * level:.2f}% of {int(similar.sum())} "
        f"comparable trials within x{band:g} GMACs by more than "
        f"{100 * settings.margin:.2f} points"
    )


class EarlyStopper:
    """The ``after_protocol`` hook of :class:`~fasnas.objective.StudentObjective`.

    Called as ``hook(trial, protocol, results_so_far)`` after each protocol, with the results of
    the protocols done so far (in the study's order). It reads the trial's GMACs and each
    result's selection value (:func:`fasnas.selection.protocol_value`); when
    :func:`should_stop` gives a reason it records the reason and the partial values
    (:func:`fasnas.record.mark_pruned`) and raises ``optuna.TrialPruned``.

    Not thread-safe: give each worker thread its own hook. Several processes may share a study.
    """

    def __init__(
        self,
        settings: EarlyStopSettings,
        study: Any,
        protocols: Sequence[str],
        hter: str = "test-eer",
        select_on: str = selection.TARGET_TEST,
    ) -> None:
        """
        Args:
            settings: The rule and its parameters.
            study: The ``optuna.Study`` the trials belong to.
            protocols: The study's protocols, in the order trials run them.
            hter: The objective's target threshold (``test-eer`` or ``source-threshold``).
            select_on: The study's selection rule: the values compared (never the target
                under an honest rule).
        """
        self.settings = settings
        self.study = study
        self.protocols = tuple(protocols)
        self.hter = hter
        self.select_on = select_on
        self._columns = {name: i for i, name in enumerate(self.protocols)}
        self._seen: set[int] = set()  # numbers of the finished trials already parsed
        self._gmacs = np.empty(0)
        self._hters = np.empty((0, len(self.protocols)))  # NaN where a protocol is missing

    def __call__(self, trial: Any, protocol: str, results_so_far: Mapping[str, dict]) -> None:
        import optuna

        done = list(results_so_far)
        if len(done) < self.settings.min_protocols or set(self.protocols) <= set(done):
            return
        gmacs = record.TrialRecord.of(trial).gmacs
        if gmacs is None:
            return
        partial = float(
            np.mean(
                [
                    selection.protocol_value(results_so_far[p], self.select_on, self.hter)
                    for p in done
                ]
            )
        )
        reason = should_stop(partial, float(gmacs), self.comparable(done), self.settings)
        if reason is None:
            return
        reason = f"after {len(done)}/{len(self.protocols)} protocols ({', '.join(done)}): {reason}"
        record.mark_pruned(trial, reason, partial, done)
        raise optuna.TrialPruned(reason)

    def comparable(self, done: Sequence[str]) -> np.ndarray:
        """Rows ``(partial HTER over done, GMACs)`` of the comparable finished trials."""
        self.refresh()
        for name in done:
            self._column(name)
        columns = [self._columns[name] for name in done]
        values = self._hters[:, columns]
        keep = np.isfinite(values).all(axis=1) & np.isfinite(self._gmacs)
        partial = values[keep].mean(axis=1) if len(columns) else np.empty(int(keep.sum()))
        return np.column_stack([partial, self._gmacs[keep]])

    def refresh(self) -> int:
        """Parse the finished trials not seen yet; returns how many were added."""
        import optuna

        states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        new = [
            t
            for t in self.study.get_trials(deepcopy=False, states=states)
            if t.number not in self._seen
        ]
        if not new:
            return 0
        gmacs = np.full(len(new), np.nan)
        hters = np.full((len(new), len(self._columns)), np.nan)
        for row, trial in enumerate(new):
            self._seen.add(trial.number)
            trial_record = record.TrialRecord.of(trial)
            gmacs[row] = _number(trial_record.gmacs)
            for protocol, value in trial_record.selection_values().items():
                column = self._column(protocol)
                if column >= hters.shape[1]:
                    hters = np.pad(hters, ((0, 0), (0, 1)), constant_values=np.nan)
                hters[row, column] = _number(value)
        self._gmacs = np.concatenate([self._gmacs, gmacs])
        self._hters = np.concatenate([self._hters, hters])
        return len(new)

    def _column(self, name: str) -> int:
        """The matrix column of a protocol, adding one for a protocol not seen before."""
        if name not in self._columns:
            self._columns[name] = len(self._columns)
            self._hters = np.pad(self._hters, ((0, 0), (0, 1)), constant_values=np.nan)
        return self._columns[name]


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return math.nan


def build_early_stopper(
    settings: EarlyStopSettings | None,
    study: Any,
    protocols: Sequence[str],
    hter: str,
    select_on: str = selection.TARGET_TEST,
) -> EarlyStopper | None:
    """The early-stopping hook of a study, or None when the config does not turn it on.

    Args:
        settings: The config's ``early_stopping:`` section (None: absent).
        study: The ``optuna.Study`` whose finished trials are compared.
        protocols: The study's protocols, in the order trials run them.
        hter: The objective's target threshold.
        select_on: The study's selection rule (what early stopping compares).
    """
    if settings is None or not settings.enabled:
        return None
    return EarlyStopper(settings, study, protocols, hter, select_on)
