"""The bench as fixed trials: baseline entries enqueued in ``<name>-bench``, run by any worker.

Owns how bench entries become trials. :func:`enqueue_entries` enqueues one WAITING trial per
:class:`~fasnas.search.bench_settings.BenchEntry` that has no trial yet (COMPLETE, RUNNING or
WAITING), marked with its user attributes (:func:`fasnas.record.bench_attrs`: baseline, kd,
bench seed, and the seed it trains with). The ordinary worker (:mod:`fasnas.search.worker`, in
the bench role) runs them with :class:`BenchSpace`, which reads the entry back from the trial,
so bench trials get the search's heartbeat, signals, artifacts and crash recovery; a failed
entry is enqueued again by the next ``fasnas bench``. Re-running the bench is idempotent.
"""

from __future__ import annotations

from typing import Any

from fasnas import record
from fasnas.distill.spec import DistillSpec
from fasnas.errors import ConfigError
from fasnas.search.bench_settings import BenchEntry, BenchSettings, baseline_spec
from fasnas.students import StudentSpec


class BenchSpace:
    """The "search space" of a bench study: a trial's specs come from its bench entry."""

    def __init__(self, settings: BenchSettings) -> None:
        self.settings = settings

    def suggest(self, trial: Any) -> tuple[StudentSpec, DistillSpec]:
        """The entry's (StudentSpec, DistillSpec); samples nothing.

        Raises:
            ConfigError: A trial that is not a bench entry of these settings.
        """
        key = record.TrialRecord.of(trial).bench_key
        if key is None or key[0] not in self.settings.models:
            raise ConfigError(f"trial {trial.number} is not an entry of this bench: {key}")
        model, kd, _ = key
        distill = self.settings.distill if kd else self.settings.ce_distill
        return baseline_spec(model, self.settings.size, self.settings.init_of(model)), distill


def entry_keys(study: Any, states: tuple[str, ...]) -> set[tuple[str, bool, int]]:
    """``(baseline, kd, bench_seed)`` of the study's trials in ``states`` (state names)."""
    found = set()
    for trial in study.get_trials(deepcopy=False):
        key = record.TrialRecord.of(trial).bench_key
        if key is not None and trial.state.name in states:
            found.add(key)
    return found


def completed_keys(study: Any) -> set[tuple[str, bool, int]]:
    """``(baseline, kd, bench_seed)`` of the bench study's COMPLETE trials."""
    return entry_keys(study, ("COMPLETE",))


def enqueue_entries(study: Any, settings: BenchSettings) -> list[BenchEntry]:
    """Enqueue every entry that has no COMPLETE, RUNNING or WAITING trial; returns them."""
    present = entry_keys(study, ("COMPLETE", "RUNNING", "WAITING"))
    missing = [entry for entry in settings.entries() if entry.key not in present]
    for entry in missing:
        study.enqueue_trial(
            params={},
            user_attrs=record.bench_attrs(entry.model, entry.kd, entry.seed),
            skip_if_exists=False,
        )
    return missing
