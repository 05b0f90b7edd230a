"""The result of ``fasnas data check``: :class:`CheckReport` and how its lines quote examples.

Owns :class:`CheckReport` (the counts table, absent datasets, frame size, problems and warnings,
and their text rendering) and :func:`example_list`, the rule every problem line follows when it
quotes offending paths (at most :data:`MAX_EXAMPLES`, the rest as a count).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fasnas.data.layout import BENCHMARK_DOMAINS, SPLITS

MAX_EXAMPLES = 3
"""Example paths quoted per problem line; the rest is summarised as a count."""


@dataclass
class CheckReport:
    """What :func:`~fasnas.data.check.check_layout` found.

    Attributes:
        root: The checked root.
        benchmark: ``MCIO`` or ``WCS``.
        counts: Tidy table, one row per list: dataset, split, class, videos, frames.
        absent: Datasets of the benchmark without any list file.
        frame_size: The expected frame side in px (given, or the most common one found).
        images_checked: Distinct image files looked at.
        problems: One line per problem; any problem makes ``fasnas data check`` exit 2.
        warnings: One line per oddity that does not make the layout unusable.
    """

    root: Path
    benchmark: str
    counts: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            columns=["dataset", "split", "class", "videos", "frames"]
        )
    )
    absent: list[str] = field(default_factory=list)
    frame_size: int | None = None
    images_checked: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def pivot(self) -> pd.DataFrame:
        """Rows (dataset, split); columns real/fake videos and frames; absent datasets last."""
        columns = ["real videos", "real frames", "fake videos", "fake frames"]
        index = pd.MultiIndex.from_tuples([], names=["dataset", "split"])
        table = pd.DataFrame(index=index, columns=columns)
        if not self.counts.empty:
            table = self.counts.pivot_table(
                index=["dataset", "split"],
                columns="class",
                values=["videos", "frames"],
                aggfunc="sum",
            )
            table.columns = [f"{list_class} {what}" for what, list_class in table.columns]
            table = table.reindex(columns=columns)
        keys = [
            (dataset, split)
            for dataset in BENCHMARK_DOMAINS[self.benchmark]
            for split in SPLITS
            if (dataset, split) in table.index
        ]
        keys += [(dataset, "absent") for dataset in self.absent]
        table = table.reindex(pd.MultiIndex.from_tuples(keys, names=["dataset", "split"]))
        return table.astype("Int64")

    def table(self) -> str:
        """The counts as readable text, with a header naming the root and frame size."""
        size = f"{self.frame_size}x{self.frame_size}" if self.frame_size else "unknown"
        header = (
            f"{self.benchmark} layout at {self.root}: {self.images_checked} image(s) checked, "
            f"frame size {size}"
        )
        pivot = self.pivot()
        if pivot.empty:
            return f"{header}\n(no list files found)"
        shown = pivot.astype(object).where(pivot.notna(), "-")
        return f"{header}\n{shown.to_string()}"


def example_list(items: Iterable[str], limit: int = MAX_EXAMPLES) -> str:
    """``a, b, c`` or ``a, b, c and 12 more``."""
    items = list(items)
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown
