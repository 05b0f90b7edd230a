"""Local worker processes: start N, forward signals to them, wait, and never leave orphans.

Owns the processes of ``fasnas study start --workers N``, ``study resume`` and ``bench
--workers N`` and ``study confirm --workers N``: each is ``python -m fasnas study worker CONFIG
--index i [--bench | --confirm]``.

No orphans: the workers stay in the parent's process group (a Ctrl-C in the terminal reaches
them all), and on Linux each asks the kernel for SIGTERM when its parent dies
(``prctl(PR_SET_PDEATHSIG)``, set between fork and exec; a parent already gone by then is caught
too). SIGTERM stops a worker cleanly: its trial is failed as ``interrupted`` and ``study
resume`` retries it. So ``kill -9`` of ``study start`` takes its workers with it. The parent
prints one line per worker that exits abnormally (killed by a signal, or an exit code other
than 0 and 130): its index, pid, signal or code, and the trial it ran.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from fasnas.config import StudyConfig
from fasnas.device import check_device
from fasnas.search.worker import EXIT_INTERRUPTED, InterruptGuard

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# pid -> (number of the last trial it ran, whether that trial was still running), or None
TrialOf = Callable[[int], "tuple[int, bool] | None"]


def _libc() -> Any:
    """The C library (for ``prctl``), or None where there is none to ask."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when this process dies (Linux)."""
    libc = _libc()
    if libc is None:
        return None
    parent = os.getpid()

    def arm() -> None:  # runs in the child, between fork and exec
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return arm


def exit_line(
    index: int, pid: int, code: int, trial: int | None, running: bool = True
) -> str | None:
    """The line saying how worker ``index`` exited, or None when it exited normally;
    ``trial`` is the last trial it ran, ``running`` whether it was still running then."""
    if code in (0, EXIT_INTERRUPTED):
        return None
    if code < 0:
        how = f"was killed by {signal.Signals(-code).name}"
    else:
        how = f"exited with code {code}"
    if trial is None:
        return f"worker {index} (pid {pid}) {how}; it ran no trial"
    if not running:
        return f"worker {index} (pid {pid}) {how} after trial {trial}"
    return (
        f"worker {index} (pid {pid}) {how} during trial {trial}; "
        "`fasnas study resume` retries it if it was lost"
    )


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
    trial_of: TrialOf | None = None,
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
    return run_processes(commands, echo=echo, trial_of=trial_of)


def run_processes(
    commands: Sequence[list[str]],
    *,
    echo: Callable[[str], Any] = print,
    trial_of: TrialOf | None = None,
) -> int:
    """Run local worker processes, one per command line, and wait for them.

    SIGINT and SIGTERM sent to this process are forwarded to the workers, which stop cleanly;
    the workers die with this process (see the module docstring).

    Args:
        commands: One command line per worker (worker ``i`` is ``commands[i]``).
        echo: Where the lines go.
        trial_of: The number of the trial a worker pid ran last (for the exit lines).

    Returns:
        0 when every worker finished normally, 130 when one was interrupted or killed by a
        signal, else the largest exit code (a worker prints its own one-line error).
    """
    arm = die_with_parent()
    processes = [subprocess.Popen(command, preexec_fn=arm) for command in commands]
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
        codes = _wait_all(processes, echo, trial_of)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if any(code == EXIT_INTERRUPTED or code < 0 for code in codes):
        return EXIT_INTERRUPTED
    return max(codes)


def _wait_all(processes: list[Any], echo: Callable[[str], Any], trial_of: TrialOf | None):
    """Wait for every process; one line per abnormal exit, as soon as it happens."""
    codes: list[int | None] = [None] * len(processes)
    while any(code is None for code in codes):
        for index, process in enumerate(processes):
            if codes[index] is not None or process.poll() is None:
                continue
            codes[index] = process.returncode
            last = None
            if trial_of is not None and process.returncode not in (0, EXIT_INTERRUPTED):
                with contextlib.suppress(Exception):
                    last = trial_of(process.pid)
            trial, running = last if last is not None else (None, True)
            line = exit_line(index, process.pid, process.returncode, trial, running)
            if line is not None:
                echo(line)
        time.sleep(0.2)
    return codes
