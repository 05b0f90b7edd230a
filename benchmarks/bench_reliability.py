"""Reliability under concurrency (issue 16): crashes, distinct explorers and retries.

For each storage (journal file, SQLite, PostgreSQL on a private server), and for each of
``--rounds`` rounds on a new study:

- **Explorers.** 8 ``fasnas study start`` and 8 ``fasnas study worker`` processes are launched
  at the same moment on a new study (the tiny study of ``tests/pg.py``: one ViT, ``lr``
  searched, a few training steps, budget 8 trials). Counted: processes run, non-zero exits
  (crashes), studies made, and distinct parameter sets among the first 8 trials.
- **Retries.** A study holds 3 lost trials (one interrupted, one RUNNING whose worker is gone,
  one RUNNING with no worker record); 8 processes call ``recover()`` at the same instant.
  Counted: retries enqueued per lost trial (1 is right).

Prints one markdown table row per storage and round. Run it (about 3 minutes per round on 2
cores)::

    .venv/bin/python benchmarks/bench_reliability.py --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import optuna  # noqa: E402
import pg  # noqa: E402  (tests/pg.py: the tiny study and a private PostgreSQL)
from optuna.trial import TrialState  # noqa: E402

from fasnas import record  # noqa: E402
from fasnas.search.recovery import this_host  # noqa: E402
from fasnas.storage import open_storage  # noqa: E402

N = 8
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


def url_of(kind: str, folder: Path, server, database: str) -> str:
    if kind == "journal":
        return f"journal:{folder / 'tiny.journal'}"
    if kind == "sqlite":
        return f"sqlite:///{folder / 'tiny.db'}"
    return server.create_database(database)


def explorers(kind: str, folder: Path, server, database: str) -> dict:
    """8 starts + 8 workers at once on a new study."""
    url = url_of(kind, folder, server, database)
    path = pg.tiny_study(folder, iterations=2, n_trials=N, extra=f"storage: {url}\n")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    start = time.perf_counter()
    commands = [("start", str(path))] * N + [("worker", str(path))] * N
    processes = [pg.fasnas_process("study", *c, env=env) for c in commands]
    for process in processes:
        process.communicate(timeout=900)
    seconds = time.perf_counter() - start
    storage = open_storage(url, must_exist=True, writable=False)
    studies = [s.study_name for s in storage.get_all_studies()]
    trials = optuna.load_study(study_name="tiny", storage=storage).trials[:N]
    return {
        "runs": len(processes),
        "crashes": sum(p.returncode != 0 for p in processes),
        "studies": len([s for s in studies if not s.endswith(record.LEDGER_SUFFIX)]),
        "distinct": len({tuple(sorted(t.params.items())) for t in trials}),
        "seconds": seconds,
    }


def retries(kind: str, folder: Path, server, database: str) -> dict:
    """8 concurrent recoveries of 3 lost trials: retries per lost trial."""
    url = url_of(kind, folder / "rec", server, database)
    (folder / "rec").mkdir(exist_ok=True)
    study = optuna.create_study(
        study_name="rec", storage=open_storage(url), directions=["minimize"] * 2
    )
    interrupted = study.ask()
    interrupted.suggest_float("x", 0.0, 1.0)
    interrupted.set_user_attr("fail_reason", "interrupted")
    study.tell(interrupted, state=TrialState.FAIL)
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = study.ask()
    dead.suggest_float("x", 0.0, 1.0)
    dead.set_user_attr("worker", {"host": this_host(), "pid": gone.pid})
    study.ask().suggest_float("x", 0.0, 1.0)
    at = time.time() + 10
    processes = [
        subprocess.Popen([sys.executable, "-c", RECOVER, url, str(at)], stdout=subprocess.PIPE)
        for _ in range(N)
    ]
    done = [json.loads(p.communicate(timeout=300)[0]) for p in processes]
    per_trial = Counter(original for report in done for original, _ in report)
    return {"retries": [per_trial.get(n, 0) for n in range(3)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--storages", nargs="+", default=["journal", "sqlite", "postgresql"])
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print("| storage | round | runs | crashes | studies | distinct sets (first 8) | "
          "retries per lost trial (3 lost, 8 recoverers) | seconds |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    with pg.postgres_server() as server:
        for kind in args.storages:
            for round_ in range(args.rounds):
                with tempfile.TemporaryDirectory(prefix="fasnas-bench-rel-") as tmp:
                    name = f"r{round_}"
                    found = explorers(kind, Path(tmp), server, name)
                    found |= retries(kind, Path(tmp), server, name + "rec")
                print(
                    f"| {kind} | {round_ + 1} | {found['runs']} | {found['crashes']} | "
                    f"{found['studies']} | {found['distinct']} | {found['retries']} | "
                    f"{found['seconds']:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
