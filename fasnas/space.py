"""Search spaces: ``search_spaces/*.yaml`` -> :class:`SearchSpace` -> (StudentSpec, DistillSpec).

Owns the YAML format of a search space, its validation, sampling with an Optuna trial
(:meth:`SearchSpace.suggest`), exact rebuilding from stored trial params
(:meth:`SearchSpace.fixed`) and counting (:meth:`SearchSpace.size`).

Format (version 1)::

    version: 1                      # required; the format version
    name: demo                      # optional; defaults to the file name without .yaml
    description: ...                # optional free text
    params:                         # searched parameters, sampled in this order
      family: {type: categorical, choices: [vit, mobilenetv3]}
      vit.depth: {type: int, low: 2, high: 4, step: 1, when: {family: vit}}
      mobilenetv3.width: {type: categorical, choices: [0.5, 0.75, 1.0]}
      img_size: {type: categorical, choices: [32, 48, 64]}
      lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
    fixed:                          # values not searched
      vit.patch_size: 8
      iterations: 150

Parameter types (Optuna's): ``categorical`` (``choices``: a non-empty list of distinct
None/bool/int/float/str), ``int`` (``low``, ``high``, optional ``step`` >= 1 dividing
``high - low``, or ``log: true`` with ``low >= 1``), ``float`` (``low``, ``high``, optional
``log: true`` with ``low > 0``). ``low <= high`` must hold. Write floats with a dot
(``1.0e-4``): YAML reads ``1e-4`` as a string.

Parameter names say where the value goes:

- ``family``: :attr:`StudentSpec.family` (a registered family, see
  :func:`fasnas.students.list_families`);
- ``img_size``: :attr:`StudentSpec.img_size`; ``<family>.img_size`` sets it for one family;
- ``weights``/``<family>.weights``: :attr:`StudentSpec.weights`, a local file (relative paths are
  relative to the YAML file);
- ``<family>.<key>``: ``StudentSpec.arch[key]`` for that family (e.g. ``vit.depth``);
- a :class:`~fasnas.specs.DistillSpec` field (``lr``, ``w_kd``, ...); fields not given keep
  their defaults.

Conditions: ``when: {param: value}`` or ``when: {param: [v1, v2]}`` makes a parameter exist only
when every listed parameter (a categorical declared earlier, or a ``fixed`` value) has one of the
listed values. A ``<family>.*`` parameter or fixed value implicitly has ``when: {family:
<family>}``, so ``family`` must come before it. Every configuration must set ``family`` and
exactly one ``img_size``. Optuna forbids one name with two distributions, so conditional
parameters of different families have distinct names by construction.

Every error is a :class:`~fasnas.errors.ConfigError` naming the file and the key path, e.g.
``search_spaces/demo.yaml: params.vit.depht: unknown parameter ...``. YAML is read with
``yaml.safe_load`` only, so Python tags are rejected.

Example::

    space = SearchSpace.load("search_spaces/demo.yaml")
    student_spec, distill_spec = space.suggest(trial)
    assert space.fixed(trial.params) == (student_spec, distill_spec)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml

from fasnas.errors import ConfigError
from fasnas.specs import DistillSpec, distill_field_type, distill_value_problem
from fasnas.students import MIN_IMG_SIZE, StudentSpec, get_family, list_families

SUPPORTED_VERSIONS = (1,)
PARAM_TYPES = ("categorical", "int", "float")
MAX_BRANCHES = 100_000

_TOP_KEYS = ("version", "name", "description", "params", "fixed")
_TYPE_KEYS = {
    "categorical": ("type", "choices", "when"),
    "int": ("type", "low", "high", "step", "log", "when"),
    "float": ("type", "low", "high", "log", "when"),
}
_SCALARS = (type(None), bool, int, float, str)
_ABSENT = object()


@dataclass(frozen=True)
class Target:
    """Where a parameter's value goes.

    Attributes:
        kind: ``family``, ``img_size``, ``weights``, ``arch`` or ``distill``.
        family: the family a ``<family>.*`` name is scoped to, else None.
        key: the arch key or DistillSpec field (None for family/img_size/weights).
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
            if not _matches(value, self.choices):
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


