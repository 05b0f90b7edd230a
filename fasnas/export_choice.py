"""Which trials ``fasnas export`` takes, and what they recorded.

Owns choosing: opening the study (search or bench) without writing, checking that a trial is
COMPLETE and trained (:func:`exportable_trial`), the front to export (the confirmed front when
``fasnas study confirm`` has results, else the single-seed Pareto front), and a trial's specs
and protocols. Writing the bundle is :mod:`fasnas.export`'s business.
"""

from __future__ import annotations

from fasnas import record
from fasnas.config import StudyConfig
from fasnas.distill.spec import DistillSpec
from fasnas.errors import ConfigError
from fasnas.report.pareto import front_trials
from fasnas.search.fingerprint import require_space
from fasnas.search.session import BENCH, SEARCH, load_study
from fasnas.space import SearchSpace
from fasnas.students import StudentSpec


def open_study(config: StudyConfig, *, bench: bool = False, storage: str | None = None):
    """Load the search study of ``config`` (or its bench study) without writing anything.

    Raises:
        StorageError: When the storage or the study does not exist.
    """
    return load_study(config, storage, role=BENCH if bench else SEARCH)


def exportable_trial(study, number: int):
    """The COMPLETE, trained trial ``number`` of ``study``.

    Raises:
        ConfigError: An unknown number, a trial that is not COMPLETE, or one rejected for its
            budget (never trained).
    """
    if isinstance(number, bool) or not isinstance(number, int):
        raise ConfigError(f"--trial: expected a trial number, got {number!r}")
    trials = study.get_trials(deepcopy=False)
    found = [trial for trial in trials if trial.number == number]
    if not found:
        span = f"0..{len(trials) - 1}" if trials else "none"
        raise ConfigError(
            f"--trial {number}: study {study.study_name!r} has no trial {number} (trials: {span})"
        )
    trial = found[0]
    if trial.state.name != "COMPLETE":
        reason = record.TrialRecord.of(trial).reason
        why = f" ({reason})" if reason else ""
        raise ConfigError(
            f"--trial {number}: trial {number} of study {study.study_name!r} is "
            f"{trial.state.name}{why}; only COMPLETE trials can be exported"
        )
    rejected = record.TrialRecord.of(trial).rejected
    if rejected is not None:
        raise ConfigError(
            f"--trial {number}: trial {number} was rejected before training "
            f"({rejected}); it has no trained student"
        )
    return trial


def pareto_numbers(study) -> list[int]:
    """Numbers of the study's Pareto trials (:func:`fasnas.report.pareto.front_trials`)."""
    trials = study.get_trials(deepcopy=False)
    return sorted(t.number for t in front_trials(trials, len(study.directions)))


def front_to_export(study) -> tuple[list[int], str]:
    """``(numbers, which front)``: the confirmed front (on means over seeds,
    :mod:`fasnas.report.confirmed`) when ``fasnas study confirm`` has results, else the
    study's single-seed front."""
    from fasnas.report.confirmed import confirmed_front, confirmed_of
    from fasnas.search.confirm import companion_of

    confirm = companion_of(study)
    if confirm is None:
        return pareto_numbers(study), "Pareto trials"
    front = confirmed_front(confirmed_of(study, confirm))
    if not len(front):
        return pareto_numbers(study), "Pareto trials (no confirmation complete yet)"
    return sorted(front["number"].astype(int).tolist()), "confirmed front trials (over seeds)"


def trial_specs(config: StudyConfig, trial):
    """``(StudentSpec, DistillSpec)`` of a trial: its recorded specs, else its params.

    Raises:
        ConfigError: When neither rebuilds.
    """
    trial_record = record.TrialRecord.of(trial)
    where = f"trial {trial.number}"
    student = trial_record.get(record.STUDENT_SPEC)
    distill = trial_record.get(record.DISTILL_SPEC)
    if isinstance(student, dict) and isinstance(distill, dict):
        return (
            StudentSpec.from_dict(student, where=f"{where}: {record.STUDENT_SPEC}"),
            DistillSpec.from_dict(distill, where=f"{where}: {record.DISTILL_SPEC}"),
        )
    return SearchSpace.load(require_space(config)).fixed(trial.params)


def trial_protocols(config: StudyConfig, trial) -> list[str]:
    """The protocols the trial recorded metrics for (the config's order)."""
    done = list(record.TrialRecord.of(trial).done_protocols(config.protocols))
    return done or list(config.protocols)
