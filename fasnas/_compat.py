"""Environment shims, applied once and only when the exact failure they fix occurs.

Owns the torchvision work-around (docs/facts.md §3): the registry's torchvision wheel is a CUDA
build whose import, next to a CPU-only torch, raises
``RuntimeError: operator torchvision::nms does not exist``. timm and open_clip import
torchvision, so they fail too. When (and only when) that exact error occurs we drop the
half-imported ``torchvision*`` modules, define the two missing operator schemas, and import
again. torchvision's transforms then work; its compiled ops (nms, roi_align) do not.

Every module that imports timm or open_clip imports this module first::

    from fasnas._compat import ensure_torchvision
    ensure_torchvision()
    import timm
"""

from __future__ import annotations

import importlib
import sys

_MISSING_NMS = "operator torchvision::nms does not exist"
_MISSING_OP_SCHEMAS = ("nms", "qnms")
_SCHEMA = "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"

_state: dict[str, object] = {"checked": False, "patched": False}
_libraries: list[object] = []  # keep the torch.library.Library objects alive


def _drop_torchvision_modules() -> None:
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]


def _define_missing_schemas() -> None:
    import torch

    library = torch.library.Library("torchvision", "FRAGMENT")
    for op in _MISSING_OP_SCHEMAS:
        try:
            library.define(f"{op}{_SCHEMA}")
        except RuntimeError as error:  # already defined by a partial import
            if "already" not in str(error) and "multiple times" not in str(error):
                raise
    _libraries.append(library)


def is_missing_nms_error(error: BaseException) -> bool:
    """Return True if ``error`` is the exact torchvision-on-CPU-torch import failure."""
    return isinstance(error, RuntimeError) and _MISSING_NMS in str(error)


def ensure_torchvision() -> bool:
    """Make ``import torchvision`` work; return True if the work-around had to be applied.

    Idempotent and cheap after the first call. Any import error other than the missing
    ``torchvision::nms`` operator propagates unchanged.
    """
    if _state["checked"]:
        return bool(_state["patched"])
    try:
        importlib.import_module("torchvision")
    except RuntimeError as error:
        if not is_missing_nms_error(error):
            raise
        _drop_torchvision_modules()
        _define_missing_schemas()
        importlib.import_module("torchvision")
        _state["patched"] = True
    _state["checked"] = True
    return bool(_state["patched"])
