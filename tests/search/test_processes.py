"""Tests of fasnas.search.processes: the line per abnormal exit, and dying with the parent."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from fasnas.search.processes import die_with_parent, exit_line


def test_one_line_per_abnormal_exit() -> None:
    assert exit_line(0, 11, 0, 3) is None
    assert exit_line(0, 11, 130, 3) is None  # interrupted cleanly: the worker said so itself
    assert exit_line(1, 22, -signal.SIGKILL, 5) == (
        "worker 1 (pid 22) was killed by SIGKILL during trial 5; "
        "`fasnas study resume` retries it if it was lost"
    )
    assert exit_line(2, 33, 2, None) == "worker 2 (pid 33) exited with code 2; it ran no trial"
    assert (
        exit_line(3, 44, 1, 7, running=False)
        == "worker 3 (pid 44) exited with code 1 after trial 7"
    )


PARENT = """
import subprocess, sys
from fasnas.search.processes import die_with_parent
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                         preexec_fn=die_with_parent())
print(child.pid, flush=True)
time_to_die = sys.stdin.readline()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_gets_sigterm_when_its_parent_is_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    child = int(parent.stdout.readline())
    parent.kill()  # SIGKILL: the parent cannot forward anything
    parent.wait()
    for _ in range(300):  # the kernel signals the child at once; allow a loaded machine
        try:
            with open(f"/proc/{child}/stat") as handle:
                if handle.read().rsplit(")", 1)[-1].split()[0] == "Z":
                    break
        except OSError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"child {child} outlived its parent")
    assert die_with_parent() is not None
