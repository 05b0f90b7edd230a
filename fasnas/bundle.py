"""``spec.json`` of an exported student: everything a deployment needs, without fasnas.

Owns the contents of the bundle's ``spec.json`` (:func:`bundle_spec`): the input (side, colour
order, layout, resize method, mean/std, and the uint8 graph when exported), the class order and
how to score, the face crop the frames must come from (the crop rule and margin of ``fasnas data
prepare``, read from the data root's ``prepare_report.json`` when it has one), the decision
threshold fixed on the held-out source-validation videos (the one to deploy) and the test-EER
one (labelled: it was chosen on the target's own scores), the teacher and data hashes, GMACs,
params, and the study, trial and protocol the student came from. Which files are written and
checked is :mod:`fasnas.deploy`'s business.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from fasnas.data.faces import CROP_SIZE, DEFAULT_MARGIN
from fasnas.load import preprocess_dict

BUNDLE_FORMAT = "fasnas-bundle"
BUNDLE_VERSION = 2
PREPARE_REPORT = "prepare_report.json"  # written by `fasnas data prepare` (fasnas.data.prepare)
CLASSES = ["spoof", "real"]
CROP_RULE = (
    "square of side max(w, h) * (1 + margin) around the detected face box's centre, shifted to "
    "lie inside the frame (shrunk to the frame's short side if larger), no rotation, resized to "
    "the crop size"
)
RESIZE = (
    "crop -> data size: cv2 INTER_AREA when shrinking, INTER_LINEAR when growing; data size -> "
    "input size: bilinear, antialiased, align_corners=False, clamped to [0, 1] (torch "
    "F.interpolate), skipped when the sides are equal"
)


def face_crop(data_root: Path, data_size: int) -> dict[str, Any]:
    """The face crop the student's frames came from: rule, margin, detector, sides.

    The settings are those ``fasnas data prepare`` recorded in ``prepare_report.json`` under the
    data root (per dataset); without one, prepare's defaults, said so.
    """
    found: dict[str, Any] = {}
    for folder in (Path(data_root), Path(data_root).parent):
        report = folder / PREPARE_REPORT
        try:
            data = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        datasets = data.get("datasets") if isinstance(data, dict) else None
        if isinstance(datasets, dict):
            found = {
                name: section.get("settings")
                for name, section in datasets.items()
                if isinstance(section, dict) and isinstance(section.get("settings"), dict)
            }
            break
    crop = {
        "required": True,
        "rule": CROP_RULE,
        "margin": DEFAULT_MARGIN,
        "detector": "haar",
        "crop_size": CROP_SIZE,
        "data_size": int(data_size),
        "source": "defaults of `fasnas data prepare` (no prepare_report.json under the data root)",
    }
    if found:
        first = next(iter(found.values()))
        crop.update(
            margin=first.get("margin", DEFAULT_MARGIN),
            detector=first.get("detector", "haar"),
            crop_size=first.get("size", CROP_SIZE),
            source=f"{PREPARE_REPORT} of the data root",
            per_dataset=found,
        )
    return crop


def data_hash(cache_keys: list[str]) -> str:
    """sha256 over the sorted frame-cache keys of a protocol (list files, size, format)."""
    return hashlib.sha256("\n".join(sorted(cache_keys)).encode()).hexdigest()


def thresholds(metrics: dict[str, Any] | None) -> dict[str, Any]:
    """The deployment threshold (source validation) and the labelled test-EER one."""
    metrics = metrics or {}
    source = (metrics.get("source-val") or {}).get("threshold")
    test = (metrics.get("test-eer") or {}).get("threshold")
    return {
        "threshold": {
            "value": source,
            "rule": "predict real iff P(real) >= value",
            "fixed_on": "held-out source-validation videos (EER threshold); use this one",
        },
        "threshold_test_eer": {
            "value": test,
            "label": "test-EER: chosen on the target's own test scores (FLIP's paper figure); "
            "not a deployment threshold",
        },
    }


def bundle_spec(
    *,
    student_spec,
    distill,
    norm,
    embed_dim: int,
    reparameterized: bool,
    provenance: dict[str, Any],
    uint8: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``spec.json`` dict of one exported protocol.

    Args:
        student_spec: The trial's :class:`~fasnas.students.StudentSpec`.
        distill: Its :class:`~fasnas.distill.spec.DistillSpec`.
        norm: The student's :class:`~fasnas.preprocess.Preprocess`.
        embed_dim: The projection width.
        reparameterized: Whether the backbone was fused.
        provenance: ``study``, ``trial``, ``protocol``, ``metrics``, ``gmacs``, ``params``,
            ``teacher`` (dict), ``data`` (dict), ``face_crop`` (dict).
        uint8: The uint8 graph's input (side, layout), when exported.
    """
    spec = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_VERSION,
        "student_spec": student_spec.to_dict(),
        "distill_spec": distill.to_dict(),
        "preprocess": preprocess_dict(norm),
        "embed_dim": int(embed_dim),
        "reparameterized": bool(reparameterized),
        "logits": CLASSES,
        "input": {
            "size": int(norm.size),
            "colour_order": "RGB",
            "layout": "NCHW float32, normalised: (x / 255 - mean) / std",
            "resize": RESIZE,
            "mean": list(norm.mean),
            "std": list(norm.std),
        },
        "classes": CLASSES,
        "score": "softmax(logits)[:, 1] = P(real)",
        "face_crop": provenance.get("face_crop"),
        **thresholds(provenance.get("metrics")),
        "teacher": provenance.get("teacher"),
        "data": provenance.get("data"),
        "gmacs": provenance.get("gmacs"),
        "params": provenance.get("params"),
        "study": provenance.get("study"),
        "trial": provenance.get("trial"),
        "protocol": provenance.get("protocol"),
    }
    if uint8 is not None:
        spec["input_uint8"] = uint8
    return spec


def check_frames(frames, n: int = 8):
    """``n`` real uint8 frames spread over a protocol's target test set (source validation
    when it is empty), for the parity checks."""
    import numpy as np

    for frame_set in (frames.target_test, frames.source_val, frames.source_train):
        if len(frame_set):
            index = np.unique(np.linspace(0, len(frame_set) - 1, n).round().astype(np.int64))
            return frame_set.images(index)
    raise ValueError("the protocol has no frames")


def protocol_provenance(config, protocol: str, info, trial_record, frames) -> dict[str, Any]:
    """What ``spec.json`` records about where one protocol's student came from.

    Args:
        config: The study config.
        protocol: The protocol name.
        info: The protocol teacher's :class:`~fasnas.teacher.file.TeacherInfo`.
        trial_record: The trial's :class:`~fasnas.record.TrialRecord`.
        frames: The protocol's :class:`~fasnas.data.frameset.ProtocolFrames`.
    """
    from fasnas import record

    return {
        "protocol": protocol,
        "metrics": trial_record.metrics(protocol),
        "gmacs": trial_record.get(record.GMACS),
        "params": trial_record.get(record.PARAMS),
        "teacher": {
            "file": str(config.teacher.file_for(protocol)),
            "sha256": info.file_sha256,
            "variant": info.variant,
            "model": info.model_name,
            "sources": list(info.sources),
        },
        "data": {
            "sha256": data_hash([cache.key for cache in frames.all_caches]),
            "root": str(config.data.root),
            "size": int(config.data.size),
            "sources": list(frames.protocol.sources),
            "target": frames.protocol.target,
            "celeb": bool(frames.protocol.celeb),
        },
        "face_crop": face_crop(config.data.root, config.data.size),
    }
