"""The ``students:`` section of a study config: where pre-trained student weights are found.

Owns :class:`StudentSettings`. ``weights_dir`` is the first place ``init: pretrained`` looks
(``<timm model name>.safetensors`` or ``.pth``; :mod:`fasnas.students.weights`), relative to the
config's folder; ``fasnas weights pull`` fills it on a machine with network access. Config
section (every key optional)::

    students:
      weights_dir: weights     # folder of <timm name>.safetensors|.pth files
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_WEIGHTS_DIR = Path("weights")


@dataclass(frozen=True)
class StudentSettings:
    """The validated ``students:`` section."""

    weights_dir: Path = DEFAULT_WEIGHTS_DIR  # folder of <timm name>.safetensors|.pth files

    def check(self, where: str) -> None:
        """Nothing to check beyond the types: a missing folder only means no local weights."""
