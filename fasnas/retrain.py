"""``fasnas export --retrain-all``: a trial's student retrained on every MCIO domain.

Owns :func:`retrain_all`. The leave-one-out students of a study each miss one domain; for
deployment, the chosen architecture is trained once more on all four MCIO domains' ``train``
lists (plus CelebA-Spoof when ``data.celeb``), protocol :data:`~fasnas.data.protocols.ALL`,
with the trial's own specs (family, size, distillation weights, lr, iterations, augmentation)
and seed, distilled from the teacher of protocol ``ALL`` (``<teacher.dir>/ALL.pt``: ``fasnas
teacher train --protocol ALL``, or an imported teacher trained on every domain), whose outputs
are cached like any protocol's. The same share of source videos as in the search
(``data.val_fraction``) is held out, and the decision threshold is fixed on them (their EER
threshold): there is no target left to test on, so the bundle has no test-EER threshold.
:mod:`fasnas.export` writes the result to ``DIR/ALL/``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from fasnas.data.protocols import ALL
from fasnas.objective import StudentObjective
from fasnas.train import evaluate_source_val


@dataclass
class Retrained:
    """A student trained on every domain, with what its bundle records."""

    student: Any  # the trained Student, eval mode, on the CPU
    metrics: dict[str, Any]  # {"source-val": metrics at its own EER threshold}
    frames: Any  # the ProtocolFrames of ALL
    preprocess: Any  # the ALL teacher's preprocessing
    teacher_info: Any  # its TeacherInfo
    seconds: float  # training time


def retrain_all(config, student_spec, distill, seed: int) -> Retrained:
    """Train ``student_spec`` with ``distill`` and ``seed`` on protocol ``ALL``'s sources and
    fix its threshold on the held-out source videos.

    Raises:
        CheckpointError: No ``<teacher.dir>/ALL.pt`` (the message says how to make one).
        DataError: A list file of a domain is missing.
    """
    from fasnas.teacher.resolve import read_protocol_info

    objective = StudentObjective(config, None)
    prepared = objective.prepare(ALL)
    frames = prepared.frames
    student, norm, fitted = objective.fit_student(
        prepared, student_spec, distill, seed, frames.source_train, prepared.outputs
    )
    metrics = {
        "source-val": evaluate_source_val(
            lambda x: student(x)[0], frames.source_val, norm, objective.device
        )
    }
    info = dataclasses.replace(
        read_protocol_info(config, ALL), file_sha256=prepared.teacher_sha256
    )
    return Retrained(
        student=student.cpu().eval(),
        metrics=metrics,
        frames=frames,
        preprocess=prepared.preprocess,
        teacher_info=info,
        seconds=fitted.seconds,
    )
