"""Students: :class:`StudentSpec` -> timm backbone + two heads, through a family registry.

Owns the family registry (timm style: :func:`register_family`, :func:`list_families`,
:func:`get_family`), the frozen, hashable :class:`StudentSpec`, the :class:`Student` module and
:func:`create_student`.

A *family* maps a spec's architecture parameters (``spec.arch``) and input size to a timm model
name plus the keyword arguments that override its architecture (a :class:`TimmRecipe`). Every
backbone is created with ``pretrained=False`` and ``num_classes=0`` (pooled features), or loads a
local weights file named by the spec; nothing is ever downloaded. A spec that a family cannot
build at its input size raises :class:`StudentBuildError` naming the family and the size, so
that a trial fails with a reason.

Families (``list_families()``), their ``arch`` keys and choices:

========================  ===================================================================
family                    arch keys (defaults first)
========================  ===================================================================
vit                       variant (vit, deit, deit_distilled), depth, embed_dim, num_heads,
                          patch_size, mlp_ratio; img_size must be a multiple of patch_size
mobilenetv3               variant (large, small), width (any multiplier in [0.1, 2.0])
mobilenetv4               variant (conv_small), width (1.0, 0.5, 0.35)
efficientnet              variant (b0, lite0)
resnet                    depth (18, 34)
mobileone                 variant (s0 .. s4); reparameterisable
levit                     variant (128s, 128, 192, 256); img_size must be a multiple of 16
mobilevit                 variant (xxs, xs, s, v2_050, v2_075, v2_100)
fastvit                   variant (t8, t12, s12, sa12); reparameterisable
repvit                    variant (m0_9, m1_0, m1_1, m1_5); reparameterisable
efficientvit              variant (m0 .. m5: MSRA; b0, b1, b2: MIT)
edgenext                  variant (xx_small, x_small, small)
tiny_vit                  variant (5m, 11m, 21m)
========================  ===================================================================

Every family needs ``img_size >= 32``. Example::

    spec = StudentSpec("vit", {"depth": 2, "embed_dim": 64, "num_heads": 2, "patch_size": 8}, 32)
    student = create_student(spec, embed_dim=512)
    logits, embedding = student(torch.randn(2, 3, 32, 32))  # (2, 2) and (2, 512)
"""

from __future__ import annotations

import copy
import fnmatch
import math
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fasnas.errors import CheckpointError, ConfigError

MIN_IMG_SIZE = 32
_SCALAR_TYPES = (type(None), bool, int, float, str)


