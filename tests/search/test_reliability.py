"""Reliability under concurrency (issue 16), with real processes and real storages.

- Distinct explorers: 8 ``fasnas study start`` and 8 ``fasnas study worker`` processes launched
  at once on a new study all exit 0, make one study, and the first 8 trials hold 8 distinct
  parameter sets, on a journal file, SQLite and PostgreSQL.
- Exactly one retry: 8 processes recovering the same lost trials at the same instant enqueue
  one retry per lost trial, on the three storages.
"""

from __future__ import annotations

import os
from pathlib import Path

import optuna
import pg  # tests/pg.py (tests/ is on pytest's pythonpath)
import pytest
from optuna.trial import TrialState

from fasnas import record
from fasnas.search import ledger
from fasnas.storage import open_storage

pytestmark = pytest.mark.slow
N = 8
STORAGES = ("journal", "sqlite", "postgresql")


@pytest.fixture(scope="module")
def postgres():
    with pg.postgres_server() as server:
        yield server


def _url(kind: str, folder: Path, postgres, database: str) -> str:
    if kind == "journal":
        return f"journal:{folder / 'tiny.journal'}"
    if kind == "sqlite":
        return f"sqlite:///{folder / 'tiny.db'}"
    return postgres.create_database(database)


def _storage_kind(request, kind: str):
    return request.getfixturevalue("postgres") if kind == "postgresql" else None


@pytest.mark.parametrize("kind", STORAGES)
def test_eight_starts_and_eight_workers_explore_eight_points(kind, request, tmp_path) -> None:
    server = _storage_kind(request, kind)
    url = _url(kind, tmp_path, server, "explorers")
    path = pg.tiny_study(tmp_path, iterations=2, n_trials=N, extra=f"storage: {url}\n")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    commands = [("start", str(path))] * N + [("worker", str(path))] * N
    processes = [pg.fasnas_process("study", *command, env=env) for command in commands]
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    codes = [p.returncode for p in processes]
    assert codes == [0] * (2 * N), "\n".join(o for o, c in zip(outputs, codes, strict=True) if c)

    storage = open_storage(url, must_exist=True, writable=False)
    names = sorted(s.study_name for s in storage.get_all_studies())
    assert names == ["tiny", record.ledger_study_name("tiny")]
    trials = optuna.load_study(study_name="tiny", storage=storage).trials
    first = trials[:N]
    assert all(t.state == TrialState.COMPLETE for t in first)
    assert len({tuple(sorted(t.params.items())) for t in first}) == N
    joins = {record.TrialRecord.of(t).join_index for t in first}
    seeds = {record.TrialRecord.of(t).sampler_seed for t in first}
    assert len(joins) == N and len(seeds) == N
    # every process joined once: 16 join entries numbered 0..15
    entries = ledger.entries(storage, "tiny")
    assert sorted(e.number for e in entries if record.TrialRecord.of(e).claim is None) == list(
        range(2 * N)
    )
