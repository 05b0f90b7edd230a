"""The ``report:`` section of a study config: what the report draws beyond the study itself.

Owns :class:`ReportSettings`::

    report:
      budget_gmacs: 0.04     # a deployment budget: a line on the front, its best point marked

Real deployments run at 0.04-0.16 GMACs (MiniFASNetV2: 0.041 GMACs at 80 px); the line shows
where a study's front meets such a budget (:mod:`fasnas.report.budget`).
"""

from __future__ import annotations

from dataclasses import dataclass

from fasnas.errors import ConfigError


@dataclass(frozen=True)
class ReportSettings:
    """What ``fasnas report`` adds to the study's own figures."""

    budget_gmacs: float | None = None  # a GMACs budget: drawn, best front point under it marked

    def check(self, where: str) -> None:
        if self.budget_gmacs is not None and not self.budget_gmacs > 0:
            raise ConfigError(
                f"{where}.budget_gmacs: expected a number of GMACs > 0, got {self.budget_gmacs}"
            )
