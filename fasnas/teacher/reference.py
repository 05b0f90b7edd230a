"""The teacher's reference point for reports: its name, GMACs and HTERs, from its files.

Owns :func:`teacher_reference`, the ``teacher`` attribute that the bench and search studies
store and the report reads, and what it is made of: :func:`teacher_name` (a display name the
report recognises) and :func:`teacher_gmacs` (the image path's GMACs). Everything comes from the
protocols' teacher files: ``fasnas teacher train`` stores the metrics and the GMACs in each
file's ``extra``; a file without them (an imported checkpoint) has unknown HTERs and its GMACs
are counted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from fasnas.config import StudyConfig
from fasnas.teacher.resolve import load_protocol_teacher, read_protocol_info

THRESHOLDS = ("test-eer", "source-threshold")
"""The HTERs a teacher file's metrics hold: FLIP's test-EER threshold and the honest one."""
GMACS_KEY = "gmacs"
"""The key of the image path's GMACs in a teacher file's ``extra``."""


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


def stored_gmacs(extra: Mapping[str, Any] | None) -> float | None:
    """The GMACs ``fasnas teacher train`` stored in a teacher file's ``extra`` (None if none)."""
    return _finite((extra or {}).get(GMACS_KEY))


def stored_hters(extra: Mapping[str, Any] | None) -> dict[str, float]:
    """``{threshold: HTER}`` of the metrics stored in a teacher file's ``extra`` (may be {})."""
    metrics = (extra or {}).get("metrics")
    found: dict[str, float] = {}
    if isinstance(metrics, Mapping):
        for threshold in THRESHOLDS:
            value = _finite((metrics.get(threshold) or {}).get("hter"))
            if value is not None:
                found[threshold] = value
    return found


def teacher_reference(config: StudyConfig) -> dict[str, Any]:
    """The teacher's reference point, as the report reads it from the ``teacher`` attribute.

    ``{"name", "gmacs", "hter": {P: {"test-eer": x, "source-threshold": y}},
    "mean_hter": {threshold: mean over protocols}}``. HTERs come from the metrics that
    ``fasnas teacher train`` stores in each teacher file; a protocol whose teacher lacks them
    (an imported checkpoint) has ``{}`` and the means of an incomplete threshold are omitted
    (``None``). GMACs are the first protocol's stored ones, or, when its file has none, counted
    on the teacher's image path at its input size.

    Raises:
        CheckpointError: When a teacher file is missing or unreadable.
    """
    hter: dict[str, dict[str, float]] = {}
    name, gmacs = "FLIP teacher", None
    for index, protocol in enumerate(config.protocols):
        info = read_protocol_info(config, protocol)  # metadata only: no teacher is built
        if index == 0:
            name = teacher_name(info.variant, info.model_name)
            gmacs = stored_gmacs(info.extra)
            if gmacs is None:  # an imported file: count them on the built teacher
                gmacs = teacher_gmacs(load_protocol_teacher(config, protocol)[0])
        hter[protocol] = stored_hters(info.extra)
    mean_hter: dict[str, float | None] = {}
    for threshold in THRESHOLDS:
        values = [by.get(threshold) for by in hter.values()]
        known = all(value is not None for value in values) and bool(values)
        mean_hter[threshold] = float(sum(values) / len(values)) if known else None
    return {"name": name, "gmacs": gmacs, "hter": hter, "mean_hter": mean_hter}
