"""The ``data:`` section of a study config: where the FLIP-layout data lives and how it is cached.

Owns :class:`DataConfig` and its checks. ``root`` is required; relative paths are resolved
against the config's folder (``cache_dir`` defaults to ``cache/`` there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fasnas.errors import ConfigError

BENCHMARKS = ("MCIO", "WCS")


@dataclass(frozen=True)
class DataConfig:
    """Where the FLIP-layout data lives and how it is cached."""

    root: Path  # folder holding MCIO/ (or WCS/)
    benchmark: str = "MCIO"  # MCIO | WCS
    size: int = 224  # frame-cache resolution in px; models resize from it
    cache_dir: Path = Path("cache")  # frame and teacher caches
    val_fraction: float = 0.1  # share of source videos held out for honest thresholds
    celeb: bool = False  # add CelebA-Spoof as an extra source domain
    shots: int = 0  # 0-shot (default) or 5-shot on the target
    seed: int = 0  # seed of the source-validation split

    def check(self, where: str) -> None:
        """Validate the values together (``where`` is ``<file>: data``)."""
        if self.benchmark not in BENCHMARKS:
            raise ConfigError(
                f"{where}.benchmark: expected one of {list(BENCHMARKS)}, got {self.benchmark!r}"
            )
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"{where}.val_fraction: must be in (0, 1), got {self.val_fraction}")
        if self.shots not in (0, 5):
            raise ConfigError(f"{where}.shots: must be 0 or 5, got {self.shots}")
        if self.size < 16:
            raise ConfigError(f"{where}.size: must be >= 16 px, got {self.size}")
