"""Reading a torch checkpoint file into tensors without running code from it.

Owns the bytes-to-state-dict step of every checkpoint fasnas reads (:func:`load_raw`), the
numpy allowlist that lets ``torch.load(weights_only=True)`` read FLIP's files, and the short
one-line wording of what went wrong. Which keys a format holds, and how they become a teacher,
is :mod:`fasnas.teacher.checkpoints`' business.

Safety: files are read with ``torch.load(weights_only=True)``, allowing only numpy scalars,
dtypes and arrays besides tensors (FLIP stores its threshold and metrics as numpy floats).
Anything else is refused unless ``trust_pickle=True`` (``--trust-pickle``). TorchScript archives
(OpenAI's CLIP ``.pt`` files) are read with ``torch.jit.load``, which runs no Python pickle code.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fasnas.errors import CheckpointError

_UNSAFE_GLOBAL = re.compile(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)")
_NEEDS_TRUST = re.compile(
    r"Unsupported global|unsupported GLOBAL|Can only (?:create|build|append|extend)|for dict, "
)
"""weights_only refusals of objects (not of broken bytes, e.g. "Unsupported operand")."""


def first_line(error: BaseException) -> str:
    """``<ErrorType>: <first non-empty line of its message>``."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def names(keys: Sequence[str], limit: int = 3) -> str:
    """The first ``limit`` keys, comma-separated, with ``...`` when there are more."""
    shown = ", ".join(keys[:limit])
    return shown + (", ..." if len(keys) > limit else "")


def numpy_safe_globals() -> list[Any]:
    """numpy data types torch.load may rebuild: scalars, dtypes and arrays (no code)."""
    core = getattr(np, "_core", None) or np.core
    scalar, reconstruct = core.multiarray.scalar, core.multiarray._reconstruct
    dtype_classes = {type(np.dtype(code)) for code in "?bBhHiIlLqQefdgFDG"}
    return [
        scalar,
        (scalar, "numpy.core.multiarray.scalar"),
        (scalar, "numpy._core.multiarray.scalar"),
        reconstruct,
        (reconstruct, "numpy.core.multiarray._reconstruct"),
        (reconstruct, "numpy._core.multiarray._reconstruct"),
        np.ndarray,
        np.dtype,
        *sorted(dtype_classes, key=str),
    ]


def is_torchscript(path: Path) -> bool:
    """Whether ``path`` is a TorchScript archive (a zip holding ``constants.pkl``)."""
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("constants.pkl") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _torch_load(path: Path, trust_pickle: bool) -> Any:
    try:
        with torch.serialization.safe_globals(numpy_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if not _NEEDS_TRUST.search(str(error)):
            raise CheckpointError(
                f"{path}: corrupt or truncated checkpoint ({first_line(error)})"
            ) from None
        if not trust_pickle:
            found = sorted(set(_UNSAFE_GLOBAL.findall(str(error))))
            what = f"it pickles {', '.join(found)}" if found else "it pickles non-tensor objects"
            raise CheckpointError(
                f"{path}: refusing to unpickle: {what}, which could run code from the file; "
                f"pass --trust-pickle (trust_pickle=True) only if you trust its source"
            ) from None
    except Exception as error:  # torch.load signals unreadable files with many types
        raise CheckpointError(
            f"{path}: corrupt or truncated checkpoint ({first_line(error)})"
        ) from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise CheckpointError(
            f"{path}: corrupt or truncated checkpoint ({first_line(error)})"
        ) from None


def load_raw(
    path: Path | str, *, trust_pickle: bool = False
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint file into ``(state_dict, other top-level entries)``, on the CPU.

    Accepts a ``torch.save`` dict holding ``state_dict`` (its other entries, e.g. ``epoch``
    and ``threshold``, are returned), a bare state dict, or a TorchScript archive (its
    ``state_dict()``).

    Raises:
        CheckpointError: If the file is missing, corrupt or truncated, needs an unsafe
            unpickle without ``trust_pickle``, or holds no state dict of tensors.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    if not path.is_file():
        raise CheckpointError(f"{path}: expected a checkpoint file, but it is not a file")
    if is_torchscript(path):
        try:
            with warnings.catch_warnings():  # torch 2.13 deprecates torch.jit.*
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(str(path), map_location="cpu")
        except Exception as error:
            raise CheckpointError(
                f"{path}: corrupt TorchScript archive ({first_line(error)})"
            ) from None
        return dict(module.state_dict()), {}
    obj = _torch_load(path, trust_pickle)
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, Mapping) and "state_dict" in obj:
        state_dict, meta = obj["state_dict"], {k: v for k, v in obj.items() if k != "state_dict"}
    elif isinstance(obj, Mapping):
        state_dict, meta = obj, {}
    else:
        raise CheckpointError(
            f"{path}: expected a state dict or a dict with a 'state_dict' entry, "
            f"but it holds a {type(obj).__name__}"
        )
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise CheckpointError(f"{path}: 'state_dict' must be a non-empty mapping of tensors")
    not_tensors = sorted(str(k) for k, v in state_dict.items() if not isinstance(v, torch.Tensor))
    if not_tensors:
        raise CheckpointError(
            f"{path}: state dict entries must be tensors, but {len(not_tensors)} are not "
            f"({names(not_tensors)}); top-level keys: {names(sorted(map(str, obj)), 8)}"
        )
    return {str(k): v for k, v in state_dict.items()}, meta
