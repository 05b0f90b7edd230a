"""The study's global budget: how many fresh trials, until when, and who may still start one.

Owns the budget rules. ``search.n_trials`` counts the study's *fresh* trials: every sampled
trial except those the budget refused. Fixed trials (retries, bench entries) never count: a
retry continues its original, a bench entry is part of a fixed list. Before each trial a worker
stops when the count has reached the budget and no trial waits in the queue; a fresh trial whose
number puts it past the budget (several workers asked at the same moment) is failed at once
with ``fail_reason: budget-spent`` and never retried, so the count is exact. The timeout is a
deadline stored in the study: ``search.timeout`` counts from the study's creation,
``--timeout S`` on ``study start`` from the moment it is given; no fresh trial starts after it.
Queued trials run even when the budget is spent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fasnas import record
from fasnas.search.recovery import is_budget_spent
from fasnas.search.settings import SearchSettings


def budget_for(
    settings: SearchSettings,
    created_at: float,
    n_trials: int | None,
    timeout: float | None,
    now: float,
) -> dict[str, Any]:
    """The ``budget`` study attribute: ``{"n_trials", "deadline"}`` (see the module docstring)."""
    budget_trials = n_trials if n_trials is not None else settings.n_trials
    if timeout is not None:
        deadline = now + float(timeout)
    elif settings.timeout is not None:
        deadline = created_at + float(settings.timeout)
    else:
        deadline = None
    return {"n_trials": budget_trials, "deadline": deadline}


@dataclass(frozen=True)
class Budget:
    """The study's global budget (the study record's ``budget``)."""

    n_trials: int | None
    deadline: float | None

    @classmethod
    def of(cls, study: Any, *, fixed_only: bool = False) -> Budget:
        """The study's budget; ``fixed_only`` (a bench study) admits no fresh trial."""
        raw = record.StudyRecord.of(study).budget
        if fixed_only:
            return cls(0, None)
        return cls(raw.get("n_trials"), raw.get("deadline"))

    @staticmethod
    def counts(trial: Any) -> bool:
        """Whether a trial uses budget: a fresh sampled trial that the budget admitted (not a
        fixed trial: a retry or a bench entry)."""
        return not record.TrialRecord.of(trial).is_fixed and not is_budget_spent(trial)

    def used(self, trials: Sequence) -> int:
        """Fresh trials so far (every state)."""
        return sum(1 for trial in trials if self.counts(trial))

    def stop_reason(self, trials: Sequence, now: float) -> str | None:
        """Why a worker should not start another trial, or None (queued trials always run)."""
        from optuna.trial import TrialState

        if any(trial.state == TrialState.WAITING for trial in trials):
            return None
        if self.n_trials == 0:
            return "no queued trial left"
        used = self.used(trials)
        if self.n_trials is not None and used >= self.n_trials:
            return f"budget spent: {used} of {self.n_trials} trials"
        if self.deadline is not None and now >= self.deadline:
            return "timeout: the study's deadline has passed"
        return None

    def refusal(self, trials: Sequence, number: int, now: float) -> str | None:
        """Why the fresh trial ``number`` must not run (it came past the budget), or None."""
        rank = sum(1 for trial in trials if trial.number <= number and self.counts(trial))
        if self.n_trials is not None and rank > self.n_trials:
            return (
                f"budget-spent: trial {number} is fresh trial {rank} of a budget of "
                f"{self.n_trials} (other workers took the rest)"
            )
        if self.deadline is not None and now >= self.deadline:
            return "budget-spent: the study's deadline has passed"
        return None
