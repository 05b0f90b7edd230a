"""Reliability under concurrency (issue 16), with real processes and real storages.

- Distinct explorers: 8 ``fasnas study start`` and 8 ``fasnas study worker`` processes launched
  at once on a new study all exit 0, make one study, and the first 8 trials hold 8 distinct
  parameter sets, on a journal file, SQLite and PostgreSQL.
- Exactly one retry: 8 processes recovering the same lost trials at the same instant enqueue
  one retry per lost trial, on the three storages.
- No orphans: ``kill -9`` of ``study start`` ends its workers; the parent named the worker that
  was killed before it; ``study resume`` then recovers both lost trials.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pg  # tests/pg.py (tests/ is on pytest's pythonpath)
import pytest
from optuna.trial import TrialState

from fasnas import record
from fasnas.cli import main
from fasnas.search import ledger
from fasnas.search.recovery import this_host
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


RECOVER = """
import json, sys, time
import optuna
from fasnas.search.recovery import recover
from fasnas.storage import open_storage
url, at = sys.argv[1], float(sys.argv[2])
study = optuna.load_study(study_name="rec", storage=open_storage(url, must_exist=True))
while time.time() < at:
    time.sleep(0.001)
report = recover(study, grace_period=30, max_retries=3, unrecorded_after=0.0)
print(json.dumps(report.retried))
"""


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _lost_trials(study) -> None:
    """Trial 0 interrupted (FAIL), 1 RUNNING with a dead worker, 2 RUNNING with no record."""
    interrupted = study.ask()
    interrupted.suggest_float("x", 0.0, 1.0)
    interrupted.set_user_attr("fail_reason", "interrupted")
    study.tell(interrupted, state=TrialState.FAIL)
    dead = study.ask()
    dead.suggest_float("x", 0.0, 1.0)
    dead.set_user_attr("worker", {"host": this_host(), "pid": _dead_pid()})
    study.ask().suggest_float("x", 0.0, 1.0)


@pytest.mark.parametrize("kind", STORAGES)
def test_eight_concurrent_recoveries_retry_each_lost_trial_once(kind, request, tmp_path) -> None:
    url = _url(kind, tmp_path, _storage_kind(request, kind), "recoveries")
    storage = open_storage(url)
    study = optuna.create_study(study_name="rec", storage=storage, directions=["minimize"] * 2)
    _lost_trials(study)
    at = time.time() + 10  # every process has imported and opened the study by then
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RECOVER, url, str(at)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(N)
    ]
    reports = [json.loads(p.communicate(timeout=120)[0]) for p in processes]
    assert [p.returncode for p in processes] == [0] * N
    retried = sorted(original for report in reports for original, _ in report)
    assert retried == [0, 1, 2]
    trials = optuna.load_study(study_name="rec", storage=storage).trials
    retries = [t for t in trials if record.TrialRecord.of(t).is_retry]
    assert sorted(record.TrialRecord.of(t).retry_of for t in retries) == [0, 1, 2]
    assert all(t.state == TrialState.WAITING for t in retries)
    assert [t.state for t in trials[:3]] == [TrialState.FAIL] * 3


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper does not)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def _running_workers(study, count: int, pid: int | None = None) -> dict[int, int] | None:
    """``{pid: trial number}`` once ``count`` trials run with a worker record (of ``pid``)."""
    running = {
        t.user_attrs["worker"]["pid"]: t.number
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if "worker" in t.user_attrs and pid in (None, t.user_attrs["worker"]["pid"])
    }
    return running if len(running) >= count else None


def test_killing_the_start_parent_leaves_no_worker_and_resume_recovers(tmp_path) -> None:
    path = pg.tiny_study(tmp_path, iterations=60, n_trials=3)
    parent = pg.fasnas_process("study", "start", str(path), "--workers", "2")
    lines: list[str] = []  # the parent's (and its workers') output, read as it comes
    reader = threading.Thread(target=lambda: lines.extend(parent.stdout), daemon=True)
    reader.start()
    try:
        study = pg.wait_for(lambda: _study_of(path), 120, what="the study")
        running = pg.wait_for(lambda: _running_workers(study, 2), 240, what="2 running trials")
        victim, other = sorted(running)
        os.kill(victim, signal.SIGKILL)  # one worker dies: the parent names it
        said = f"(pid {victim}) was killed by SIGKILL during trial {running[victim]}"
        pg.wait_for(lambda: any(said in line for line in lines), 60, what=said)
        current = pg.wait_for(lambda: _running_workers(study, 1, other), 60, what="its trial")
        os.kill(parent.pid, signal.SIGKILL)  # then the parent: its other worker follows it
        pg.wait_for(lambda: not _alive(other), 60, what="the orphan to end")
        parent.wait(timeout=60)
        reader.join(timeout=60)
    finally:
        if parent.poll() is None:
            parent.kill()
    assert main(["study", "resume", str(path)]) == 0
    trials = _study_of(path).trials
    assert TrialState.RUNNING not in [t.state for t in trials]
    assert TrialState.WAITING not in [t.state for t in trials]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 3
    # the orphan got SIGTERM from the kernel: its trial was failed as interrupted, not finished
    assert trials[current[other]].user_attrs["fail_reason"] == "interrupted"
    for number in (running[victim], current[other]):  # both lost trials came back as retries
        assert trials[number].state == TrialState.FAIL
        assert any(record.TrialRecord.of(t).retry_of == number for t in complete)


def _study_of(path: Path):
    url = f"journal:{path.parent / 'tiny.journal'}"
    try:
        return optuna.load_study(study_name="tiny", storage=open_storage(url, must_exist=True))
    except Exception:  # noqa: BLE001 - not created yet
        return None
