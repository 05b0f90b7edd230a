"""Reading and validating a search-space document: YAML -> :class:`ParsedSpace`.

Owns the YAML reading (``yaml.safe_load`` only, so Python tags are rejected) and every check of
the format described in :mod:`fasnas.space`, one key at a time, with its error message: each is
a :class:`~fasnas.errors.ConfigError` naming the file and the key path, e.g.
``search_spaces/demo.yaml: params.vit.depht: unknown parameter ...``. The checks that need the
whole space (every branch sets ``family`` and one ``img_size``, nothing is never active) are
:class:`~fasnas.space.SearchSpace`'s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fasnas.distill.spec import distill_value_problem
from fasnas.errors import ConfigError
from fasnas.space.params import ABSENT, SCALARS, Param, Target, is_number, matches, parse_target
from fasnas.students import INITS, MIN_IMG_SIZE, get_family, list_families

SUPPORTED_VERSIONS = (1,)
PARAM_TYPES = ("categorical", "int", "float")

_TOP_KEYS = ("version", "name", "description", "params", "fixed")
_TYPE_KEYS = {
    "categorical": ("type", "choices", "when"),
    "int": ("type", "low", "high", "step", "log", "when"),
    "float": ("type", "low", "high", "log", "when"),
}


def read_space_file(path: Path) -> Any:
    """The YAML document of the search-space file ``path`` (not yet validated).

    Raises:
        ConfigError: if the file is missing or is not valid YAML (Python tags included).
    """
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: search space file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{source}: cannot read search space: {error}") from error
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        detail = " ".join(str(error).split())
        raise ConfigError(f"{source}: invalid YAML: {detail}") from error
    return data


@dataclass(frozen=True)
class ParsedSpace:
    """A validated document, key by key (what :class:`~fasnas.space.SearchSpace` is built of)."""

    name: str
    version: int
    params: tuple[Param, ...]
    fixed: Mapping[str, Any]
    description: str


class SpaceParser:
    """Turns the YAML document into a :class:`ParsedSpace`, one checked key at a time."""

    def __init__(self, source: str, base_dir: Path) -> None:
        self.source = source
        self.base_dir = base_dir

    def error(self, path: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {path}: {message}")

    def parse(self, data: Any) -> ParsedSpace:
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"{self.source}: expected a mapping with `version` and `params`, got "
                f"{type(data).__name__}"
            )
        for key in data:
            if key not in _TOP_KEYS:
                raise self.error(str(key), f"unknown key; expected one of {list(_TOP_KEYS)}")
        version = data.get("version", ABSENT)
        if version is ABSENT:
            raise self.error("version", f"missing; add `version: {SUPPORTED_VERSIONS[-1]}`")
        if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
            supported = list(SUPPORTED_VERSIONS)
            raise self.error("version", f"expected one of {supported}, got {version!r}")
        name = data.get("name", Path(self.source).stem)
        if not isinstance(name, str) or not name:
            raise self.error("name", f"expected a non-empty string, got {name!r}")
        description = data.get("description", "") or ""
        if not isinstance(description, str):
            raise self.error("description", f"expected a string, got {description!r}")
        raw_params = data.get("params", ABSENT)
        if raw_params is ABSENT:
            raise self.error("params", "missing; list the searched parameters (may be {})")
        raw_params = {} if raw_params is None else raw_params
        if not isinstance(raw_params, Mapping):
            raise self.error("params", f"expected a mapping, got {type(raw_params).__name__}")
        raw_fixed = data.get("fixed") or {}
        if not isinstance(raw_fixed, Mapping):
            raise self.error("fixed", f"expected a mapping, got {type(raw_fixed).__name__}")

        fixed = {str(key): self.parse_fixed(key, value) for key, value in raw_fixed.items()}
        params: list[Param] = []
        for key, spec in raw_params.items():
            if key in fixed:
                raise self.error(f"params.{key}", "also given in fixed; keep one")
            params.append(self.parse_param(key, spec, params, fixed))
        return ParsedSpace(name, int(version), tuple(params), fixed, description)

    def target(self, path: str, name: Any) -> Target:
        if not isinstance(name, str):
            raise self.error(path, f"parameter names must be strings, got {name!r}")
        try:
            return parse_target(name)
        except ValueError as reason:
            raise self.error(path, str(reason)) from None

    def check_value(self, path: str, target: Target, value: Any) -> None:
        """Raise if ``value`` can never be valid for ``target``."""
        problem: str | None = None
        if target.kind == "family":
            if value not in list_families():
                problem = f"unknown family {value!r}; expected one of {list_families()}"
        elif target.kind == "img_size":
            if isinstance(value, bool) or not isinstance(value, int):
                problem = f"expected an int, got {value!r} ({type(value).__name__})"
            elif value < MIN_IMG_SIZE:
                problem = f"`img_size >= {MIN_IMG_SIZE}` must hold, but got {value!r}"
        elif target.kind == "weights":
            if value is not None:
                if not isinstance(value, str) or not value:
                    problem = f"expected a file path or null, got {value!r}"
                else:
                    file = Path(value).expanduser()
                    file = file if file.is_absolute() else self.base_dir / file
                    if not file.is_file():
                        problem = f"weights file {str(file)!r} not found"
        elif target.kind == "init":
            inits = get_family(target.family).inits if target.family else INITS
            if value not in inits:
                problem = f"expected one of {list(inits)}, got {value!r}"
        elif target.kind == "arch":
            problem = get_family(target.family).arch_value_problem(target.key, value)
        else:
            problem = distill_value_problem(target.key, value)
        if problem is not None:
            raise self.error(path, problem)

    def parse_fixed(self, key: Any, value: Any) -> Any:
        path = f"fixed.{key}"
        target = self.target(path, key)
        if not isinstance(value, SCALARS):
            raise self.error(path, f"expected a scalar value, got {type(value).__name__}")
        self.check_value(path, target, value)
        return value

    def parse_param(
        self, key: Any, spec: Any, earlier: list[Param], fixed: Mapping[str, Any]
    ) -> Param:
        path = f"params.{key}"
        target = self.target(path, key)
        if not isinstance(spec, Mapping):
            raise self.error(path, "expected a mapping like {type: categorical, choices: [...]}")
        kind = spec.get("type", ABSENT)
        if kind is ABSENT:
            raise self.error(f"{path}.type", f"missing; expected one of {list(PARAM_TYPES)}")
        if kind not in PARAM_TYPES:
            raise self.error(f"{path}.type", f"expected one of {list(PARAM_TYPES)}, got {kind!r}")
        for field in spec:
            if field not in _TYPE_KEYS[kind]:
                expected = list(_TYPE_KEYS[kind])
                raise self.error(
                    f"{path}.{field}", f"unknown key for a {kind} parameter; expected {expected}"
                )
        when = self.parse_when(path, key, target, spec.get("when"), earlier, fixed)
        if kind == "categorical":
            choices = self.parse_choices(path, spec)
            for index, choice in enumerate(choices):
                self.check_value(f"{path}.choices[{index}]", target, choice)
            return Param(key, kind, target, choices=choices, when=when)
        low, high, step, log = self.parse_range(path, kind, spec)
        textual = target.kind == "arch" and isinstance(
            get_family(target.family).defaults[target.key], str
        )
        if target.kind in ("family", "weights", "init") or textual:
            raise self.error(path, f"{kind} is not allowed here; use a categorical")
        if kind == "float" and target.kind == "img_size":
            raise self.error(f"{path}.type", "img_size is an int; use int or categorical")
        self.check_value(f"{path}.low", target, low)
        self.check_value(f"{path}.high", target, high)
        if target.kind == "arch" and target.key in get_family(target.family).choices:
            if kind == "float":
                raise self.error(path, "this arch key takes fixed choices; use a categorical")
            for value in range(low, high + 1, 1 if log else step):
                self.check_value(path, target, value)
        return Param(key, kind, target, low=low, high=high, step=step, log=log, when=when)

    def parse_choices(self, path: str, spec: Mapping[str, Any]) -> tuple[Any, ...]:
        choices = spec.get("choices", ABSENT)
        if choices is ABSENT:
            raise self.error(f"{path}.choices", "missing; a categorical needs a list of choices")
        if not isinstance(choices, list) or not choices:
            raise self.error(f"{path}.choices", f"expected a non-empty list, got {choices!r}")
        for index, choice in enumerate(choices):
            if not isinstance(choice, SCALARS):
                raise self.error(
                    f"{path}.choices[{index}]",
                    f"Optuna choices must be None, bool, int, float or str, got "
                    f"{type(choice).__name__}",
                )
            if matches(choice, tuple(choices[:index])):
                raise self.error(f"{path}.choices[{index}]", f"duplicate choice {choice!r}")
        return tuple(choices)

    def parse_range(
        self, path: str, kind: str, spec: Mapping[str, Any]
    ) -> tuple[Any, Any, int, bool]:
        bounds = []
        for bound in ("low", "high"):
            value = spec.get(bound, ABSENT)
            if value is ABSENT:
                raise self.error(f"{path}.{bound}", f"missing; an {kind} parameter needs it")
            if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise self.error(f"{path}.{bound}", f"expected an int, got {value!r}")
            if kind == "float" and not is_number(value):
                hint = " (write 1.0e-4, not 1e-4: YAML reads the latter as a string)"
                raise self.error(
                    f"{path}.{bound}",
                    f"expected a number, got {value!r}" + (hint if isinstance(value, str) else ""),
                )
            if kind == "float" and not math.isfinite(value):
                raise self.error(f"{path}.{bound}", f"expected a finite number, got {value!r}")
            bounds.append(float(value) if kind == "float" else value)
        low, high = bounds
        if low > high:
            raise self.error(path, f"`low <= high` must hold, but got (low={low}, high={high})")
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise self.error(f"{path}.log", f"expected true or false, got {log!r}")
        step = spec.get("step", 1)
        if "step" in spec:
            if isinstance(step, bool) or not isinstance(step, int) or step < 1:
                raise self.error(f"{path}.step", f"`step >= 1` (an int) must hold, got {step!r}")
            if log and step != 1:
                raise self.error(path, "`step` and `log` cannot be used together")
            if (high - low) % step:
                raise self.error(
                    path,
                    f"`(high - low) % step == 0` must hold, but got (low={low}, high={high}, "
                    f"step={step})",
                )
        if log and low <= 0:
            raise self.error(path, f"`low > 0` must hold with log: true, but got low={low}")
        return low, high, step, log

    def parse_when(
        self,
        path: str,
        key: str,
        target: Target,
        when: Any,
        earlier: list[Param],
        fixed: Mapping[str, Any],
    ) -> tuple[tuple[str, tuple[Any, ...]], ...]:
        conditions: list[tuple[str, tuple[Any, ...]]] = []
        if when is not None:
            if not isinstance(when, Mapping) or not when:
                raise self.error(f"{path}.when", "expected a mapping like {family: vit}")
            declared = {param.name: param for param in earlier}
            for ref, allowed in when.items():
                ref_path = f"{path}.when.{ref}"
                if ref in declared:
                    if declared[ref].type != "categorical":
                        raise self.error(ref_path, "conditions may only use categorical params")
                    domain = declared[ref].choices
                elif ref in fixed:
                    domain = (fixed[ref],)
                else:
                    raise self.error(
                        ref_path,
                        "unknown parameter; a condition must name a categorical "
                        "declared earlier in params, or a fixed value",
                    )
                values = tuple(allowed) if isinstance(allowed, list) else (allowed,)
                if not values:
                    raise self.error(ref_path, "expected a value or a non-empty list of values")
                for value in values:
                    if not isinstance(value, SCALARS):
                        raise self.error(ref_path, f"expected scalar values, got {value!r}")
                    if ref in declared and not matches(value, domain):
                        raise self.error(
                            ref_path, f"{value!r} is not one of the choices {list(domain)}"
                        )
                conditions.append((str(ref), values))
        if target.family is not None:
            if "family" not in fixed and not any(p.name == "family" for p in earlier):
                raise self.error(path, "must come after `family` in params (or fix family)")
            explicit = dict(conditions).get("family")
            if explicit is not None and not matches(target.family, explicit):
                raise self.error(
                    f"{path}.when.family",
                    f"can never be active: a {target.family}.* parameter only exists when "
                    f"family is {target.family!r}",
                )
            conditions = [(ref, values) for ref, values in conditions if ref != "family"]
            conditions.insert(0, ("family", (target.family,)))
        return tuple(conditions)