class StudentBuildError(ConfigError, ValueError):
    """A student spec that its family cannot build (bad arch value, unsupported input size).

    A user error (exit 2 on the command line); in a trial it becomes the ``fail_reason``."""


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
        family: a registered family name (see :func:`list_families`).
        arch: family-specific parameters, e.g. ``{"variant": "large", "width": 0.75}``; keys
            left out take the family's defaults. Stored as a hashable :class:`FrozenArch`.
        img_size: square input size in pixels.
        weights: optional local file with backbone weights (a timm/PyTorch state dict or
            safetensors file); never downloaded.
    """

    family: str
    arch: Mapping[str, Any] = field(default_factory=dict)
    img_size: int = 224
    weights: str | None = None

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

    @property
    def timm_name(self) -> str:
        """The registered timm model the backbone is created from (``arch`` may override it)."""
        return resolve_recipe(self).name

    @property
    def label(self) -> str:
        """A short human-readable name, e.g. ``mobilenetv3(variant=small,width=0.5)@64``."""
        params = ",".join(f"{key}={value}" for key, value in self.arch.items())
        return f"{self.family}({params})@{self.img_size}"

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-serialisable dict; :meth:`from_dict` inverts it."""
        return {
            "family": self.family,
            "arch": dict(self.arch),
            "img_size": self.img_size,
            "weights": self.weights,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "StudentSpec") -> StudentSpec:
        """Rebuild a spec from :meth:`to_dict` output.

        Raises:
            ConfigError: on a missing or unknown key, naming ``where`` and the key.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {data!r}")
        known = ("family", "arch", "img_size", "weights")
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
        )


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
    """

    name: str
    resolve: Resolver
    defaults: Mapping[str, Any]
    choices: Mapping[str, tuple[Any, ...]]
    reparameterizable: bool = False

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
) -> Callable[[Resolver], Resolver]:
    """Decorator registering a resolver ``(arch, img_size) -> TimmRecipe`` as family ``name``.

    Args:
        name: family name (must be new and must not contain a dot).
        defaults: every arch key the family accepts, with its default (none if omitted).
        choices: allowed values of enumerated arch keys (each default must be among them).
        reparameterizable: fuse branches (``timm.utils.reparameterize_model``) before costing.
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
        _FAMILIES[name] = Family(name, resolve, defaults, choices, reparameterizable)
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


def resolve_recipe(spec: StudentSpec) -> TimmRecipe:
    """The timm recipe of ``spec``, after checking its arch and input size (no model is built).

    Raises:
        StudentBuildError: if the family cannot build ``spec``; the message names the family
            and the size.
    """
    family = get_family(spec.family)
    try:
        if spec.img_size < MIN_IMG_SIZE:
            raise _size_error(spec.img_size, f"img_size >= {MIN_IMG_SIZE}")
        return family.resolve(family.full_arch(spec.arch), spec.img_size)
    except StudentBuildError as error:
        raise StudentBuildError(
            f"family {spec.family!r} cannot build {spec.label}: {error}"
        ) from None


def check_spec(spec: StudentSpec) -> None:
    """Raise :class:`StudentBuildError` if ``spec`` cannot be built; cheap, builds nothing."""
    resolve_recipe(spec)


def _size_error(img_size: int, rule: str, **values: Any) -> StudentBuildError:
    """The error of an input size a family cannot take (``rule`` is what must hold)."""
    shown = ", ".join(f"{key}={value}" for key, value in {"img_size": img_size, **values}.items())
    return StudentBuildError(f"`{rule}` must hold, but got ({shown})")


def _int_percent(width: float) -> int:
    """``width`` as an integer percentage (0.75 -> 75)."""
    return int(round(width * 100))


# --------------------------------------------------------------------------- families


_VIT_NAMES = {
    "vit": "vit_tiny_patch16_224",
    "deit": "deit_tiny_patch16_224",
    "deit_distilled": "deit_tiny_distilled_patch16_224",
}


@register_family(
    "vit",
    defaults={
        "variant": "vit",
        "depth": 12,
        "embed_dim": 192,
        "num_heads": 3,
        "patch_size": 16,
        "mlp_ratio": 4.0,
    },
    choices={"variant": tuple(_VIT_NAMES)},
)
def _vit(arch: Mapping[str, Any], img_size: int) -> TimmRecipe:
    """timm VisionTransformer (ViT-Ti/DeiT-Ti) with depth, width, heads, patch and MLP ratio.

    ``deit`` is architecturally ViT-Ti; ``deit_distilled`` adds DeiT's distillation token.
    """
    depth, dim, heads = arch["depth"], arch["embed_dim"], arch["num_heads"]
    patch, ratio = arch["patch_size"], arch["mlp_ratio"]
    for key in ("depth", "embed_dim", "num_heads", "patch_size"):
        if arch[key] < 1:
            raise StudentBuildError(f"arch.{key}: `{key} >= 1` must hold")
    if ratio <= 0:
        raise StudentBuildError("arch.mlp_ratio: `mlp_ratio > 0` must hold")
    if dim % heads:
        raise StudentBuildError(
            f"`embed_dim % num_heads == 0` must hold, but got (embed_dim={dim}, num_heads={heads})"
        )
    if img_size % patch:
        raise _size_error(img_size, "img_size % patch_size == 0", patch_size=patch)
    kwargs = {
        "depth": depth,
        "embed_dim": dim,
        "num_heads": heads,
        "patch_size": patch,
        "mlp_ratio": float(ratio),
        "img_size": img_size,
    }
    return TimmRecipe(_VIT_NAMES[arch["variant"]], kwargs)


_MNV3_NAMED = {("large", 75), ("large", 100), ("small", 50), ("small", 75), ("small", 100)}


def _mobilenetv3_generator(name: str, pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """Build a MobileNetV3 at a width timm does not register (``mobilenetv3_large_050``, ...)."""
    from timm.models.mobilenetv3 import _gen_mobilenet_v3

    width = int(name.rsplit("_", 1)[1]) / 100
    kwargs.setdefault("pretrained_cfg", {"architecture": name})
    return _gen_mobilenet_v3(name, width, pretrained=pretrained, **kwargs)


@register_family(
    "mobilenetv3",
    defaults={"variant": "large", "width": 1.0},
    choices={"variant": ("large", "small")},
)
def _mobilenetv3(arch: Mapping[str, Any], img_size: int) -> TimmRecipe:
    """MobileNetV3 small/large at any width multiplier (timm's own generator)."""
    width = arch["width"]
    percent = _int_percent(width)
    if not 0.1 <= width <= 2.0 or not math.isclose(percent, width * 100, abs_tol=1e-6):
        raise StudentBuildError(
            f"arch.width: expected a multiple of 0.01 in [0.1, 2.0], got {width!r}"
        )
    name = f"mobilenetv3_{arch['variant']}_{percent:03d}"
    if (arch["variant"], percent) in _MNV3_NAMED:
        return TimmRecipe(name)
    return TimmRecipe(name, generator=_mobilenetv3_generator)


_MNV4_NAMES = {
    1.0: "mobilenetv4_conv_small",
    0.5: "mobilenetv4_conv_small_050",
    0.35: "mobilenetv4_conv_small_035",
}


@register_family(
    "mobilenetv4",
    defaults={"variant": "conv_small", "width": 1.0},
    choices={"variant": ("conv_small",), "width": (1.0, 0.5, 0.35)},
)
def _mobilenetv4(arch: Mapping[str, Any], img_size: int) -> TimmRecipe:
    """MobileNetV4 conv-small at timm's registered widths."""
    return TimmRecipe(_MNV4_NAMES[float(arch["width"])])


@register_family("efficientnet", defaults={"variant": "b0"}, choices={"variant": ("b0", "lite0")})
def _efficientnet(arch: Mapping[str, Any], img_size: int) -> TimmRecipe:
    """EfficientNet-B0 or EfficientNet-Lite0."""
    return TimmRecipe(f"efficientnet_{arch['variant']}")


@register_family("resnet", defaults={"depth": 18}, choices={"depth": (18, 34)})
def _resnet(arch: Mapping[str, Any], img_size: int) -> TimmRecipe:
    """ResNet-18 or ResNet-34."""
    return TimmRecipe(f"resnet{arch['depth']}")


@register_family(
    "mobileone",
    defaults={"variant": "s0"},
    choices={"variant": ("s0", "s1", "s2", "s3", "s4")},
    reparameterizable=True,
)
def _mobileone(arch: Mapping[str, Any], img_size: int) -> TimmRecipe:
    """Apple MobileOne (timm ByobNet); reparameterisable."""
    return TimmRecipe(f"mobileone_{arch['variant']}")


@register_family(
    "levit", defaults={"variant": "128s"}, choices={"variant": ("128s", "128", "192", "256")}
)
def _levit(arch: Mapping[str, Any], img_size: int) -> TimmRecipe:
    """LeViT; its attention biases are sized at creation, so img_size must be a multiple of 16."""
    if img_size % 16:
        raise _size_error(img_size, "img_size % 16 == 0")
    return TimmRecipe(f"levit_{arch['variant']}", {"img_size": img_size})


_MOBILEVIT_NAMES = {
    "xxs": "mobilevit_xxs",
    "xs": "mobilevit_xs",
    "s": "mobilevit_s",
    "v2_050": "mobilevitv2_050",
    "v2_075": "mobilevitv2_075",
    "v2_100": "mobilevitv2_100",
}


@register_family(
    "mobilevit", defaults={"variant": "xxs"}, choices={"variant": tuple(_MOBILEVIT_NAMES)}
)
def _mobilevit(arch: Mapping[str, Any], img_size: int) -> TimmRecipe:
    """MobileViT v1 (xxs, xs, s) and v2 (0.5, 0.75, 1.0)."""
    return TimmRecipe(_MOBILEVIT_NAMES[arch["variant"]])


@register_family(
    "fastvit",
    defaults={"variant": "t8"},
    choices={"variant": ("t8", "t12", "s12", "sa12")},
    reparameterizable=True,
)
def _fastvit(arch: Mapping[str, Any], img_size: int) -> TimmRecipe:
    """Apple FastViT; reparameterisable."""
    return TimmRecipe(f"fastvit_{arch['variant']}")


@register_family(
    "repvit",
    defaults={"variant": "m0_9"},
    choices={"variant": ("m0_9", "m1_0", "m1_1", "m1_5")},
    reparameterizable=True,
)
def _repvit(arch: Mapping[str, Any], img_size: int) -> TimmRecipe:
    """RepViT; reparameterisable."""
    return TimmRecipe(f"repvit_{arch['variant']}")


@register_family(
    "efficientvit",
    defaults={"variant": "m0"},
    choices={"variant": ("m0", "m1", "m2", "m3", "m4", "m5", "b0", "b1", "b2")},
)
def _efficientvit(arch: Mapping[str, Any], img_size: int) -> TimmRecipe:
    """EfficientViT: MSRA (m0..m5, window attention sized by img_size) or MIT (b0..b2)."""
    variant = arch["variant"]
    kwargs = {"img_size": img_size} if variant.startswith("m") else {}
    return TimmRecipe(f"efficientvit_{variant}", kwargs)


@register_family(
    "edgenext",
    defaults={"variant": "xx_small"},
    choices={"variant": ("xx_small", "x_small", "small")},
)
def _edgenext(arch: Mapping[str, Any], img_size: int) -> TimmRecipe:
    """EdgeNeXt."""
    return TimmRecipe(f"edgenext_{arch['variant']}")


@register_family("tiny_vit", defaults={"variant": "5m"}, choices={"variant": ("5m", "11m", "21m")})
def _tiny_vit(arch: Mapping[str, Any], img_size: int) -> TimmRecipe:
    """TinyViT (timm pads its attention windows, so any img_size >= 32 works)."""
    return TimmRecipe(f"tiny_vit_{arch['variant']}_224")


# --------------------------------------------------------------------------- the module


class Student(nn.Module):
    """A timm backbone with a 2-class head and a projection to the teacher's embedding space.

    Attributes:
        spec: the spec it was built from.
        backbone: the timm model, ``num_classes=0`` (it returns pooled features).
        head: ``Linear(num_features, 2)``; logits ordered (spoof, real), so index 1 is "real".
        projection: ``Linear(num_features, embed_dim)``, for feature and text distillation.
    """

    def __init__(
        self, spec: StudentSpec, backbone: nn.Module, num_features: int, embed_dim: int
    ) -> None:
        super().__init__()
        self.spec = spec
        self.backbone = backbone
        self.num_features = num_features
        self.embed_dim = embed_dim
        self.head = nn.Linear(num_features, 2)
        self.projection = nn.Linear(num_features, embed_dim)
        self._reparameterized = False

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (B, 3, S, S) -> (logits (B, 2), projected embedding (B, embed_dim))."""
        features = self.backbone(x)
        return self.head(features), self.projection(features)

    @property
    def is_reparameterizable(self) -> bool:
        """Whether the family fuses branches for inference (fastvit, repvit, mobileone)."""
        return get_family(self.spec.family).reparameterizable

    @property
    def is_reparameterized(self) -> bool:
        """Whether :meth:`reparameterize` has already fused this student."""
        return self._reparameterized

    def reparameterize(self, inplace: bool = False) -> Student:
        """The inference form of this student (fused branches), for costing and export.

        A no-op returning ``self`` for families without reparameterisation and for students
        already reparameterised (so it is idempotent). Otherwise fuses a deep copy, or ``self``
        when ``inplace``. The fused student is for inference only; do not train it.
        """
        if not self.is_reparameterizable or self._reparameterized:
            return self
        from fasnas._compat import ensure_torchvision

        ensure_torchvision()
        from timm.utils import reparameterize_model

        target = self if inplace else copy.deepcopy(self)
        reparameterize_model(target.backbone, inplace=True)
        target._reparameterized = True
        return target


def _feature_dim(backbone: nn.Module) -> int:
    """Width of the pooled features a ``num_classes=0`` timm model returns."""
    hidden = getattr(backbone, "head_hidden_size", None)
    return int(hidden if hidden else backbone.num_features)


def _weights_path(spec: StudentSpec) -> str:
    path = Path(spec.weights).expanduser()
    if not path.is_file():
        raise ConfigError(f"{spec.weights}: student weights file not found (StudentSpec.weights)")
    return str(path)


def _classifier_prefixes(backbone: nn.Module) -> tuple[str, ...]:
    names = getattr(backbone, "pretrained_cfg", {}).get("classifier") or ()
    names = (names,) if isinstance(names, str) else tuple(names)
    return tuple(f"{name}." for name in (*names, "head_dist", "head", "fc", "classifier"))


def load_backbone_weights(backbone: nn.Module, path: str) -> None:
    """Load a local weights file into a ``num_classes=0`` timm backbone, strictly.

    The file may be a state dict, a checkpoint dict holding one (``state_dict``, ``model``,
    EMA), or safetensors. The model module's ``checkpoint_filter_fn`` adapts it as timm does
    for pretrained weights (e.g. resizing a ViT position embedding); classifier weights are
    dropped. Every remaining backbone parameter must be in the file.

    Raises:
        CheckpointError: if the file cannot be read or does not match the backbone.
    """
    from timm.models import load_state_dict

    try:
        state = load_state_dict(path)
        filter_fn = getattr(sys.modules[type(backbone).__module__], "checkpoint_filter_fn", None)
        if filter_fn is not None:
            state = filter_fn(state, backbone)
    except Exception as error:  # any reader failure means a bad file for the user
        raise CheckpointError(
            f"{path}: cannot read student weights: {type(error).__name__}: {error}"
        ) from error
    own = backbone.state_dict()
    prefixes = _classifier_prefixes(backbone)
    state = {k: v for k, v in state.items() if k in own or not k.startswith(prefixes)}
    try:
        missing, unexpected = backbone.load_state_dict(state, strict=False)
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        raise CheckpointError(
            f"{path}: does not fit {type(backbone).__name__}: {' '.join(first[:3])}"
        ) from error
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: does not fit {type(backbone).__name__}: {len(missing)} missing keys "
            f"(first: {missing[:3]}), {len(unexpected)} unexpected keys "
            f"(first: {unexpected[:3]})"
        )


def create_student(spec: StudentSpec, embed_dim: int) -> Student:
    """Build the student described by ``spec``; ``embed_dim`` is the teacher's embedding width.

    The backbone starts from random weights (seed torch first for reproducibility), or from
    ``spec.weights`` when set (see :func:`load_backbone_weights`).

    Raises:
        StudentBuildError: if the family cannot build ``spec`` (the message names family and
            size).
        ConfigError: if ``spec.weights`` names a missing file.
        CheckpointError: if that file cannot be loaded into the backbone.
    """
    if isinstance(embed_dim, bool) or not isinstance(embed_dim, int) or embed_dim < 1:
        raise ValueError(f"`embed_dim >= 1` must hold, but got {embed_dim!r}")
    recipe = resolve_recipe(spec)
    weights = _weights_path(spec) if spec.weights is not None else None
    from fasnas._compat import ensure_torchvision

    ensure_torchvision()
    import timm

    kwargs: dict[str, Any] = {"num_classes": 0, **recipe.kwargs}
    if recipe.generator is not None:
        backbone = recipe.generator(recipe.name, pretrained=False, **kwargs)
    else:
        backbone = timm.create_model(recipe.name, pretrained=False, **kwargs)
    if weights is not None:
        load_backbone_weights(backbone, weights)
    return Student(spec, backbone, _feature_dim(backbone), embed_dim)


class DeployedStudent(nn.Module):
    """The student as deployed: backbone and 2-class head, logits only (what cost and export
    see; the projection head serves distillation during training only)."""

    def __init__(self, student: Student) -> None:
        super().__init__()
        self.student = student

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.student(x)[0]
