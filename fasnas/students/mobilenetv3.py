"""The ``mobilenetv3`` family: MobileNetV3 small/large at any width multiplier.

Owns the family's arch keys (``variant`` in large, small; ``width``, a multiple of 0.01 in
[0.1, 2.0]) and the generator that builds the widths timm does not register under a name
(e.g. ``mobilenetv3_large_050``) with timm's own ``_gen_mobilenet_v3``. Code rather than a
``families.json`` table, because the width is free rather than a list of timm names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fasnas.students.registry import StudentBuildError, TimmRecipe, register_family

if TYPE_CHECKING:  # torch and timm are imported only when a model is built
    from torch import nn

_MNV3_NAMED = {("large", 75), ("large", 100), ("small", 50), ("small", 75), ("small", 100)}


def _int_percent(width: float) -> int:
    """``width`` as an integer percentage (0.75 -> 75)."""
    return int(round(width * 100))


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
