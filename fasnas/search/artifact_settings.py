"""The ``artifacts:`` section of a study config: where trials keep their files, and how many.

Owns :class:`ArtifactSettings`. Two forms are accepted::

    artifacts: studies/demo-artifacts        # a folder (every trial's weights kept)
    artifacts:
      dir: studies/demo-artifacts            # default: <name>-artifacts beside the config
      keep: front                            # all (default) | front | top-K, e.g. top-20

``keep`` says whose student weights stay in the store (:mod:`fasnas.search.retention` prunes
the others after each trial and at ``fasnas study prune``); every trial's results are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fasnas import schema
from fasnas.errors import ConfigError

KEEP_ALL, KEEP_FRONT = "all", "front"
_TOP = re.compile(r"top-([0-9]+)")


def check_keep(keep: str, where: str) -> None:
    """Refuse a ``keep`` that is not all, front or top-K (K >= 1), naming ``where``."""
    if keep in (KEEP_ALL, KEEP_FRONT):
        return
    found = _TOP.fullmatch(str(keep))
    if found is None or int(found.group(1)) < 1:
        raise ConfigError(
            f"{where}: expected all, front or top-K with K >= 1 (e.g. top-20), got {keep!r}"
        )


@dataclass(frozen=True)
class ArtifactSettings:
    """Where a study's artifacts go and whose weights are kept."""

    dir: Path | None = None  # the artifact folder (None: <name>-artifacts beside the config)
    keep: str = KEEP_ALL  # all | front | top-K: whose weights stay (results are always kept)

    def check(self, where: str) -> None:
        check_keep(self.keep, f"{where}.keep")

    @property
    def top_k(self) -> int | None:
        """K of ``top-K``; None for ``all`` and ``front``."""
        found = _TOP.fullmatch(self.keep)
        return int(found.group(1)) if found else None

    @classmethod
    def from_raw(cls, raw: Any, where: str, base: Path) -> ArtifactSettings:
        """The section from its YAML: None, a folder path, or ``{dir, keep}``.

        Raises:
            ConfigError: Another type, an empty path, an unknown key or a bad ``keep``.
        """
        if raw is None:
            return cls()
        if isinstance(raw, str):
            if not raw.strip():
                raise ConfigError(f"{where}: expected a folder path or {{dir, keep}}, got {raw!r}")
            return cls(dir=(base / raw).resolve())
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a folder path or {{dir, keep}}, got {raw!r}")
        settings = schema.build(cls, raw, where, base=base)
        if settings.dir is not None:
            settings = cls(dir=(base / settings.dir).resolve(), keep=settings.keep)
        return settings
