"""``fasnas export CONFIG --trial N [--out DIR]``: a trial's trained students, for deployment.

Owns turning a COMPLETE trial (of the search study, or of the bench study with ``--bench``)
into files a deployment can use without fasnas' search machinery: choosing the trial (or the
Pareto trials), finding its trained students and writing the bundle. For each protocol the
trial ran, it writes ``DIR/<P>/`` (format in :mod:`fasnas.load`, files and their checks in
:mod:`fasnas.deploy`):

- ``student.pt``: weights of the deployed student (reparameterised where the family fuses
  branches), its ``StudentSpec``, its preprocessing and the trial's metrics;
- ``spec.json``: the same spec, distillation spec and preprocessing as JSON;
- ``student.torchscript.pt``: ``torch.jit.trace`` of the deployed student (logits only), when
  tracing works for the family;
- ``student.onnx``: only when ``onnx`` and ``onnxruntime`` are installed.

Each deployment file is checked against PyTorch on a random batch of another size than the one
traced (max abs difference of the logits < :data:`~fasnas.deploy.TOLERANCE`), and the check is
recorded in ``DIR/export.json``. The weights are the ones the trial trained, read from its
Optuna artifacts (``artifact.<P>``, :mod:`fasnas.search.artifacts`); when they are missing the
protocol is retrained with the trial's own seed and the output says so. The whole folder is
built beside its target and renamed into place (:func:`fasnas._io.atomic_dir`), so an
interrupted export never leaves a half-written ``DIR``.

Run it::

    fasnas export studies/demo.yaml --trial 3 --out exports/demo-3
    fasnas export studies/demo.yaml --pareto            # every Pareto trial -> DIR/trial-<n>/
    python -c "import fasnas; print(fasnas.load_student('exports/demo-3/M'))"
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from fasnas import record
from fasnas._io import atomic_dir
from fasnas.config import StudyConfig
from fasnas.deploy import TOLERANCE, check_line, write_protocol
from fasnas.distill.spec import DistillSpec
from fasnas.errors import ConfigError
from fasnas.load import EXPORT_FILE
from fasnas.objective import StudentObjective
from fasnas.report.pareto import front_trials
from fasnas.search.artifacts import (
    finished_protocols,
    open_artifact_store,
    read_weights,
)
from fasnas.search.fingerprint import require_space
from fasnas.search.session import BENCH, SEARCH, load_study
from fasnas.space import SearchSpace
from fasnas.students import StudentSpec, create_student
from fasnas.teacher.resolve import load_protocol_teacher


@dataclass
class ExportResult:
    """What one trial's export wrote."""

    trial: int
    out: Path
    protocols: dict[str, dict[str, Any]] = field(default_factory=dict)  # P -> checks, source
    lines: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- the trial


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


# ---------------------------------------------------------------------------- the student


class StudentSource:
    """Where a trial's trained students come from: its artifacts, or a deterministic retrain.

    Loads each protocol's teacher preprocessing once; the retraining objective is created only
    when some protocol's weights are missing.
    """

    def __init__(self, config: StudyConfig, store) -> None:
        self.config = config
        self.store = store
        self._objective = None

    @functools.cache  # noqa: B019 - one source per export command
    def preprocess(self, protocol: str):
        """The teacher's preprocessing of ``protocol`` (the students use its statistics)."""
        teacher, _ = load_protocol_teacher(self.config, protocol)
        return teacher.preprocess

    def trained(self, trial, protocol: str, student_spec, distill) -> tuple[Any, str]:
        """``(trained Student in eval mode, where its weights came from)``."""
        from optuna.artifacts.exceptions import ArtifactNotFound

        ids = finished_protocols(trial.user_attrs, (protocol,)).get(protocol)
        reason = "no weights artifact recorded"
        if ids is not None and self.store is not None:
            try:
                state = read_weights(self.store, ids["weights"])
            except (ArtifactNotFound, OSError, RuntimeError) as error:
                reason = f"artifact {ids['weights']} unreadable ({type(error).__name__})"
            else:
                spec = dataclasses.replace(student_spec, weights=None)
                student = create_student(
                    spec, embed_dim=int(state["projection.weight"].shape[0]), initialise=False
                )
                student.load_state_dict(state, strict=True)
                return student.eval(), f"artifact {ids['weights']}"
        seed = record.TrialRecord.of(trial).seed
        if seed is None:
            raise ConfigError(
                f"trial {trial.number}: {reason} and no recorded seed to retrain {protocol} with"
            )
        objective = self._retrainer()
        objective.run_protocol(protocol, student_spec, distill, seed)
        student = objective.last_student.cpu().eval()
        return student, f"retrained with seed {seed} ({reason})"

    def _retrainer(self):
        if self._objective is None:
            self._objective = StudentObjective(self.config, None)
        return self._objective


