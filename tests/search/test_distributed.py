"""Kill-and-resume with real processes, on a real PostgreSQL server and on a journal file.

Two ``fasnas study worker`` processes share a study of four trials, each trial training two
protocols (M then C). Once a trial has finished M and is training C, its worker is killed with
SIGKILL. The other worker finishes the budget; ``fasnas study resume`` then recovers the lost
trial (on PostgreSQL Optuna's heartbeat may already have failed and re-enqueued it) and runs
the retry, which reuses the killed trial's protocol M from its artifacts and trains only C.
The study must end with every trial finished exactly once: no RUNNING or WAITING trial, one
COMPLETE trial per fresh trial, no two COMPLETE trials with the same parameters.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import optuna
import pg  # tests/pg.py (tests/ is on pytest's pythonpath)
import pytest
from optuna.trial import TrialState

from fasnas.cli import main
from fasnas.config import load_config
from fasnas.search.artifacts import AtomicFileSystemArtifactStore, read_result
from fasnas.search.recovery import retry_links
from fasnas.search.session import open_session, set_budget
from fasnas.status import study_status

HERE = Path(__file__).parent
N_TRIALS = 4
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres():
    with pg.postgres_server() as server:
        yield server


def _in_second_protocol(study):
    """A RUNNING trial that finished protocol M (its artifacts are saved) and trains C."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if "artifact.M" in trial.user_attrs and "worker" in trial.user_attrs:
            return trial
    return None


def kill_and_resume(path: Path) -> None:
    session = open_session(load_config(path), create=True)
    set_budget(session, None, None)
    study = session.study
    workers = [pg.fasnas_process("study", "worker", str(path), "--index", str(i)) for i in (0, 1)]
    try:
        victim = pg.wait_for(lambda: _in_second_protocol(study), 240, what="a trial in C")
        victim_pid = victim.user_attrs["worker"]["pid"]
        os.kill(victim_pid, signal.SIGKILL)
        killed = next(w for w in workers if w.pid == victim_pid)
        survivor = next(w for w in workers if w.pid != victim_pid)
        assert killed.wait(timeout=30) == -signal.SIGKILL
        out, _ = survivor.communicate(timeout=300)
        assert survivor.returncode == 0, out
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()

    assert main(["study", "resume", str(path)]) == 0

    trials = optuna.load_study(study_name="tiny", storage=study._storage).trials
    states = [t.state for t in trials]
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    links = retry_links(study, trials)
    fresh = [t for t in trials if "retry_of" not in t.user_attrs]
    fresh = [t for t in fresh if not t.user_attrs.get("fail_reason", "").startswith("budget")]
    assert len(fresh) == N_TRIALS
    for trial in fresh:  # every chain of retries ends in exactly one COMPLETE trial
        chain = [trial]
        while chain[-1].number in links:
            chain.append(trials[links[chain[-1].number]])
        assert [t.state for t in chain] == [TrialState.FAIL] * (len(chain) - 1) + [
            TrialState.COMPLETE
        ]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == N_TRIALS
    assert len({tuple(sorted(t.params.items())) for t in complete}) == N_TRIALS

    lost = trials[victim.number]
    assert lost.state == TrialState.FAIL
    retry = trials[links[victim.number]]
    assert retry.state == TrialState.COMPLETE and retry.user_attrs["retry_of"] == victim.number
    assert retry.params == lost.params
    assert retry.user_attrs["seed"] == lost.user_attrs["seed"]
    # the retry skipped M, which the killed trial had finished, and trained C itself
    assert retry.user_attrs["reused_from.M"] == victim.number
    assert "reused_from.C" not in retry.user_attrs
    store = AtomicFileSystemArtifactStore(path.parent / "tiny-artifacts")
    saved = read_result(store, lost.user_attrs["artifact.M"]["result"])["result"]
    assert retry.user_attrs["metrics.M"] == saved
    assert "artifact.C" in retry.user_attrs and "artifact.C" not in lost.user_attrs

    text = study_status(load_config(path))
    assert f"trials: {N_TRIALS} of {N_TRIALS} fresh trials used | {N_TRIALS} complete" in text
    assert f"#{victim.number} -> #{retry.number}" in text and "running: none" in text


def test_kill_and_resume_on_postgresql(postgres, tmp_path) -> None:
    url = postgres.create_database("killtest")
    path = pg.tiny_study(
        tmp_path,
        protocols=("M", "C"),
        iterations=20,
        n_trials=N_TRIALS,
        grace=10,
        extra=f"storage: {url}\n",
    )
    kill_and_resume(path)


def test_kill_and_resume_on_a_journal_file(tmp_path) -> None:
    path = pg.tiny_study(tmp_path, protocols=("M", "C"), iterations=20, n_trials=N_TRIALS)
    kill_and_resume(path)
    assert (tmp_path / "tiny.journal").is_file()
