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
from fasnas.device import check_device
from fasnas.search.worker import EXIT_INTERRUPTED, InterruptGuard


def worker_command(
    config: StudyConfig,
    index: int,
    storage: str | None,
    *,
    role_flag: str | None = None,
    device: str | None = None,
    quiet: bool = False,
) -> list[str]:
    """The command line of local worker ``index`` (``python -m fasnas study worker ...``);
    ``role_flag`` (``--bench``, ``--confirm``) joins a companion study, ``device`` is its
    ``--device``, ``quiet`` adds ``--quiet``."""
    command = [sys.executable, "-m", "fasnas", "study", "worker", str(config.path)]
    command += ["--index", str(index)] + ([role_flag] if role_flag else [])
    command += ["--device", device] if device else []
    command += ["--quiet"] if quiet else []
    return command + (["--storage", storage] if storage else [])


def assign_devices(config: StudyConfig, count: int) -> list[str | None]:
    """The device of each of ``count`` local workers: ``search.devices`` round-robin
    (``cuda:<index>``), or None for all (the config's ``device``)."""
    devices = config.search.devices
    if not devices:
        return [None] * count
    return [f"cuda:{devices[i % len(devices)]}" for i in range(count)]


def check_devices(config: StudyConfig) -> None:
    """Refuse a ``search.devices`` GPU this machine lacks, before anything is written.

    Raises:
        ConfigError: One line naming the file, the key and the GPUs there are.
    """
    for position, index in enumerate(config.search.devices or ()):
        check_device(f"cuda:{index}", f"{config.path}: search.devices[{position}]")


def spawn_workers(
    config: StudyConfig,
    count: int,
    *,
    storage: str | None = None,
    role_flag: str | None = None,
    echo: Callable[[str], Any] = print,
    quiet: bool = False,
) -> int:
    """Run ``count`` local study workers (indices 0..count-1, devices round-robin over
    ``search.devices``) and wait for them (:func:`run_processes`)."""
    devices = assign_devices(config, count)
    if any(devices):
        echo("devices: " + ", ".join(f"worker {i} -> {d}" for i, d in enumerate(devices)))
    commands = [
        worker_command(config, i, storage, role_flag=role_flag, device=device, quiet=quiet)
        for i, device in enumerate(devices)
    ]
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