# ---------------------------------------------------------------------------- the command


def default_out(config: StudyConfig, name: str) -> Path:
    """``<config folder>/exports/<name>``."""
    return config.path.parent / "exports" / name


def export_study_trial(
    config: StudyConfig,
    study,
    trial,
    out: Path,
    source: StudentSource,
    echo: Callable[[str], Any],
) -> ExportResult:
    """Export one trial already checked by :func:`exportable_trial` to ``out``."""
    student_spec, distill = trial_specs(config, trial)
    out = Path(out).resolve()
    result = ExportResult(trial=trial.number, out=out)
    trial_record = record.TrialRecord.of(trial)
    with atomic_dir(out, what="cannot write the export") as tmp:
        for protocol in trial_protocols(config, trial):
            student, origin = source.trained(trial, protocol, student_spec, distill)
            extra = {
                "study": study.study_name,
                "trial": trial.number,
                "protocol": protocol,
                "seed": trial_record.seed,
                "metrics": trial_record.metrics(protocol),
                "baseline": trial_record.get(record.BASELINE),
                "kd": trial_record.get(record.KD),
            }
            checks = write_protocol(
                tmp / protocol, student, student_spec, distill, source.preprocess(protocol), extra
            )
            result.protocols[protocol] = {"weights": origin, **checks}
            line = (
                f"trial {trial.number} {protocol}: weights from {origin}; "
                f"{check_line('torchscript', checks['torchscript'])}; "
                f"{check_line('onnx', checks['onnx'])}"
            )
            result.lines.append(line)
            echo(line)
        summary = {
            "study": study.study_name,
            "trial": trial.number,
            "values": list(trial.values or []),
            "student_spec": student_spec.to_dict(),
            "distill_spec": distill.to_dict(),
            "tolerance": TOLERANCE,
            "protocols": result.protocols,
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "torch": torch.__version__,
        }
        text = json.dumps(summary, indent=2, default=str) + "\n"
        (tmp / EXPORT_FILE).write_text(text, encoding="utf-8")
    done = f"exported trial {trial.number} ({student_spec.label}) to {out}"
    result.lines.append(done)
    echo(done)
    return result


def export_trials(
    config: StudyConfig,
    *,
    trial: int | None = None,
    pareto: bool = False,
    out: str | Path | None = None,
    bench: bool = False,
    storage: str | None = None,
    echo: Callable[[str], Any] | None = None,
) -> list[ExportResult]:
    """``fasnas export``: one trial (``trial``) to ``out``, or every Pareto trial (``pareto``)
    to ``out/trial-<n>/``.

    Args:
        config: The study config.
        trial: The trial number to export.
        pareto: Export every Pareto trial instead: the confirmed front's when the study has
            confirmations (``fasnas study confirm``), else the single-seed front's.
        out: The output folder (default ``exports/<study>-trial-<n>`` or
            ``exports/<study>-pareto`` beside the config).
        bench: Read the bench study (``<name>-bench``) instead of the search study.
        storage: A storage URL overriding the config's.
        echo: Where lines go (default: print, flushed).

    Raises:
        ConfigError: Neither or both of ``trial``/``pareto``; an unknown, unfinished or
            rejected trial; no Pareto trial.
        StorageError: The storage or study does not exist.
    """
    echo = echo or functools.partial(print, flush=True)
    if (trial is None) == (not pareto):
        raise ConfigError("export: give exactly one of --trial N and --pareto")
    study = open_study(config, bench=bench, storage=storage)
    store = open_artifact_store(config, check=False) if config.artifact_dir().is_dir() else None
    source = StudentSource(config, store)
    if not pareto:
        chosen = exportable_trial(study, trial)
        target = (
            Path(out)
            if out is not None
            else default_out(config, f"{study.study_name}-trial-{trial}")
        )
        return [export_study_trial(config, study, chosen, target, source, echo)]
    numbers, which = pareto_numbers(study), "Pareto trials"
    if not bench:
        numbers, which = front_to_export(study)
    if not numbers:
        raise ConfigError(f"--pareto: study {study.study_name!r} has no COMPLETE Pareto trial")
    base = Path(out) if out is not None else default_out(config, f"{study.study_name}-pareto")
    echo(f"{len(numbers)} {which}: {numbers}")
    return [
        export_study_trial(
            config, study, exportable_trial(study, n), base / f"trial-{n}", source, echo
        )
        for n in numbers
    ]
