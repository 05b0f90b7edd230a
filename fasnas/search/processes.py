"""Local worker processes: start N, forward signals to them, and wait.

Owns the processes of ``fasnas study start --workers N``, ``study resume`` and ``bench
--workers N`` and ``study confirm --workers N``: each is ``python -m fasnas study worker CONFIG
--index i [--bench | --confirm]``.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from fasnas.config import StudyConfig
from fasnas.search.worker import EXIT_INTERRUPTED, InterruptGuard


def worker_command(
    config: StudyConfig, index: int, storage: str | None, *, role_flag: str | None = None
) -> list[str]:
    """The command line of local worker ``index`` (``python -m fasnas study worker ...``);
    ``role_flag`` (``--bench``, ``--confirm``) joins a companion study."""
    command = [sys.executable, "-m", "fasnas", "study", "worker", str(config.path)]
    command += ["--index", str(index)] + ([role_flag] if role_flag else [])
    return command + (["--storage", storage] if storage else [])


def spawn_workers(
    config: StudyConfig,
    count: int,
    *,
    storage: str | None = None,
    role_flag: str | None = None,
    echo: Callable[[str], Any] = print,
) -> int:
    """Run ``count`` local study workers (indices 0..count-1) and wait for them
    (:func:`run_processes`)."""
    commands = [worker_command(config, i, storage, role_flag=role_flag) for i in range(count)]
    return run_processes(commands, echo=echo)


def run_processes(commands: Sequence[list[str]], *, echo: Callable[[str], Any] = print) -> int:
    """Run local worker processes, one per command line, and wait for them.

    SIGINT and SIGTERM sent to this process are forwarded to the workers, which stop cleanly.

    Returns:
        0 when every worker finished normally, 130 when one was interrupted, else the largest
        exit code (a worker prints its own one-line error).
    """
    processes = [subprocess.Popen(command) for command in commands]
    echo(f"started {len(processes)} workers: pids {[p.pid for p in processes]}")

    def forward(signum: int, frame: Any) -> None:
        for process in processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in InterruptGuard.SIGNALS:
            previous[signum] = signal.signal(signum, forward)
    try:
        codes = [process.wait() for process in processes]
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if any(code == EXIT_INTERRUPTED or code < 0 for code in codes):
        return EXIT_INTERRUPTED
    return max(codes)
