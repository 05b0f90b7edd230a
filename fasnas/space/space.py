"""The search space itself: :class:`SearchSpace`, sampled with Optuna and rebuilt from params.

Owns a validated space's queries (:meth:`SearchSpace.size`, families, distributions, summary),
sampling with an Optuna trial (:meth:`SearchSpace.suggest`), exact rebuilding from stored trial
params (:meth:`SearchSpace.fixed`), the whole-space checks over every branch of the conditions
and :func:`iter_space_files`. Reading and key-by-key validation are :mod:`fasnas.space.parser`'s.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import optuna

from fasnas.distill.spec import DistillSpec
from fasnas.errors import ConfigError
from fasnas.space.params import ABSENT, STUDENT_KEYS, Param, matches, parse_target
from fasnas.space.parser import SpaceParser, read_space_file
from fasnas.students import StudentSpec

MAX_BRANCHES = 100_000


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
        self._fixed_targets = {key: parse_target(key) for key in self._fixed}
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
        return cls.from_dict(read_space_file(path), source=str(path), base_dir=path.parent)

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
        base_dir = Path(base_dir)
        parsed = SpaceParser(source, base_dir).parse(data)
        return cls(
            source,
            parsed.name,
            parsed.version,
            parsed.params,
            parsed.fixed,
            base_dir,
            parsed.description,
        )

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
                value = next(c for c in param.choices if matches(value, (c,)))
            values[param.name] = value
        if remaining:
            raise ConfigError(
                f"{self.source}: {sorted(remaining)}: not active parameters of this space for "
                f"these values"
            )
        return self._specs(values)

    # ------------------------------------------------------------------ internals

    def _lookup(self, name: str, values: Mapping[str, Any]) -> Any:
        """The value of ``name`` given sampled ``values`` and the fixed section, or ABSENT."""
        if name in values:
            return values[name]
        if name in self._fixed:
            family = self._fixed_targets[name].family
            if family is None or self._lookup("family", values) == family:
                return self._fixed[name]
        return ABSENT

    def _is_active(self, param: Param, values: Mapping[str, Any]) -> bool:
        for name, allowed in param.when:
            value = self._lookup(name, values)
            if value is ABSENT or not matches(value, allowed):
                return False
        return True

    def _specs(self, values: Mapping[str, Any]) -> tuple[StudentSpec, DistillSpec]:
        family = self._lookup("family", values)
        student: dict[str, Any] = {"img_size": ABSENT, "weights": None, "init": "scratch"}
        arch: dict[str, Any] = {}
        distill: dict[str, Any] = {}
        names = [*self._fixed, *values]
        for name in names:
            value = self._lookup(name, values)
            if value is ABSENT:
                continue
            target = self._fixed_targets.get(name) or self._by_name[name].target
            if target.kind == "arch":
                arch[target.key] = value
            elif target.kind == "distill":
                distill[target.key] = value
            elif target.kind in STUDENT_KEYS:
                student[target.kind] = value
        weights = student["weights"]
        if weights is not None and not Path(weights).expanduser().is_absolute():
            weights = str(self._base_dir / weights)
        spec = StudentSpec(family, arch, student["img_size"], weights, student["init"])
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
            if family is ABSENT:
                raise ConfigError(f"{src}: family: not set when {_show(branch)}")
            for kind in STUDENT_KEYS:
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
            used.update(k for k in self._fixed if self._lookup(k, branch) is not ABSENT)
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
        return self._lookup(name, branch) is not ABSENT


def _show(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in values.items()) or "nothing is sampled"


def iter_space_files(folder: str | Path = "search_spaces") -> Iterator[Path]:
    """The ``*.yaml`` files of ``folder``, sorted by name."""
    yield from sorted(Path(folder).glob("*.yaml"))
