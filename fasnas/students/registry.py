"""The student family registry: which specs can be built, and into which timm model.

Owns :class:`Family` and :class:`TimmRecipe`, the registry itself (:func:`register_family`,
:func:`list_families`, :func:`get_family`), the build rules every family shares
(:data:`MIN_IMG_SIZE`, :class:`StudentBuildError`) and :func:`resolve_recipe` /
:func:`check_spec`, which turn a spec into a recipe without building anything.

A *family* maps a spec's architecture parameters (``spec.arch``, defaults filled in) and input
size to a timm model name plus the keyword arguments that override its architecture. The
families themselves live elsewhere: table-driven ones in ``families.json`` (see
:mod:`fasnas.students.table`), the others in their own modules (``vit.py``,
``mobilenetv3.py``). This module imports neither torch nor timm.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from fasnas.errors import ConfigError

if TYPE_CHECKING:  # torch stays unimported here: the registry is pure data
    from torch import nn

MIN_IMG_SIZE = 32
TIMM_INITS = ("scratch", "pretrained")
"""What a timm family honours: random weights, or timm's pre-trained ones."""


class StudentBuildError(ConfigError, ValueError):
    """A student spec that its family cannot build (bad arch value, unsupported input size).

    A user error (exit 2 on the command line); in a trial it becomes the ``fail_reason``."""


@dataclass(frozen=True)
class TimmRecipe:
    """How to create one backbone with timm.

    Attributes:
        name: registered timm model name (or, with ``generator``, the name timm would give it).
        kwargs: keyword arguments passed to the model constructor (architecture overrides).
        generator: a timm builder to call instead of ``timm.create_model`` for models timm
            does not register under ``name`` (e.g. a MobileNetV3 width without a named variant);
            called as ``generator(name, pretrained=..., **kwargs)``.
    """

    name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    generator: Callable[..., nn.Module] | None = None


Resolver = Callable[[Mapping[str, Any], int], TimmRecipe]


@dataclass(frozen=True)
class Family:
    """A registered student family.

    Attributes:
        name: the family name used in specs and search spaces.
        resolve: ``(arch with defaults filled, img_size) -> TimmRecipe``; raises
            :class:`StudentBuildError` for combinations the family cannot build.
        defaults: every arch key the family accepts, with its default value.
        choices: allowed values of enumerated arch keys.
        reparameterizable: whether the backbone must be reparameterised before costing/export.
        inits: the ``StudentSpec.init`` values the family can honour.
    """

    name: str
    resolve: Resolver
    defaults: Mapping[str, Any]
    choices: Mapping[str, tuple[Any, ...]]
    reparameterizable: bool = False
    inits: tuple[str, ...] = TIMM_INITS

    def full_arch(self, arch: Mapping[str, Any]) -> dict[str, Any]:
        """``arch`` with defaults filled in, after checking keys, types and choices.

        Raises:
            StudentBuildError: on an unknown key, a value of the wrong type or a bad choice.
        """
        merged = dict(self.defaults)
        for key, value in arch.items():
            problem = self.arch_value_problem(key, value)
            if problem is not None:
                raise StudentBuildError(f"arch.{key}: {problem}")
            merged[key] = value
        return merged

    def arch_value_problem(self, key: str, value: Any) -> str | None:
        """Why ``value`` is not valid for arch key ``key`` (one line), or None if it is."""
        if key not in self.defaults:
            return f"unknown arch parameter; expected one of {sorted(self.defaults)}"
        default = self.defaults[key]
        if isinstance(default, bool) or isinstance(value, bool):
            ok = type(value) is type(default)
        elif isinstance(default, float):
            ok = isinstance(value, int | float)
        else:
            ok = isinstance(value, type(default))
        if not ok:
            return f"expected {type(default).__name__}, got {value!r} ({type(value).__name__})"
        allowed = self.choices.get(key)
        if allowed is not None and value not in allowed:
            return f"expected one of {list(allowed)}, got {value!r}"
        return None


