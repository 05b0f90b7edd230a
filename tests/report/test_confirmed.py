"""Tests of fasnas.report.confirmed: the confirmed front is computed on means over seeds.

Hand-made frames (three candidates of two architectures; numbers chosen so that means and
sample standard deviations are easy to compute by hand) stand for the search study's and the
confirm study's trials frames.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from fasnas.report.confirmed import (
    confirmation_lines,
    confirmed_frame,
    confirmed_front,
    confirmed_table,
    outcome_counts,
    unconfirmed_front,
)


def _search() -> pd.DataFrame:
    """A (1.0 GMACs, 0.10) front point, its dominated sibling B, a cheap front point C and an
    unconfirmed front point D."""
    rows = [  # number, family, gmacs, selection, pareto
        (0, "net", 1.0, 0.10, True),
        (1, "net", 1.0, 0.15, False),
        (2, "small", 0.5, 0.30, True),
        (3, "tiny", 0.1, 0.45, True),
    ]
    return pd.DataFrame(
        {
            "number": [r[0] for r in rows],
            "state": ["COMPLETE"] * 4,
            "family": [r[1] for r in rows],
            "img_size": [32] * 4,
            "gmacs": [r[2] for r in rows],
            "latency_ms": [math.nan] * 4,
            "selection": [r[3] for r in rows],
            "mean_hter_test_eer": [r[3] + 0.01 for r in rows],
            "mean_hter_source_threshold": [r[3] + 0.02 for r in rows],
            "pareto": [r[4] for r in rows],
        }
    )


def _confirm() -> pd.DataFrame:
    runs = [  # confirm_of, state, selection
        (0, "COMPLETE", 0.30),
        (0, "COMPLETE", 0.32),
        (1, "COMPLETE", 0.15),
        (1, "COMPLETE", 0.15),
        (2, "COMPLETE", 0.30),
        (2, "WAITING", math.nan),
        (2, "FAIL", math.nan),
    ]
    return pd.DataFrame(
        {
            "number": range(len(runs)),
            "state": [r[1] for r in runs],
            "confirm_of": [r[0] for r in runs],
            "selection": [r[2] for r in runs],
            "mean_hter_test_eer": [r[2] + 0.01 for r in runs],
            "mean_hter_source_threshold": [r[2] + 0.02 for r in runs],
        }
    )


def test_means_std_and_n_over_the_original_and_its_complete_confirmations():
    frame = confirmed_frame(_search(), _confirm()).set_index("number")
    a = frame.loc[0]
    # (0.10 + 0.30 + 0.32) / 3 = 0.24; deviations -0.14, 0.06, 0.08 -> var 0.0296 / 2.
    assert a["n"] == 3 and a["selection_mean"] == pytest.approx(0.24)
    assert a["selection_std"] == pytest.approx(math.sqrt(0.0148))
    assert a["selection_single"] == pytest.approx(0.10)
    assert a["mean_hter_source_threshold_mean"] == pytest.approx(0.26)
    c = frame.loc[2]  # the waiting and the failed run do not count
    assert (c["n"], c["pending"], c["failed"]) == (2, 1, 1)
    assert c["selection_mean"] == pytest.approx(0.30) and c["selection_std"] == pytest.approx(0)
    assert 3 not in frame.index  # never confirmed


def test_the_front_is_recomputed_on_the_means():
    frame = confirmed_frame(_search(), _confirm())
    # Means: A (1.0, 0.24), B (1.0, 0.15), C (0.5, 0.30): B dominates A.
    assert confirmed_front(frame)["number"].tolist() == [2, 1]  # cheapest first
    outcome = dict(zip(frame["number"], frame["outcome"], strict=True))
    assert outcome == {0: "drops", 1: "joins", 2: "survives"}
    assert outcome_counts(frame) == {"survives": 1, "drops": 1, "joins": 1, "behind": 0}
    assert unconfirmed_front(_search(), frame) == [3]


def test_a_candidate_without_a_complete_confirmation_is_not_on_the_confirmed_front():
    confirm = _confirm()
    confirm.loc[confirm["confirm_of"] == 1, "state"] = "RUNNING"
    frame = confirmed_frame(_search(), confirm).set_index("number")
    assert frame.loc[1, "n"] == 1 and frame.loc[1, "pending"] == 2
    assert not frame.loc[1, "confirmed_front"]
    assert frame.loc[0, "confirmed_front"]  # nothing confirmed beats it now


def test_the_table_and_lines_say_mean_plus_minus_std_and_the_threshold():
    frame = confirmed_frame(_search(), _confirm())
    header, rows = confirmed_table(frame, "source-threshold", "mean source-val EER")
    assert header[5] == "mean source-val EER (%) [selection]"
    assert header[6] == "target mean HTER (%, source threshold)"
    row = rows[[r[0] for r in rows].index("0")]
    assert row[4] == "3" and row[5] == "24.00 ± 12.17%" and row[-1] == "drops"
    assert rows[0][4] == "2 (+1 pending)"
    lines = confirmation_lines(frame, "source-threshold")
    assert "source-threshold threshold" in lines[0]
    assert any("trial    0" in line and "n=3" in line for line in lines)


def test_no_confirmation_gives_an_empty_frame():
    assert confirmed_frame(_search(), pd.DataFrame()).empty
    assert confirmation_lines(pd.DataFrame(), "test-eer") == [
        "confirmed front: no confirmation yet"
    ]
