"""Evaluating a protocol's teacher file and recording the result in it: ``fasnas teacher eval``.

Owns ``fasnas teacher eval``: for each protocol it loads the configured teacher file (vetted
for leakage by :mod:`.resolve`), scores the held-out source-validation videos and the target
test set (:func:`fasnas.train.evaluate_model`: ``source-val``, ``test-eer`` and
``source-threshold``), counts the image path's GMACs, and rewrites the file with those in its
``extra`` (``metrics``, ``gmacs``, ``source_val_seen``: the keys ``fasnas teacher train``
writes), atomically (:func:`fasnas.teacher.file.update_extra`; the weights are written back as
read). It is how an imported checkpoint, e.g. a released FLIP model, gets the HTERs the report
compares the students with::

    fasnas teacher import FLIP_M.pth.tar --format flip-it --protocol M --out teachers/M.pt
    fasnas teacher eval --config studies/X.yaml --protocol M
    fasnas teacher cache --config studies/X.yaml --protocol M

Every ``--protocol`` name and every teacher file is checked before any file is rewritten. Each
run re-evaluates and rewrites; nothing is skipped.

**Source-validation leakage.** fasnas holds some videos of the source ``train`` lists out as
source validation (``data.val_fraction``) and fixes the honest threshold at their EER. FLIP
trained its checkpoints on every video of those lists, held-out ones included, so for an
imported FLIP checkpoint the source-validation EER and the ``source-threshold`` HTER are
optimistic. The file records it as ``extra["source_val_seen"]``
(:func:`fasnas.teacher.reference.source_val_seen`):

- ``teacher.source_val_seen: true | false`` in the study config decides when set;
- otherwise (``null``, the default) it is detected from the file: a teacher ``fasnas teacher
  train`` wrote (its ``extra`` holds ``iterations`` and it records no ``source_path``; newer ones
  also store ``source_val_seen: false``) trained on source-train only: False; anything else,
  e.g. any ``fasnas teacher import``\\ ed checkpoint (it records ``source_path``): True. Weights
  that never saw FAS data (plain CLIP imported as ``openai``/``open_clip``) are flagged too;
  say ``false`` in the config for those.

The flag follows from the config and the file's provenance, never from an earlier run's record,
so :func:`fasnas.teacher.reference.teacher_reference` (what the report reads) gives the same.

**Hashes.** The rewritten file has a new sha256. The teacher cache is keyed by it and a study
records it in its fingerprint, so after an eval run ``fasnas teacher cache`` again, and a study
created on the old file refuses the new one: evaluate right after ``import``/``train``, before
caching and before starting studies. The command prints a line for every file it changed (a
re-run that finds the same numbers writes the same bytes, and says nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fasnas.config import StudyConfig
from fasnas.data.frameset import study_frames
from fasnas.device import select_device
from fasnas.teacher.file import update_extra
from fasnas.teacher.reference import (
    GMACS_KEY,
    METRICS_KEY,
    SEEN_KEY,
    hter_line,
    source_val_seen,
    teacher_gmacs,
)
from fasnas.teacher.resolve import load_protocol_teacher, read_protocol_info
from fasnas.train import evaluate_model


@dataclass(frozen=True)
class TeacherEvalResult:
    """What evaluating one protocol's teacher file found, and the file it rewrote."""

    protocol: str
    path: Path
    metrics: dict[str, dict]
    gmacs: float
    source_val_seen: bool
    old_sha256: str
    new_sha256: str

    @property
    def changed(self) -> bool:
        """Whether the rewrite changed the file's bytes (and so its sha256)."""
        return self.old_sha256 != self.new_sha256

    def summary(self) -> str:
        """One line: both HTERs, the source-validation EER (flagged when optimistic), AUC."""
        val = self.metrics["source-val"]
        seen = (
            "seen in training: source threshold optimistic" if self.source_val_seen else "held out"
        )
        return (
            f"teacher {self.protocol}: {hter_line(self.metrics)} | "
            f"source-val EER {100 * val['eer']:.2f}% ({seen}) | "
            f"AUC {100 * self.metrics['test-eer']['auc']:.2f}% | {self.gmacs:.3g} GMACs -> "
            f"{self.path}"
        )

    def hash_note(self) -> str | None:
        """The line saying the file's sha256 changed, or None when it did not."""
        if not self.changed:
            return None
        return (
            f"note: {self.path} changed (sha256 {self.old_sha256[:12]} -> "
            f"{self.new_sha256[:12]}): run `fasnas teacher cache` again; a study created on "
            f"the old file will refuse the new one"
        )


def check_teachers(config: StudyConfig, protocols: Sequence[str]) -> None:
    """Find and vet every protocol's teacher file before any is evaluated or rewritten.

    Raises:
        CheckpointError: When a file is missing, unreadable or trained on its target.
    """
    for protocol in protocols:
        read_protocol_info(config, protocol)  # metadata only: no teacher is built


def evaluate_teachers(
    config: StudyConfig,
    protocols: Sequence[str],
    *,
    progress: bool = True,
    echo: Callable[[str], None] = lambda line: print(line, flush=True),
) -> list[TeacherEvalResult]:
    """``fasnas teacher eval``: check every teacher file, then evaluate and rewrite each one,
    echoing its summary and, when its sha256 changed, the line saying so."""
    check_teachers(config, protocols)  # every file found and vetted before any is rewritten
    results = []
    for protocol in protocols:
        result = evaluate_teacher(config, protocol, progress=progress)
        echo(result.summary())
        if result.changed:
            echo(result.hash_note())
        results.append(result)
    return results


def evaluate_teacher(
    config: StudyConfig, protocol: str, *, progress: bool = True
) -> TeacherEvalResult:
    """Evaluate ``protocol``'s teacher file and record metrics, GMACs and the flag in it.

    Raises:
        CheckpointError: When the file is missing, unreadable, trained on the target, or
            cannot be rewritten (it is then left as it was).
    """
    teacher, info = load_protocol_teacher(config, protocol)
    path = config.teacher.file_for(protocol)
    frames = study_frames(config, protocol, progress=progress)
    device = select_device(config.device)
    metrics = evaluate_model(
        teacher.to(device),
        frames.source_val,
        frames.target_test,
        norm=teacher.preprocess,
        device=device,
        amp=config.teacher.train.amp,
    )
    gmacs = teacher_gmacs(teacher.cpu())
    seen = source_val_seen(info, config.teacher.source_val_seen)
    updated = update_extra(path, **{METRICS_KEY: metrics, GMACS_KEY: gmacs, SEEN_KEY: seen})
    return TeacherEvalResult(
        protocol=protocol,
        path=path,
        metrics=metrics,
        gmacs=gmacs,
        source_val_seen=seen,
        old_sha256=info.file_sha256,
        new_sha256=updated.file_sha256,
    )
