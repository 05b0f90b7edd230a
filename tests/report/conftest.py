"""Fixtures of tests/report; ``hand_study.py`` (the hand-built study) is importable by name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hand_study import TEACHER, bench_trials, confirm_trials, make_study  # noqa: E402


@pytest.fixture(scope="session")
def hand_url(tmp_path_factory) -> str:
    """The hand study, its bench study ``hand-bench`` (see bench_trials) and its confirm study
    ``hand-confirm`` (see confirm_trials); read-only."""
    url = f"sqlite:///{tmp_path_factory.mktemp('hand') / 'hand.db'}"
    make_study(
        url,
        attrs={
            "teacher": TEACHER,
            "config_hash": "abc123",
            "config": {"protocols": ["M", "C", "I", "O"], "data_hashes": {"MCIO": "d00d"}},
        },
    )
    make_study(url, "hand-bench", trials=bench_trials())
    make_study(url, "hand-confirm", trials=confirm_trials())
    return url
