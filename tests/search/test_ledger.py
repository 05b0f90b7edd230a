"""Tests of fasnas.search.ledger: join indices and claims in the companion study."""

from __future__ import annotations

import optuna
from optuna.storages.journal import JournalFileBackend

from fasnas import record
from fasnas.search import ledger


def _storage(path):
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def test_joins_are_numbered_and_claims_won_once(tmp_path) -> None:
    first, second = _storage(tmp_path / "s.journal"), _storage(tmp_path / "s.journal")
    me = {"host": "h", "pid": 1}
    assert [ledger.join(s, "demo", me) for s in (first, second, first)] == [0, 1, 2]
    assert ledger.claim(second, "demo", "retry.4", me) is True
    assert ledger.claim(first, "demo", "retry.4", me) is False  # a later claimant stands down
    assert ledger.claim(first, "demo", "retry.5", me) is True
    names = [s.study_name for s in first.get_all_studies()]
    assert names == [record.ledger_study_name("demo")]  # the study itself is untouched
    claims = [record.TrialRecord.of(e).claim for e in ledger.entries(first, "demo")]
    assert claims == [None, None, None, "retry.4", "retry.4", "retry.5"]
