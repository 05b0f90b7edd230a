"""Test helper: a private Redis server (Debian's ``redis-server``; ``.ci/run`` installs it).

Not a conftest: ``tests/`` is on pytest's ``pythonpath``, so test files ``import redis_server``::

    with redis_server.redis_server() as server:
        url = server.url(db=3)

The server listens on 127.0.0.1 on a free port, keeps nothing on disk (no RDB snapshot, no AOF)
and is shut down and its folder removed on exit.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pg  # free_port


@dataclass
class RedisServer:
    """A running private server."""

    port: int
    process: subprocess.Popen

    def url(self, db: int = 0) -> str:
        """A ``redis://`` URL of database ``db`` (0..15)."""
        return f"redis://127.0.0.1:{self.port}/{db}"


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """A started :class:`RedisServer`, stopped and removed on exit.

    Raises:
        RuntimeError: ``redis-server`` is not installed, or did not answer within 10 s.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    folder = Path(tempfile.mkdtemp(prefix="fasnas-redis-"))
    port = pg.free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(folder)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RedisServer(port, process)
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"redis-server on port {port} did not start") from None
                time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
