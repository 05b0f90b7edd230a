"""Shared fixtures of the fasnas.students tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread) -> None:
    """Every test here runs torch on one thread (tests/conftest.py)."""
