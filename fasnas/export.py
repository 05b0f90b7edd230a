"""``fasnas export CONFIG --trial N [--out DIR]``: a trial's trained students, for deployment.

Owns turning a COMPLETE trial (of the search study, or of the bench study with ``--bench``)
into files a deployment can use without fasnas' search machinery: choosing the trial (or the
Pareto trials), finding its trained students and writing the bundle. For each protocol the
trial ran, it writes ``DIR/<P>/`` (format in :mod:`fasnas.load`, files and their checks in
:mod:`fasnas.deploy`):

- ``student.pt``: weights of the deployed student (reparameterised where the family fuses
  branches), its ``StudentSpec``, its preprocessing and the trial's metrics;
- ``spec.json``: everything a deployment needs (:mod:`fasnas.bundle`): input, colour order,
  resize, mean/std, classes, face crop, thresholds, teacher and data hashes, GMACs, params;
- ``student.torchscript.pt`` and ``student.onnx`` (``--format``, both by default; ONNX needs
  the ``deploy`` extra), and with ``--uint8-input`` ``student.uint8.*`` taking uint8 RGB frames;
- ``check_frames.npz``: the real frames of the data cache the files were checked on.

Each deployment file is checked against the PyTorch pipeline on those frames (max abs
difference of the logits < :data:`~fasnas.deploy.TOLERANCE`, recorded in ``spec.json`` and
``DIR/export.json``); a mismatch exits 1 (:class:`ParityError`) after writing the bundle.
The weights are the ones the trial trained, read from its Optuna artifacts (``artifact.<P>``,
:mod:`fasnas.search.artifacts`); when they are missing the protocol is retrained with the
trial's own seed and the output says so. The whole folder is
built beside its target and renamed into place (:func:`fasnas._io.atomic_dir`), so an
interrupted export never leaves a half-written ``DIR``.

Run it::

    fasnas export studies/demo.yaml --trial 3 --out exports/demo-3
    fasnas export studies/demo.yaml --pareto            # every Pareto trial -> DIR/trial-<n>/
    fasnas export studies/demo.yaml --trial 3 --format onnx --uint8-input
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
from fasnas.bundle import check_frames, protocol_provenance
from fasnas.config import StudyConfig
from fasnas.data.frameset import study_frames
from fasnas.deploy import TOLERANCE, check_line, parse_formats, write_protocol
from fasnas.errors import ConfigError, FasnasError
from fasnas.export_choice import (
    exportable_trial,
    front_to_export,
    open_study,
    pareto_numbers,
    trial_protocols,
    trial_specs,
)
from fasnas.load import EXPORT_FILE
from fasnas.objective import StudentObjective
from fasnas.search.artifacts import (
    finished_protocols,
    open_artifact_store,
    read_weights,
)
from fasnas.students import create_student
from fasnas.teacher.resolve import load_protocol_teacher


class ParityError(FasnasError):
    """A deployment file disagrees with PyTorch (or did not export); the bundle is written."""

    exit_code = 1


@dataclass
class ExportResult:
    """What one trial's export wrote."""

    trial: int
    out: Path
    protocols: dict[str, dict[str, Any]] = field(default_factory=dict)  # P -> checks, source
    lines: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- the student


class StudentSource:
    """Where a trial's trained students come from: its artifacts, or a deterministic retrain.

    Loads each protocol's teacher and frames once; the retraining objective is created only
    when some protocol's weights are missing.
    """

    def __init__(self, config: StudyConfig, store) -> None:
        self.config = config
        self.store = store
        self._objective = None

    @functools.cache  # noqa: B019 - one source per export command
    def teacher(self, protocol: str):
        """``(teacher, info)`` of ``protocol`` (the students use its preprocessing)."""
        return load_protocol_teacher(self.config, protocol)

    def preprocess(self, protocol: str):
        """The teacher's preprocessing of ``protocol`` (the students use its statistics)."""
        return self.teacher(protocol)[0].preprocess

    @functools.cache  # noqa: B019 - one source per export command
    def frames(self, protocol: str):
        """The protocol's frame sets (from the data cache)."""
        return study_frames(self.config, protocol, progress=False)

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
    *,
    formats: tuple[str, ...] = ("torchscript",),
    uint8_input: bool = False,
    retrain_all: bool = False,
) -> ExportResult:
    """Export one trial already checked by :func:`exportable_trial` to ``out`` (and, with
    ``retrain_all``, its student retrained on every domain to ``out/ALL``)."""
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
            frames = source.frames(protocol)
            checks = write_protocol(
                tmp / protocol,
                student,
                student_spec,
                distill,
                source.preprocess(protocol),
                extra,
                frames=check_frames(frames),
                formats=formats,
                uint8_input=uint8_input,
                provenance={
                    "study": study.study_name,
                    "trial": trial.number,
                    **protocol_provenance(
                        config, protocol, source.teacher(protocol)[1], trial_record, frames
                    ),
                },
            )
            result.protocols[protocol] = {"weights": origin, **checks}
            line = f"trial {trial.number} {protocol}: weights from {origin}; " + "; ".join(
                check_line(name, check) for name, check in checks.items()
            )
            result.lines.append(line)
            echo(line)
        if retrain_all:
            _write_all(config, study, trial, tmp, student_spec, distill, result, echo, formats,
                       uint8_input)  # fmt: skip
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


