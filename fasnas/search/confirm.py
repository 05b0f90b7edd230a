"""Confirmation over seeds: the study's best candidates re-trained with new seeds, as fixed trials.

Owns which trials get confirmed and how confirmations become trials. A single-seed front ranks
luck as much as architectures (the seed spread of a trial's mean HTER is as large as the gaps
between siblings), so ``fasnas study confirm CONFIG --top K --seeds N``:

- picks the K best COMPLETE candidates of the search study under its own values (the selection
  metric, GMACs[, latency]; :func:`fasnas.report.pareto.best_by_rank`): the front first, then
  the trials just behind it (rank, then crowding), so siblings within seed noise of a front
  point are confirmed too. The target HTER plays no part;
- enqueues, for each candidate, N WAITING trials in the companion study ``<name>-confirm``
  (:func:`fasnas.record.confirm_study_name`), each marked ``confirm_of`` (the trial number) and
  ``confirm_index`` (1..N), with the candidate's own specs and a new training seed
  (:func:`confirm_seed`). The ordinary worker runs them (role ``confirm``, with
  :class:`ConfirmSpace`), so any number of workers on any server run them and crash recovery
  retries them. Idempotent: an entry with a COMPLETE, RUNNING or WAITING trial is not enqueued
  again, so re-running adds only the missing seeds (or candidates).

Confirmations never bias the sampler: they live in the companion study, and a sampler only
sees the trials of the study it samples, so the search study's history, and therefore its
next proposal under a given sampler seed, is the same with or without them.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fasnas import record
from fasnas.distill.spec import DistillSpec
from fasnas.errors import ConfigError
from fasnas.report.pareto import best_by_rank, is_candidate
from fasnas.students import StudentSpec

LIVE_STATES = ("COMPLETE", "RUNNING", "WAITING")


def confirm_seed(study_seed: int, number: int, index: int) -> int:
    """The training seed of confirmation ``index`` of trial ``number``: sha256 of the three,
    in ``[0, 2**31 - 1)`` (distinct from the trial's own seed but for a 1-in-2**31 chance)."""
    text = f"fasnas-confirm:{study_seed}:{number}:{index}"
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**31 - 1)


def check_counts(top: Any, seeds: Any) -> None:
    """Refuse a bad ``--top``/``--seeds`` before anything is written.

    Raises:
        ConfigError: Naming the option.
    """
    for name, value in (("--top", top), ("--seeds", seeds)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name}: expected an integer >= 1, got {value!r}")


def pick_candidates(trials: Sequence[Any], n_objectives: int, top: int) -> list[Any]:
    """The ``top`` best candidates (:func:`~fasnas.report.pareto.is_candidate`) by
    non-dominated rank, then crowding, on their first ``n_objectives`` values."""
    candidates = [t for t in trials if is_candidate(t, n_objectives)]
    if not candidates:
        return []
    points = np.array([t.values[:n_objectives] for t in candidates], dtype=float)
    return [candidates[i] for i in best_by_rank(points, top)]


@dataclass(frozen=True)
class ConfirmEntry:
    """One confirmation run: seed ``index`` of trial ``number``."""

    number: int
    index: int
    seed: int
    student_spec: dict[str, Any]
    distill_spec: dict[str, Any]

    @property
    def key(self) -> tuple[int, int]:
        return (self.number, self.index)

    def attrs(self) -> dict[str, Any]:
        return record.confirm_attrs(
            self.number, self.index, self.seed, self.student_spec, self.distill_spec
        )


def plan_entries(candidates: Sequence[Any], seeds: int, study_seed: int) -> list[ConfirmEntry]:
    """Seeds 1..``seeds`` of every candidate, candidate by candidate.

    Raises:
        ConfigError: A candidate without recorded specs (made by another tool).
    """
    entries = []
    for trial in candidates:
        trial_record = record.TrialRecord.of(trial)
        student, distill = trial_record.student_spec, trial_record.distill_spec
        if student is None or distill is None:
            raise ConfigError(f"trial {trial.number} has no recorded specs to re-train")
        for index in range(1, seeds + 1):
            seed = confirm_seed(study_seed, trial.number, index)
            entries.append(ConfirmEntry(trial.number, index, seed, student, distill))
    return entries


def entry_keys(study: Any, states: tuple[str, ...]) -> set[tuple[int, int]]:
    """``(confirmed number, index)`` of the confirm study's trials in ``states``."""
    found = set()
    for trial in study.get_trials(deepcopy=False):
        key = record.TrialRecord.of(trial).confirm_key
        if key is not None and trial.state.name in states:
            found.add(key)
    return found


def enqueue_entries(study: Any, entries: Sequence[ConfirmEntry]) -> list[ConfirmEntry]:
    """Enqueue every entry without a COMPLETE, RUNNING or WAITING trial; returns them."""
    present = entry_keys(study, LIVE_STATES)
    missing = [entry for entry in entries if entry.key not in present]
    for entry in missing:
        study.enqueue_trial(params={}, user_attrs=entry.attrs(), skip_if_exists=False)
    return missing


def progress(study: Any) -> dict[str, Any]:
    """Confirmation progress by entry (a retried run counts once): ``entries``, and how many
    are ``complete``, ``running``, ``waiting`` or ``failed`` (no live trial left: ``fasnas
    study resume --confirm`` or ``study confirm`` retries them), and the ``candidates``."""
    states: dict[tuple[int, int], set[str]] = {}
    for trial in study.get_trials(deepcopy=False):
        key = record.TrialRecord.of(trial).confirm_key
        if key is not None:
            states.setdefault(key, set()).add(trial.state.name)
    counts = Counter()
    for seen in states.values():
        for state in ("COMPLETE", "RUNNING", "WAITING"):
            if state in seen:
                counts[state.lower()] += 1
                break
        else:
            counts["failed"] += 1
    found: dict[str, Any] = {"entries": len(states)}
    found.update({name: counts[name] for name in ("complete", "running", "waiting", "failed")})
    found["candidates"] = sorted({number for number, _ in states})
    return found


def companion_of(study: Any) -> Any | None:
    """The ``<name>-confirm`` study beside ``study`` in its storage, or None."""
    import optuna

    name = record.confirm_study_name(study.study_name)
    try:
        study._storage.get_study_id_from_name(name)
    except KeyError:
        return None
    return optuna.load_study(study_name=name, storage=study._storage)


class ConfirmSpace:
    """The "search space" of a confirm study: a trial's specs are those it was enqueued with."""

    def suggest(self, trial: Any) -> tuple[StudentSpec, DistillSpec]:
        """The recorded (StudentSpec, DistillSpec); samples nothing.

        Raises:
            ConfigError: A trial that is not a confirmation.
        """
        trial_record = record.TrialRecord.of(trial)
        student, distill = trial_record.student_spec, trial_record.distill_spec
        if trial_record.confirm_key is None or student is None or distill is None:
            raise ConfigError(f"trial {trial.number} is not a confirmation entry")
        where = f"confirmation trial {trial.number}"
        return StudentSpec.from_dict(student, where), DistillSpec.from_dict(distill, where)
