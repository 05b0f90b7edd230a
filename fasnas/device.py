"""The ``device:`` key of a study config: checked when the config loads, resolved when used.

Owns the device grammar (``auto | cpu | cuda | cuda:N``), its check at load time
(:func:`check_device`: a GPU that this machine does not have is refused before anything is
written) and :func:`select_device`. torch is imported only when a CUDA device is named or a
device is selected.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from fasnas.errors import ConfigError

if TYPE_CHECKING:
    import torch

_GRAMMAR = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")


def check_device(preference: str, where: str = "device") -> None:
    """Refuse a malformed device, or a CUDA device this machine lacks (one line, ``where``).

    Raises:
        ConfigError: e.g. ``studies/x.yaml: device: 'cuda:7' requested but this machine has
            1 CUDA GPU(s) (cuda:0..cuda:0)``.
    """
    if not isinstance(preference, str) or not _GRAMMAR.match(preference):
        raise ConfigError(f"{where}: expected auto, cpu, cuda or cuda:N, got {preference!r}")
    if not preference.startswith("cuda"):
        return
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise ConfigError(f"{where}: {preference!r} requested but no CUDA GPU is available")
    index = int(preference.partition(":")[2] or 0)
    if index >= count:
        raise ConfigError(
            f"{where}: {preference!r} requested but this machine has {count} CUDA GPU(s) "
            f"(cuda:0..cuda:{count - 1})"
        )


def select_device(preference: str = "auto") -> torch.device:
    """``auto`` picks the first CUDA GPU when there is one, else the CPU.

    Raises:
        ConfigError: A CUDA device this machine does not have.
    """
    import torch

    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    check_device(preference)
    return torch.device(preference)