def _write_all(config, study, trial, tmp, student_spec, distill, result, echo, formats, uint8):
    """``--retrain-all``: the trial's student trained on every domain (:mod:`fasnas.retrain`),
    written to ``tmp/ALL`` with its source-validation threshold."""
    from fasnas.data.protocols import ALL
    from fasnas.retrain import retrain_all

    seed = record.TrialRecord.of(trial).seed
    retrained = retrain_all(config, student_spec, distill, 0 if seed is None else seed)
    provenance = protocol_provenance(
        config, ALL, retrained.teacher_info, record.TrialRecord.of(trial), retrained.frames
    )
    provenance.update(study=study.study_name, trial=trial.number, metrics=retrained.metrics)
    extra = {"study": study.study_name, "trial": trial.number, "protocol": ALL, "seed": seed}
    checks = write_protocol(
        tmp / ALL,
        retrained.student,
        student_spec,
        distill,
        retrained.preprocess,
        {**extra, "metrics": retrained.metrics},
        frames=check_frames(retrained.frames),
        formats=formats,
        uint8_input=uint8,
        provenance=provenance,
    )
    origin = (
        f"retrained on every domain ({len(retrained.frames.source_train)} frames, seed {seed})"
    )
    result.protocols[ALL] = {"weights": origin, **checks}
    threshold = retrained.metrics["source-val"]["threshold"]
    line = f"trial {trial.number} {ALL}: {origin}, source-val threshold {threshold:.3f}; " + (
        "; ".join(check_line(name, check) for name, check in checks.items())
    )
    result.lines.append(line)
    echo(line)


def export_trials(
    config: StudyConfig,
    *,
    trial: int | None = None,
    pareto: bool = False,
    out: str | Path | None = None,
    bench: bool = False,
    storage: str | None = None,
    echo: Callable[[str], Any] | None = None,
    formats: str | None = None,
    uint8_input: bool = False,
    retrain_all: bool = False,
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
        formats: ``--format``: comma-separated ``torchscript``/``onnx`` (default: both, ONNX
            only when the deploy extra is installed).
        uint8_input: Also write graphs taking uint8 RGB frames (:mod:`fasnas.pipeline`).
        retrain_all: Also train each exported student on every MCIO domain (protocol ALL,
            :mod:`fasnas.retrain`) into ``<out>/ALL``.

    Raises:
        ConfigError: Neither or both of ``trial``/``pareto``; an unknown, unfinished or
            rejected trial; no Pareto trial; a bad ``--format``.
        StorageError: The storage or study does not exist.
        ParityError: A deployment file disagrees with PyTorch (after writing the bundles).
    """
    echo = echo or functools.partial(print, flush=True)
    if (trial is None) == (not pareto):
        raise ConfigError("export: give exactly one of --trial N and --pareto")
    chosen_formats, explicit = parse_formats(formats)
    if not explicit and "onnx" not in chosen_formats:
        echo("onnx: skipped (install the deploy extra: pip install -e '.[deploy]')")
    options = {"formats": chosen_formats, "uint8_input": uint8_input, "retrain_all": retrain_all}
    results = _export(config, trial, pareto, out, bench, storage, echo, options)
    failed = [
        f"trial {r.trial} {p} {name}"
        for r in results
        for p, checks in r.protocols.items()
        for name, check in checks.items()
        if isinstance(check, dict) and check.get("ok") is False
    ]
    if failed:
        raise ParityError(
            f"export: deployment files disagree with PyTorch (> {TOLERANCE:g}) or did not "
            f"export: {', '.join(failed)}; see export.json"
        )
    return results


def _export(config, trial, pareto, out, bench, storage, echo, options) -> list[ExportResult]:
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
        return [export_study_trial(config, study, chosen, target, source, echo, **options)]
    numbers, which = pareto_numbers(study), "Pareto trials"
    if not bench:
        numbers, which = front_to_export(study)
    if not numbers:
        raise ConfigError(f"--pareto: study {study.study_name!r} has no COMPLETE Pareto trial")
    base = Path(out) if out is not None else default_out(config, f"{study.study_name}-pareto")
    echo(f"{len(numbers)} {which}: {numbers}")
    return [
        export_study_trial(
            config, study, exportable_trial(study, n), base / f"trial-{n}", source, echo, **options
        )
        for n in numbers
    ]
