"""Distillation and training hyperparameters of one student: :class:`DistillSpec`.

Owns the typed defaults of everything a trial may tune besides the architecture (loss weights,
temperature, optimiser, schedule, batch composition, augmentation) and their validation. A
search space (:mod:`fasnas.space`) samples these fields by name; the trainer reads them. Pure
data: no torch, no timm.

Example::

    spec = DistillSpec(w_kd=2.0, temperature=3.0)
    assert DistillSpec.from_dict(spec.to_dict()) == spec
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fasnas.errors import ConfigError

FEAT_LOSSES = ("cosine", "mse")


@dataclass(frozen=True)
class DistillSpec:
    """How one student is distilled and trained (frozen, hashable, JSON-friendly).

    Unknown keys in :meth:`from_dict` and out-of-range values raise
    :class:`~fasnas.errors.ConfigError`. ``int`` values given to float fields become floats.
    """

    w_ce: float = 1.0  # weight of cross-entropy on the hard (spoof, real) labels
    w_kd: float = 1.0  # weight of logit distillation (KL of temperature-softened distributions)
    temperature: float = 4.0  # softmax temperature of the logit-distillation term (> 0)
    w_feat: float = 0.0  # weight of the feature loss: student projection vs teacher embedding
    feat_loss: str = "cosine"  # feature loss: "cosine" (1 - cosine similarity) or "mse"
    w_text: float = 0.0  # weight of CE on text logits: scale * cos(projection, class text)
    text_logit_scale: float = 100.0  # scale of those text logits (CLIP: exp(logit_scale) = 100)
    lr: float = 1e-3  # peak learning rate of the optimiser (> 0)
    weight_decay: float = 0.05  # decoupled weight decay (>= 0)
    iterations: int = 300  # optimiser steps per training run (>= 1)
    batch_per_group: int = 8  # images per (domain, class) in each balanced batch, as FLIP (>= 1)
    warmup_frac: float = 0.05  # fraction of the iterations spent in linear lr warm-up, in [0, 1)
    aug_strength: float = 0.5  # augmentation strength in [0, 1]; 0 = no augmentation

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            problem = distill_value_problem(field.name, value)
            if problem is not None:
                raise ConfigError(f"DistillSpec.{field.name}: {problem}")
            if _FIELD_TYPES[field.name] is float and isinstance(value, int):
                object.__setattr__(self, field.name, float(value))

    def to_dict(self) -> dict[str, Any]:
        """Every field as a plain JSON-serialisable dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "DistillSpec") -> DistillSpec:
        """Rebuild a spec from :meth:`to_dict` output; missing keys take their defaults.

        Args:
            data: field name -> value.
            where: prefix of error messages (e.g. the file or trial the data came from).

        Raises:
            ConfigError: on an unknown key or a bad value, naming ``where`` and the key.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping of DistillSpec fields, got {data!r}")
        for key in data:
            if key not in _FIELD_TYPES:
                raise ConfigError(
                    f"{where}.{key}: unknown DistillSpec field; expected one of "
                    f"{sorted(_FIELD_TYPES)}"
                )
        for key, value in data.items():
            problem = distill_value_problem(key, value)
            if problem is not None:
                raise ConfigError(f"{where}.{key}: {problem}")
        return cls(**dict(data))

    @classmethod
    def from_raw(cls, data: Any, where: str) -> DistillSpec:
        """A config section of DistillSpec overrides (``None``: every default)."""
        return cls.from_dict(data or {}, where=where)


_FIELD_TYPES: dict[str, type] = {
    "w_ce": float,
    "w_kd": float,
    "temperature": float,
    "w_feat": float,
    "feat_loss": str,
    "w_text": float,
    "text_logit_scale": float,
    "lr": float,
    "weight_decay": float,
    "iterations": int,
    "batch_per_group": int,
    "warmup_frac": float,
    "aug_strength": float,
}

# field -> (rule text, predicate on the numeric value)
_RULES: dict[str, tuple[str, Any]] = {
    "w_ce": ("w_ce >= 0", lambda v: v >= 0),
    "w_kd": ("w_kd >= 0", lambda v: v >= 0),
    "temperature": ("temperature > 0", lambda v: v > 0),
    "w_feat": ("w_feat >= 0", lambda v: v >= 0),
    "w_text": ("w_text >= 0", lambda v: v >= 0),
    "text_logit_scale": ("text_logit_scale > 0", lambda v: v > 0),
    "lr": ("lr > 0", lambda v: v > 0),
    "weight_decay": ("weight_decay >= 0", lambda v: v >= 0),
    "iterations": ("iterations >= 1", lambda v: v >= 1),
    "batch_per_group": ("batch_per_group >= 1", lambda v: v >= 1),
    "warmup_frac": ("0 <= warmup_frac < 1", lambda v: 0 <= v < 1),
    "aug_strength": ("0 <= aug_strength <= 1", lambda v: 0 <= v <= 1),
}


def distill_field_type(name: str) -> type | None:
    """The Python type of DistillSpec field ``name`` (float, int or str), or None if unknown."""
    return _FIELD_TYPES.get(name)


def distill_value_problem(name: str, value: Any) -> str | None:
    """Why ``value`` is not a valid DistillSpec ``name``, as one line; None when it is valid."""
    expected = _FIELD_TYPES.get(name)
    if expected is None:
        return f"unknown DistillSpec field; expected one of {sorted(_FIELD_TYPES)}"
    if expected is str:
        if value not in FEAT_LOSSES:
            return f"expected one of {list(FEAT_LOSSES)}, got {value!r}"
        return None
    numeric = (int, float) if expected is float else (int,)
    if isinstance(value, bool) or not isinstance(value, numeric):
        return f"expected {expected.__name__}, got {value!r} ({type(value).__name__})"
    if expected is float and not math.isfinite(value):
        return f"expected a finite number, got {value!r}"
    rule, holds = _RULES[name]
    if not holds(value):
        return f"`{rule}` must hold, but got {value!r}"
    return None
