"""What a student is, as data: the frozen, hashable :class:`StudentSpec` and its
:class:`FrozenArch`.

Owns the spec's fields, their validation (:class:`~fasnas.errors.ConfigError` naming the field)
and its JSON round trip (:meth:`StudentSpec.to_dict` / :meth:`StudentSpec.from_dict`). Whether a
family can *build* a spec is the registry's business (:func:`fasnas.students.check_spec`).
No torch, no timm.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fasnas.errors import ConfigError
from fasnas.students.registry import resolve_recipe

_SCALAR_TYPES = (type(None), bool, int, float, str)

INITS = ("scratch", "pretrained", "inherit", "clip")
"""How a student's weights start: random, timm's ImageNet weights (offline,
:mod:`fasnas.students.weights`), inherited from the teacher's image tower
(:mod:`fasnas.students.inherit`), or an open_clip tower's CLIP weights
(:mod:`fasnas.students.clip_tower`)."""


class FrozenArch(Mapping[str, Any]):
    """An immutable, hashable mapping of architecture parameters, kept sorted by key."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        data = dict(items or {})
        for key, value in data.items():
            if not isinstance(key, str):
                raise ConfigError(f"StudentSpec.arch: keys must be strings, got {key!r}")
            if not isinstance(value, _SCALAR_TYPES):
                raise ConfigError(
                    f"StudentSpec.arch.{key}: expected None, bool, int, float or str, "
                    f"got {value!r} ({type(value).__name__})"
                )
        self._items: tuple[tuple[str, Any], ...] = tuple(sorted(data.items()))

    def __getitem__(self, key: str) -> Any:
        for name, value in self._items:
            if name == key:
                return value
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self._items) == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return repr(dict(self._items))


@dataclass(frozen=True)
class StudentSpec:
    """What a student is: a family, its architecture parameters and its input size.

    Attributes:
        family: a registered family name (see :func:`~fasnas.students.list_families`).
        arch: family-specific parameters, e.g. ``{"variant": "large", "width": 0.75}``; keys
            left out take the family's defaults. Stored as a hashable :class:`FrozenArch`.
        img_size: square input size in pixels.
        weights: optional local file with backbone weights (a timm/PyTorch state dict or
            safetensors file); never downloaded.
        init: how the weights start, one of :data:`INITS` (``spec.weights``, when set, is
            loaded over them).
    """

    family: str
    arch: Mapping[str, Any] = field(default_factory=dict)
    img_size: int = 224
    weights: str | None = None
    init: str = "scratch"

    def __post_init__(self) -> None:
        if not isinstance(self.family, str) or not self.family:
            raise ConfigError(f"StudentSpec.family: expected a family name, got {self.family!r}")
        if not isinstance(self.arch, Mapping):
            raise ConfigError(f"StudentSpec.arch: expected a mapping, got {self.arch!r}")
        object.__setattr__(self, "arch", FrozenArch(self.arch))
        if isinstance(self.img_size, bool) or not isinstance(self.img_size, int):
            raise ConfigError(f"StudentSpec.img_size: expected an int, got {self.img_size!r}")
        if self.weights is not None:
            if isinstance(self.weights, Path):
                object.__setattr__(self, "weights", str(self.weights))
            if not isinstance(self.weights, str) or not self.weights:
                raise ConfigError(
                    f"StudentSpec.weights: expected a file path, got {self.weights!r}"
                )
        if self.init not in INITS:
            raise ConfigError(
                f"StudentSpec.init: expected one of {list(INITS)}, got {self.init!r}"
            )

    @property
    def timm_name(self) -> str:
        """The registered timm model the backbone is created from (``arch`` may override it)."""
        return resolve_recipe(self).name

    @property
    def label(self) -> str:
        """A short human-readable name, e.g. ``mobilenetv3(variant=small,width=0.5)@64``
        (``+pretrained``, ``+inherit`` or ``+clip`` appended when the weights do not start
        from scratch)."""
        params = ",".join(f"{key}={value}" for key, value in self.arch.items())
        init = "" if self.init == "scratch" else f"+{self.init}"
        return f"{self.family}({params})@{self.img_size}{init}"

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-serialisable dict; :meth:`from_dict` inverts it."""
        return {
            "family": self.family,
            "arch": dict(self.arch),
            "img_size": self.img_size,
            "weights": self.weights,
            "init": self.init,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "StudentSpec") -> StudentSpec:
        """Rebuild a spec from :meth:`to_dict` output.

        Raises:
            ConfigError: on a missing or unknown key, naming ``where`` and the key.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {data!r}")
        known = ("family", "arch", "img_size", "weights", "init")
        for key in data:
            if key not in known:
                raise ConfigError(f"{where}.{key}: unknown key; expected one of {list(known)}")
        for key in ("family", "img_size"):
            if key not in data:
                raise ConfigError(f"{where}.{key}: missing required key")
        return cls(
            family=data["family"],
            arch=data.get("arch") or {},
            img_size=data["img_size"],
            weights=data.get("weights"),
            init=data.get("init", "scratch"),
        )