def _matches(value: Any, allowed: tuple[Any, ...]) -> bool:
    """``value in allowed``, except that bools only match bools."""
    return any(
        value == item and isinstance(value, bool) == isinstance(item, bool) for item in allowed
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class SearchSpace:
    """A validated, declarative search space over students and their distillation settings.

    Build one with :meth:`load` (a YAML file) or :meth:`from_dict`. Instances are immutable
    and safe to share between threads.
    """

    def __init__(
        self,
        source: str,
        name: str,
        version: int,
        params: tuple[Param, ...],
        fixed: Mapping[str, Any],
        base_dir: Path,
        description: str = "",
    ) -> None:
        self.source = source
        self.name = name
        self.version = version
        self.description = description
        self._params = params
        self._by_name = {param.name: param for param in params}
        self._fixed = dict(fixed)
        self._fixed_targets = {key: _parse_target(key) for key in self._fixed}
        self._base_dir = base_dir
        self._branches = self._enumerate_branches()
        self._check_branches()

    # ------------------------------------------------------------------ construction

    @classmethod
    def load(cls, path: str | Path) -> SearchSpace:
        """Read and validate a search-space YAML file.

        Raises:
            ConfigError: if the file is missing, is not valid YAML (Python tags included) or
                breaks a rule of the format; the message names the file and the key path.
        """
        path = Path(path)
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
        return cls.from_dict(data, source=source, base_dir=path.parent)

    @classmethod
    def from_dict(
        cls, data: Any, source: str = "<search space>", base_dir: str | Path = "."
    ) -> SearchSpace:
        """Validate an already-parsed space (the YAML document as Python data).

        Args:
            data: the mapping with ``version``, ``params`` and optionally ``name``,
                ``description``, ``fixed``.
            source: what error messages call the space (usually its file).
            base_dir: folder that relative ``weights`` paths are relative to.
        """
        return _Parser(source, Path(base_dir)).parse(data)

    # ------------------------------------------------------------------ queries

    @property
    def params(self) -> tuple[Param, ...]:
        """The searched parameters, in sampling order."""
        return self._params

    @property
    def fixed_values(self) -> dict[str, Any]:
        """The ``fixed`` section: name -> value."""
        return dict(self._fixed)

    @property
    def families(self) -> tuple[str, ...]:
        """The families this space can produce, in declaration order."""
        seen: dict[str, None] = {}
        for branch in self._branches:
            seen.setdefault(self._lookup("family", branch), None)
        return tuple(seen)

    def size(self) -> int | None:
        """Number of distinct configurations; None when a float parameter can be active."""
        total = 0
        conditioning = self._conditioning_names()
        for branch in self._branches:
            count = 1
            for param in self._params:
                if param.name in conditioning or not self._is_active(param, branch):
                    continue
                n = param.count()
                if n is None:
                    return None
                count *= n
            total += count
        return total

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        """Every parameter's Optuna distribution (e.g. for ``optuna.trial.create_trial``)."""
        return {param.name: param.distribution() for param in self._params}

    def summary(self) -> str:
        """A few lines describing the space: name, version, families, size, parameters."""
        size = self.size()
        lines = [
            f"{self.name} (version {self.version}, {self.source})",
            f"families: {', '.join(self.families)}",
            f"size: {'infinite (float parameters)' if size is None else size}",
        ]
        for param in self._params:
            if param.type == "categorical":
                domain = f"{list(param.choices)}"
            else:
                domain = f"[{param.low}, {param.high}]" + (" log" if param.log else "")
                domain += f" step {param.step}" if param.type == "int" and param.step != 1 else ""
            when = {name: list(values) for name, values in param.when}
            suffix = f" when {when}" if when else ""
            lines.append(f"  {param.name}: {param.type} {domain}{suffix}")
        for key, value in self._fixed.items():
            lines.append(f"  {key} = {value!r} (fixed)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"SearchSpace(name={self.name!r}, source={self.source!r})"

    # ------------------------------------------------------------------ sampling

    def suggest(self, trial: optuna.trial.BaseTrial) -> tuple[StudentSpec, DistillSpec]:
        """Sample one configuration with ``trial`` (declaration order, inactive ones skipped)."""
        values: dict[str, Any] = {}
        for param in self._params:
            if self._is_active(param, values):
                values[param.name] = param.suggest(trial)
        return self._specs(values)

    def fixed(self, params: Mapping[str, Any]) -> tuple[StudentSpec, DistillSpec]:
        """Rebuild the specs of a finished trial from its ``trial.params``.

        Gives exactly what :meth:`suggest` returned for the same values.

        Raises:
            ConfigError: if an active parameter is missing, a value is not in its
                distribution, or a name is not an active parameter of this space.
        """
        remaining = dict(params)
        values: dict[str, Any] = {}
        for param in self._params:
            if not self._is_active(param, values):
                continue
            if param.name not in remaining:
                raise ConfigError(f"{self.source}: params.{param.name}: missing from the params")
            value = remaining.pop(param.name)
            problem = param.value_problem(value)
            if problem is not None:
                raise ConfigError(f"{self.source}: params.{param.name}: {problem}")
            if param.type == "float":
                value = float(value)
            elif param.type == "categorical":  # the choice object itself (1 -> 1.0 if so given)
                value = next(c for c in param.choices if _matches(value, (c,)))
            values[param.name] = value
        if remaining:
            raise ConfigError(
                f"{self.source}: {sorted(remaining)}: not active parameters of this space for "
                f"these values"
            )
        return self._specs(values)

    # ------------------------------------------------------------------ internals

    def _lookup(self, name: str, values: Mapping[str, Any]) -> Any:
        """The value of ``name`` given sampled ``values`` and the fixed section, or _ABSENT."""
        if name in values:
            return values[name]
        if name in self._fixed:
            family = self._fixed_targets[name].family
            if family is None or self._lookup("family", values) == family:
                return self._fixed[name]
        return _ABSENT

    def _is_active(self, param: Param, values: Mapping[str, Any]) -> bool:
        for name, allowed in param.when:
            value = self._lookup(name, values)
            if value is _ABSENT or not _matches(value, allowed):
                return False
        return True

    def _specs(self, values: Mapping[str, Any]) -> tuple[StudentSpec, DistillSpec]:
        family = self._lookup("family", values)
        student: dict[str, Any] = {"img_size": _ABSENT, "weights": None}
        arch: dict[str, Any] = {}
        distill: dict[str, Any] = {}
        names = [*self._fixed, *values]
        for name in names:
            value = self._lookup(name, values)
            if value is _ABSENT:
                continue
            target = self._fixed_targets.get(name) or self._by_name[name].target
            if target.kind == "arch":
                arch[target.key] = value
            elif target.kind == "distill":
                distill[target.key] = value
            elif target.kind in ("img_size", "weights"):
                student[target.kind] = value
        weights = student["weights"]
        if weights is not None and not Path(weights).expanduser().is_absolute():
            weights = str(self._base_dir / weights)
        spec = StudentSpec(family, arch, student["img_size"], weights)
        return spec, DistillSpec.from_dict(distill, where=self.source)

    def _conditioning_names(self) -> set[str]:
        names = {"family"}
        for param in self._params:
            names.update(name for name, _ in param.when)
        return names

    def _enumerate_branches(self) -> list[dict[str, Any]]:
        """Every assignment of the conditioning (``when``-referenced) categoricals."""
        conditioning = self._conditioning_names()
        branches: list[dict[str, Any]] = []

        def walk(index: int, values: dict[str, Any]) -> None:
            if len(branches) > MAX_BRANCHES:
                raise ConfigError(
                    f"{self.source}: params: more than {MAX_BRANCHES} combinations of "
                    f"conditioning parameters; simplify the `when` conditions"
                )
            if index == len(self._params):
                branches.append(dict(values))
                return
            param = self._params[index]
            if param.name in conditioning and self._is_active(param, values):
                for choice in param.choices:
                    values[param.name] = choice
                    walk(index + 1, values)
                del values[param.name]
            else:
                walk(index + 1, values)

        walk(0, {})
        return branches

    def _check_branches(self) -> None:
        src = self.source
        used: set[str] = set()
        for branch in self._branches:
            family = self._lookup("family", branch)
            if family is _ABSENT:
                raise ConfigError(f"{src}: family: not set when {_show(branch)}")
            for kind in ("img_size", "weights"):
                names = [
                    name
                    for name in (kind, f"{family}.{kind}")
                    if self._active_anywhere(name, branch)
                ]
                if kind == "img_size" and not names:
                    raise ConfigError(
                        f"{src}: img_size: not set for family {family!r}; add `img_size` or "
                        f"`{family}.img_size` to params or fixed"
                    )
                if len(names) > 1:
                    raise ConfigError(
                        f"{src}: {names[1]}: conflicts with {names[0]}, both set for family "
                        f"{family!r}; keep one"
                    )
            used.update(p.name for p in self._params if self._is_active(p, branch))
            used.update(k for k in self._fixed if self._lookup(k, branch) is not _ABSENT)
        for param in self._params:
            if param.name not in used:
                when = {name: list(values) for name, values in param.when}
                raise ConfigError(f"{src}: params.{param.name}: can never be active (when {when})")
        for key in self._fixed:
            if key not in used:
                raise ConfigError(
                    f"{src}: fixed.{key}: can never be used: the space never produces family "
                    f"{self._fixed_targets[key].family!r}"
                )

    def _active_anywhere(self, name: str, branch: Mapping[str, Any]) -> bool:
        if name in self._by_name:
            return self._is_active(self._by_name[name], branch)
        return self._lookup(name, branch) is not _ABSENT


def _show(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in values.items()) or "nothing is sampled"


def _parse_target(name: str) -> Target:
    """Where parameter ``name`` goes; ValueError (with the reason) if nowhere."""
    if name in ("family", "img_size", "weights"):
        return Target(name)
    if distill_field_type(name) is not None:
        return Target("distill", key=name)
    prefix, dot, key = name.partition(".")
    families = list_families()
    if dot and prefix in families:
        if key in ("img_size", "weights"):
            return Target(key, family=prefix)
        defaults = get_family(prefix).defaults
        if key in defaults:
            return Target("arch", family=prefix, key=key)
        raise ValueError(
            f"unknown parameter: family {prefix!r} has arch keys {sorted(defaults)} "
            f"(plus img_size, weights)"
        )
    distill = [f.name for f in dataclasses.fields(DistillSpec)]
    raise ValueError(
        f"unknown parameter; expected family, img_size, weights, <family>.<arch key> "
        f"(families: {families}) or a DistillSpec field {distill}"
    )


class _Parser:
    """Turns the YAML document into a :class:`SearchSpace`, one checked key at a time."""

    def __init__(self, source: str, base_dir: Path) -> None:
        self.source = source
        self.base_dir = base_dir

    def error(self, path: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {path}: {message}")

    def parse(self, data: Any) -> SearchSpace:
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"{self.source}: expected a mapping with `version` and `params`, got "
                f"{type(data).__name__}"
            )
        for key in data:
            if key not in _TOP_KEYS:
                raise self.error(str(key), f"unknown key; expected one of {list(_TOP_KEYS)}")
        version = data.get("version", _ABSENT)
        if version is _ABSENT:
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
        raw_params = data.get("params", _ABSENT)
        if raw_params is _ABSENT:
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
        return SearchSpace(
            self.source, name, int(version), tuple(params), fixed, self.base_dir, description
        )

    def target(self, path: str, name: Any) -> Target:
        if not isinstance(name, str):
            raise self.error(path, f"parameter names must be strings, got {name!r}")
        try:
            return _parse_target(name)
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
        elif target.kind == "arch":
            problem = get_family(target.family).arch_value_problem(target.key, value)
        else:
            problem = distill_value_problem(target.key, value)
        if problem is not None:
            raise self.error(path, problem)

    def parse_fixed(self, key: Any, value: Any) -> Any:
        path = f"fixed.{key}"
        target = self.target(path, key)
        if not isinstance(value, _SCALARS):
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
        kind = spec.get("type", _ABSENT)
        if kind is _ABSENT:
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
        if target.kind in ("family", "weights") or textual:
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
        choices = spec.get("choices", _ABSENT)
        if choices is _ABSENT:
            raise self.error(f"{path}.choices", "missing; a categorical needs a list of choices")
        if not isinstance(choices, list) or not choices:
            raise self.error(f"{path}.choices", f"expected a non-empty list, got {choices!r}")
        for index, choice in enumerate(choices):
            if not isinstance(choice, _SCALARS):
                raise self.error(
                    f"{path}.choices[{index}]",
                    f"Optuna choices must be None, bool, int, float or str, got "
                    f"{type(choice).__name__}",
                )
            if _matches(choice, tuple(choices[:index])):
                raise self.error(f"{path}.choices[{index}]", f"duplicate choice {choice!r}")
        return tuple(choices)

    def parse_range(
        self, path: str, kind: str, spec: Mapping[str, Any]
    ) -> tuple[Any, Any, int, bool]:
        bounds = []
        for bound in ("low", "high"):
            value = spec.get(bound, _ABSENT)
            if value is _ABSENT:
                raise self.error(f"{path}.{bound}", f"missing; an {kind} parameter needs it")
            if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise self.error(f"{path}.{bound}", f"expected an int, got {value!r}")
            if kind == "float" and not _is_number(value):
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
                    if not isinstance(value, _SCALARS):
                        raise self.error(ref_path, f"expected scalar values, got {value!r}")
                    if ref in declared and not _matches(value, domain):
                        raise self.error(
                            ref_path, f"{value!r} is not one of the choices {list(domain)}"
                        )
                conditions.append((str(ref), values))
        if target.family is not None:
            if "family" not in fixed and not any(p.name == "family" for p in earlier):
                raise self.error(path, "must come after `family` in params (or fix family)")
            explicit = dict(conditions).get("family")
            if explicit is not None and not _matches(target.family, explicit):
                raise self.error(
                    f"{path}.when.family",
                    f"can never be active: a {target.family}.* parameter only exists when "
                    f"family is {target.family!r}",
                )
            conditions = [(ref, values) for ref, values in conditions if ref != "family"]
            conditions.insert(0, ("family", (target.family,)))
        return tuple(conditions)


def iter_space_files(folder: str | Path = "search_spaces") -> Iterator[Path]:
    """The ``*.yaml`` files of ``folder``, sorted by name."""
    yield from sorted(Path(folder).glob("*.yaml"))