_FAMILIES: dict[str, Family] = {}


def register_family(
    name: str,
    *,
    defaults: Mapping[str, Any] | None = None,
    choices: Mapping[str, tuple[Any, ...]] | None = None,
    reparameterizable: bool = False,
    inits: tuple[str, ...] = TIMM_INITS,
) -> Callable[[Resolver], Resolver]:
    """Decorator registering a resolver ``(arch, img_size) -> TimmRecipe`` as family ``name``.

    Args:
        name: family name (must be new and must not contain a dot).
        defaults: every arch key the family accepts, with its default (none if omitted).
        choices: allowed values of enumerated arch keys (each default must be among them).
        reparameterizable: fuse branches (``timm.utils.reparameterize_model``) before costing.
        inits: the ``StudentSpec.init`` values the family honours.
    """
    if "." in name or not name:
        raise ValueError(f"family names must be non-empty and dot-free, got {name!r}")
    defaults = dict(defaults or {})
    choices = {key: tuple(values) for key, values in (choices or {}).items()}
    for key, values in choices.items():
        if key not in defaults or defaults[key] not in values:
            raise ValueError(f"family {name!r}: default of {key!r} must be one of {values}")

    def decorate(resolve: Resolver) -> Resolver:
        if name in _FAMILIES:
            raise ValueError(f"family {name!r} is already registered")
        _FAMILIES[name] = Family(name, resolve, defaults, choices, reparameterizable, tuple(inits))
        return resolve

    return decorate


def list_families(pattern: str = "*") -> list[str]:
    """Sorted names of the registered families matching the fnmatch ``pattern``."""
    return sorted(name for name in _FAMILIES if fnmatch.fnmatchcase(name, pattern))


def get_family(name: str) -> Family:
    """The registered family ``name``.

    Raises:
        StudentBuildError: if there is none; the message lists the known families.
    """
    try:
        return _FAMILIES[name]
    except KeyError:
        raise StudentBuildError(
            f"unknown student family {name!r}; expected one of {list_families()}"
        ) from None


class BuildTarget(Protocol):
    """What :func:`resolve_recipe` reads of a :class:`~fasnas.students.StudentSpec`.

    (A protocol, so that the registry does not import the spec module that imports it.)
    """

    @property
    def family(self) -> str: ...

    @property
    def arch(self) -> Mapping[str, Any]: ...

    @property
    def img_size(self) -> int: ...

    @property
    def label(self) -> str: ...

    @property
    def init(self) -> str: ...


def resolve_recipe(spec: BuildTarget) -> TimmRecipe:
    """The timm recipe of ``spec`` (a StudentSpec), after checking its arch and input size.

    No model is built.

    Raises:
        StudentBuildError: if the family cannot build ``spec``; the message names the family
            and the size.
    """
    family = get_family(spec.family)
    try:
        if spec.img_size < MIN_IMG_SIZE:
            raise size_error(spec.img_size, f"img_size >= {MIN_IMG_SIZE}")
        init = getattr(spec, "init", "scratch")
        if init not in family.inits:
            raise StudentBuildError(
                f"init {init!r}: not something this family can honour; it takes "
                f"{list(family.inits)}"
            )
        return family.resolve(family.full_arch(spec.arch), spec.img_size)
    except StudentBuildError as error:
        raise StudentBuildError(
            f"family {spec.family!r} cannot build {spec.label}: {error}"
        ) from None


def check_spec(spec: BuildTarget) -> None:
    """Raise :class:`StudentBuildError` if ``spec`` cannot be built; cheap, builds nothing."""
    resolve_recipe(spec)


def size_error(img_size: int, rule: str, **values: Any) -> StudentBuildError:
    """The error of an input size a family cannot take (``rule`` is what must hold)."""
    shown = ", ".join(f"{key}={value}" for key, value in {"img_size": img_size, **values}.items())
    return StudentBuildError(f"`{rule}` must hold, but got ({shown})")
