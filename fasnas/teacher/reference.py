"""The teacher's reference point for reports: its name, GMACs and HTERs, from its files.

Owns :func:`teacher_reference`, the ``teacher`` attribute that the bench and search studies
store and the report reads, and what it is made of: :func:`teacher_name` (a display name the
report recognises), :func:`teacher_gmacs` (the image path's GMACs) and
:func:`source_val_seen` (whether the teacher's training saw the source-validation videos, which
makes its source-validation EER and source threshold optimistic). Everything comes from the
protocols' teacher files: ``fasnas teacher train`` and ``fasnas teacher eval`` store the metrics,
the GMACs and the flag in each file's ``extra``; a file without them (an imported checkpoint not
evaluated yet) has unknown HTERs and its GMACs are counted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from fasnas.config import StudyConfig
from fasnas.teacher.file import TeacherInfo
from fasnas.teacher.resolve import load_protocol_teacher, read_protocol_info

THRESHOLDS = ("test-eer", "source-threshold")
"""The HTERs a teacher file's metrics hold: FLIP's test-EER threshold and the honest one."""
GMACS_KEY = "gmacs"
"""The key of the image path's GMACs in a teacher file's ``extra``."""
METRICS_KEY = "metrics"
"""The key of the metrics (:func:`fasnas.train.evaluate_model`'s dict) in a file's ``extra``."""
SEEN_KEY = "source_val_seen"
"""The key of the flag :func:`source_val_seen` in a teacher file's ``extra``."""


def teacher_gmacs(teacher) -> float:
    """GMACs of the teacher's image path (what it runs per frame at test time) at its size.

    The text tower is left out: its class embeddings are computed once, not per frame.
    """
    import torch

    from fasnas.cost import model_cost

    class _ImagePath(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner.embed(x)

    return model_cost(_ImagePath(teacher.eval()), teacher.preprocess.size).gmacs


def teacher_name(variant: str, model_name: str) -> str:
    """A display name; CLIP ViT-B/16 is spelled so that the report recognises it."""
    if model_name.startswith("ViT-B-16"):
        return f"FLIP teacher ({variant}, CLIP ViT-B/16)"
    return f"FLIP teacher ({variant}, {model_name})"


def _finite(value: Any) -> float | None:
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def hter_line(metrics: Mapping[str, Any]) -> str:
    """Both target HTERs of a teacher's metrics, labelled, for one-line summaries."""
    eer, honest = metrics["test-eer"], metrics["source-threshold"]
    return (
        f"HTER {100 * eer['hter']:.2f}% (test-EER threshold, FLIP convention) | "
        f"HTER {100 * honest['hter']:.2f}% (source-val threshold {honest['threshold']:.3f})"
    )


def stored_gmacs(extra: Mapping[str, Any] | None) -> float | None:
    """The GMACs ``fasnas teacher train`` stored in a teacher file's ``extra`` (None if none)."""
    return _finite((extra or {}).get(GMACS_KEY))


def trained_here(info: TeacherInfo) -> bool:
    """Whether ``fasnas teacher train`` wrote the file: it records ``extra["iterations"]`` and
    no ``source_path``; an imported checkpoint records its ``source_path`` and no iterations
    (``fasnas teacher eval`` adds neither)."""
    iterations = info.extra.get("iterations")
    counted = isinstance(iterations, int) and not isinstance(iterations, bool)
    return counted and info.source_path is None


def source_val_seen(info: TeacherInfo, setting: bool | None = None) -> bool:
    """Whether the training of the file's weights saw the held-out source-validation videos.

    ``setting`` (``teacher.source_val_seen`` in the study config) decides when it is not None.
    Otherwise a teacher ``fasnas teacher train`` made (:func:`trained_here`) did not: it trains
    on source-train only. Anything else did, as far as fasnas can tell: FLIP trains on every
    video of the source ``train`` lists, the videos fasnas holds out included.
    """
    if setting is not None:
        return bool(setting)
    return not trained_here(info)


def stored_hters(extra: Mapping[str, Any] | None) -> dict[str, float]:
    """``{threshold: HTER}`` of the metrics stored in a teacher file's ``extra`` (may be {})."""
    metrics = (extra or {}).get(METRICS_KEY)
    found: dict[str, float] = {}
    if isinstance(metrics, Mapping):
        for threshold in THRESHOLDS:
            value = _finite((metrics.get(threshold) or {}).get("hter"))
            if value is not None:
                found[threshold] = value
    return found


def stored_source_val_eer(extra: Mapping[str, Any] | None) -> float | None:
    """The source-validation EER stored in a teacher file's ``extra`` (None if none)."""
    metrics = (extra or {}).get(METRICS_KEY)
    if not isinstance(metrics, Mapping) or not isinstance(metrics.get("source-val"), Mapping):
        return None
    return _finite(metrics["source-val"].get("eer"))


def teacher_reference(config: StudyConfig) -> dict[str, Any]:
    """The teacher's reference point, as the report reads it from the ``teacher`` attribute.

    ``{"name", "gmacs", "hter": {P: {"test-eer": x, "source-threshold": y}},
    "mean_hter": {threshold: mean over protocols}, "source_val_eer": {P: EER or None},
    "source_val_seen": {P: bool}}``. HTERs and the source-validation EER come from the metrics
    that ``fasnas teacher train`` or ``fasnas teacher eval`` store in each teacher file; a
    protocol whose teacher lacks them (an imported checkpoint not evaluated yet) has ``{}`` and
    ``None``, and the means of an incomplete threshold are omitted (``None``). When
    ``source_val_seen[P]`` is True, P's source-validation EER and its ``source-threshold`` HTER
    are optimistic (:func:`source_val_seen`). GMACs are the first protocol's stored ones, or,
    when its file has none, counted on the teacher's image path at its input size.

    Raises:
        CheckpointError: When a teacher file is missing or unreadable.
    """
    hter: dict[str, dict[str, float]] = {}
    source_val_eer: dict[str, float | None] = {}
    seen: dict[str, bool] = {}
    name, gmacs = "FLIP teacher", None
    for index, protocol in enumerate(config.protocols):
        info = read_protocol_info(config, protocol)  # metadata only: no teacher is built
        if index == 0:
            name = teacher_name(info.variant, info.model_name)
            gmacs = stored_gmacs(info.extra)
            if gmacs is None:  # an imported file: count them on the built teacher
                gmacs = teacher_gmacs(load_protocol_teacher(config, protocol)[0])
        hter[protocol] = stored_hters(info.extra)
        source_val_eer[protocol] = stored_source_val_eer(info.extra)
        seen[protocol] = source_val_seen(info, config.teacher.source_val_seen)
    mean_hter: dict[str, float | None] = {}
    for threshold in THRESHOLDS:
        values = [by.get(threshold) for by in hter.values()]
        known = all(value is not None for value in values) and bool(values)
        mean_hter[threshold] = float(sum(values) / len(values)) if known else None
    return {
        "name": name,
        "gmacs": gmacs,
        "hter": hter,
        "mean_hter": mean_hter,
        "source_val_eer": source_val_eer,
        "source_val_seen": seen,
    }
