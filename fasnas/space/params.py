"""The parameters of a search space: :class:`Param` (one Optuna distribution plus its
conditions) and :class:`Target` (where its value goes: the StudentSpec or the DistillSpec).

Owns sampling one parameter (:meth:`Param.suggest`), its Optuna distribution, its count and
whether a stored value can come from it, and :func:`parse_target`, the naming rules that map
``family``, ``img_size``, ``weights``, ``init``, ``<family>.<arch key>`` and DistillSpec fields to
targets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import optuna

from fasnas.distill.spec import DistillSpec, distill_field_type
from fasnas.students import get_family, list_families

SCALARS = (type(None), bool, int, float, str)
STUDENT_KEYS = ("img_size", "weights", "init")  # StudentSpec fields a space sets, per family too
ABSENT = object()  # a value that is not set (None is a valid value)


@dataclass(frozen=True)
class Target:
    """Where a parameter's value goes.

    Attributes:
        kind: ``family``, ``img_size``, ``weights``, ``init``, ``arch`` or ``distill``.
        family: the family a ``<family>.*`` name is scoped to, else None.
        key: the arch key or DistillSpec field (None for family/img_size/weights/init).
    """

    kind: str
    family: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Param:
    """One searched parameter of a space (an Optuna distribution plus its conditions).

    Attributes:
        name: the Optuna parameter name.
        type: ``categorical``, ``int`` or ``float``.
        target: where its value goes.
        choices: the choices of a categorical.
        low, high: the bounds of an int or float.
        step: the step of an int (1 by default).
        log: sample an int or float on a log scale.
        when: conditions ``(param, allowed values)``, all required, including the implicit
            ``family`` condition of ``<family>.*`` names.
    """

    name: str
    type: str
    target: Target
    choices: tuple[Any, ...] = ()
    low: int | float | None = None
    high: int | float | None = None
    step: int = 1
    log: bool = False
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def suggest(self, trial: optuna.trial.BaseTrial) -> Any:
        """Sample this parameter with ``trial``."""
        if self.type == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.type == "int":
            if self.log:
                return trial.suggest_int(self.name, self.low, self.high, log=True)
            return trial.suggest_int(self.name, self.low, self.high, step=self.step)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def distribution(self) -> optuna.distributions.BaseDistribution:
        """The Optuna distribution :meth:`suggest` samples from."""
        if self.type == "categorical":
            return optuna.distributions.CategoricalDistribution(list(self.choices))
        if self.type == "int":
            step = 1 if self.log else self.step
            return optuna.distributions.IntDistribution(self.low, self.high, self.log, step)
        return optuna.distributions.FloatDistribution(self.low, self.high, log=self.log)

    def count(self) -> int | None:
        """How many values this parameter can take; None for a float."""
        if self.type == "categorical":
            return len(self.choices)
        if self.type == "int":
            return (self.high - self.low) // (1 if self.log else self.step) + 1
        return None

    def value_problem(self, value: Any) -> str | None:
        """Why ``value`` cannot come from this parameter (one line), or None if it can."""
        if self.type == "categorical":
            if not matches(value, self.choices):
                return f"expected one of {list(self.choices)}, got {value!r}"
            return None
        numeric = (int,) if self.type == "int" else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric):
            return f"expected {self.type}, got {value!r} ({type(value).__name__})"
        if not self.low <= value <= self.high:
            return f"`{self.low} <= value <= {self.high}` must hold, but got {value!r}"
        if self.type == "int" and not self.log and (value - self.low) % self.step:
            return f"expected low + k * step (low={self.low}, step={self.step}), got {value!r}"
        return None


def matches(value: Any, allowed: tuple[Any, ...]) -> bool:
    """``value in allowed``, except that bools only match bools."""
    return any(
        value == item and isinstance(value, bool) == isinstance(item, bool) for item in allowed
    )


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_target(name: str) -> Target:
    """Where parameter ``name`` goes; ValueError (with the reason) if nowhere."""
    if name in ("family", *STUDENT_KEYS):
        return Target(name)
    if distill_field_type(name) is not None:
        return Target("distill", key=name)
    prefix, dot, key = name.partition(".")
    families = list_families()
    if dot and prefix in families:
        if key in STUDENT_KEYS:
            return Target(key, family=prefix)
        defaults = get_family(prefix).defaults
        if key in defaults:
            return Target("arch", family=prefix, key=key)
        raise ValueError(
            f"unknown parameter: family {prefix!r} has arch keys {sorted(defaults)} "
            f"(plus img_size, weights, init)"
        )
    distill = [f.name for f in dataclasses.fields(DistillSpec)]
    raise ValueError(
        f"unknown parameter; expected family, img_size, weights, init, <family>.<arch key> "
        f"(families: {families}) or a DistillSpec field {distill}"
    )
