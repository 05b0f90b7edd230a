"""The one builder and coercer of config sections: a YAML mapping -> a typed, frozen dataclass.

Owns how every config section is read: unknown keys are refused with the list of valid keys,
each value is coerced to its field's annotation, relative paths are resolved against the
config's folder, and the dataclass's own ``check(where)`` then validates the values together.
Every message names the file and the key path, e.g.
``studies/demo.yaml: early_stopping.margn: unknown key; valid keys are [...]``.

A section dataclass declares its fields with type annotations (``int``, ``float``, ``bool``,
``str``, ``Path``, ``X | None``, ``tuple[str, ...]``, ``tuple[int, ...]``, ``dict``, or another
section dataclass for a nested mapping, built by its ``from_raw(raw, where)`` when it has one)
and a comment on each, nanoGPT style; it may define ``check(self, where: str) -> None``, which
raises :class:`~fasnas.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path
from typing import Any, TypeVar

from fasnas.errors import ConfigError

T = TypeVar("T")
_SCALARS = {"int": int, "float": float, "bool": bool, "str": str}


def is_number(value: Any) -> bool:
    """A real int or float (``True`` is not a number here)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def coerce(value: Any, annotation: str, where: str, base: Path | None = None) -> Any:
    """``value`` as the field type spelled ``annotation``, or a ConfigError naming ``where``."""
    annotation = annotation.replace(" ", "")
    if annotation.endswith("|None"):
        if value is None:
            return None
        annotation = annotation[: -len("|None")]
    if annotation == "bool":
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if annotation == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if annotation == "float":
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if is_number(value) and math.isfinite(value):
            return float(value)
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    if annotation == "str":
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if annotation == "Path":
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: expected a path string, got {value!r}")
        return (base / value).resolve() if base is not None else Path(value)
    if annotation.startswith("tuple[") and annotation.endswith(",...]"):
        item = annotation[len("tuple[") : -len(",...]")]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(coerce(v, item, f"{where}[{i}]", base) for i, v in enumerate(value))
    if annotation in ("dict", "dict[str,Any]"):
        if isinstance(value, dict):
            return value
        raise ConfigError(f"{where}: expected a mapping, got {value!r}")
    return value  # Any, or a type the section checks itself


def build(cls: type[T], raw: Any, where: str, *, base: Path | None = None, **given: Any) -> T:
    """Build section ``cls`` from a parsed YAML mapping, then run its ``check(where)``.

    Args:
        cls: A dataclass whose fields are the section's keys.
        raw: The parsed section (None means every default).
        where: ``<file>: <key path>``, the prefix of every error message.
        base: The folder relative ``Path`` values are resolved against.
        given: Fields set by the caller (not keys the user may write).

    Raises:
        ConfigError: A non-mapping section, an unknown key or a value of the wrong type.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name: f for f in dataclasses.fields(cls) if f.init}
    values: dict[str, Any] = dict(given)
    for key, value in raw.items():
        path = f"{where}.{key}"
        if key not in names or key in given:
            valid = sorted(n for n in names if n not in given)
            raise ConfigError(f"{path}: unknown key; valid keys are {valid}")
        hint = hints[key]
        if hasattr(hint, "from_raw"):  # a nested section with its own builder
            values[key] = hint.from_raw(value, path)
        elif dataclasses.is_dataclass(hint):
            values[key] = build(hint, value, path, base=base)
        else:
            values[key] = coerce(value, _spell(names[key].type), path, base)
    section = cls(**values)
    check = getattr(section, "check", None)
    if check is not None:
        check(where)
    return section


def _spell(annotation: Any) -> str:
    return annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")


def one_of(value: Any, choices: tuple[str, ...], where: str) -> None:
    """Refuse a value outside ``choices``: ``expected one of [...], got 'x'``."""
    if value not in choices:
        raise ConfigError(f"{where}: expected one of {list(choices)}, got {value!r}")


def at_least(value: Any, low: float, where: str, *, strict: bool = False) -> None:
    """Refuse ``value < low`` (or ``<= low`` when ``strict``): ``must be >= low, got x``."""
    if value is None:
        return
    if value < low or (strict and value == low):
        raise ConfigError(f"{where}: must be {'>' if strict else '>='} {low}, got {value}")
