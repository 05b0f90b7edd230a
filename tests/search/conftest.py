"""Shared fixtures of the fasnas.search tests."""

from __future__ import annotations

from pathlib import Path

import pg  # tests/pg.py (tests/ is on pytest's pythonpath)
import pytest


@pytest.fixture
def quick(tmp_path, make_layout) -> Path:
    """A study config with a real tiny layout and placeholder teacher files."""
    make_layout(tmp_path / "data", videos_per_class=2, size=32)
    (tmp_path / "teachers").mkdir()
    (tmp_path / "teachers" / "M.pt").write_bytes(b"teacher M")
    return pg.write_config(tmp_path / "run", "tiny", ("M",), tmp_path)
