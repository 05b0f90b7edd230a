"""Test helpers for the study-lifecycle tests: a private PostgreSQL server and a tiny study.

Not a conftest: ``tests/`` is on pytest's ``pythonpath``, so test files ``import pg`` and the
module (with its tiny-study template, built once per session) is shared::

    import pg
    with pg.postgres_server() as server: ...
    config = pg.tiny_study(tmp_path, protocols=("M",))

**PostgreSQL.** :class:`PostgresServer` runs Debian's PostgreSQL 15 binaries
(``/usr/lib/postgresql/*/bin``; ``.ci/run`` installs the ``postgresql`` package): ``initdb`` with
password authentication on TCP (scram-sha-256, user ``postgres``, password
:data:`PASSWORD`) and ``pg_ctl start`` on 127.0.0.1 with a free port and the socket in the data
folder. Running as root (CI), the cluster is made and run as the ``postgres`` user through
``runuser``, in a folder that user owns. Each server is private to the test that starts it and
is stopped (``pg_ctl stop -m immediate``) and removed afterwards.

**Tiny study.** :func:`tiny_study` writes a study config whose teachers, layout and caches are
built once per test session (:func:`tiny_template`: ``make_layout``'s tiny MCIO layout,
randomly initialised tiny FLIP-IT teachers, their teacher caches) and shared
read-only; the storage and artifacts live next to each test's config. The search space is a
single ViT (depth 1, width 32, 32 px) whose only searched parameter is ``lr``; a trial trains
``iterations`` steps per protocol, a few seconds on this machine.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

PASSWORD = "fasnas-secret"


# ---------------------------------------------------------------------------- PostgreSQL


def pg_bin() -> Path | None:
    """The folder of Debian's PostgreSQL binaries (the newest version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """A throw-away PostgreSQL cluster on 127.0.0.1 (see the module docstring)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.data = base / "data"
        self.port = free_port()
        self.bin = pg_bin()
        self._as_postgres = os.geteuid() == 0
        if self.bin is None:
            raise RuntimeError("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin")

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)

    def start(self) -> PostgresServer:
        self.base.mkdir(parents=True, exist_ok=True)
        pwfile = self.base / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            for path in (self.base, pwfile):
                os.chown(path, user.pw_uid, user.pw_gid)
        result = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
        )
        if result.returncode:
            raise RuntimeError(f"initdb failed: {result.stderr.strip()}")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data} -c fsync=off"
        result = self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.data / "log"), "-w",
            "start",
        )  # fmt: skip
        if result.returncode:
            log = (self.data / "log").read_text() if (self.data / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {result.stderr.strip()} {log[-500:]}")
        return self

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        """A psycopg 3 URL for ``database`` as user ``postgres``."""
        return f"postgresql+psycopg://postgres:{password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database ``name``; returns its URL."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", password=PASSWORD, autocommit=True
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A started :class:`PostgresServer` in a fresh folder, stopped and removed on exit."""
    base = Path(tempfile.mkdtemp(prefix="fasnas-pg-"))
    server = PostgresServer(base)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------------------- tiny study

SPACE = """\
version: 1
name: tiny
params:
  family: {{type: categorical, choices: [vit]}}
  lr: {{type: float, low: 1.0e-4, high: 1.0e-2, log: true}}
fixed:
  img_size: 32
  vit.depth: 1
  vit.embed_dim: 32
  vit.num_heads: 2
  vit.patch_size: 8
  iterations: {iterations}
  batch_per_group: 2
"""

CONFIG = """\
name: {name}
seed: 0
device: cpu
data:
  root: {root}
  size: 32
  val_fraction: 0.5
  cache_dir: {cache}
protocols: [{protocols}]
teacher:
  model: tiny
  init: random
  dir: {teachers}
  train:
    iterations: 4
    lr: 1.0e-3
    batch_per_group: 2
space: space.yaml
search:
  sampler: random
  n_trials: {n_trials}
  heartbeat_interval: 1
  grace_period: {grace}
{extra}"""

_TEMPLATES: dict[tuple[str, ...], Path] = {}


def tiny_template(protocols: Sequence[str] = ("M",)) -> Path:
    """A folder with ``data/``, ``teachers/`` and ``cache/`` for ``protocols`` (built once)."""
    key = tuple(protocols)
    if key in _TEMPLATES:
        return _TEMPLATES[key]
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from conftest import write_layout
    finally:
        sys.path.pop(0)
    import torch

    from fasnas.cli import main
    from fasnas.data.protocols import get_protocol
    from fasnas.teacher.configs import TINY_CONFIG
    from fasnas.teacher.file import save_teacher
    from fasnas.teacher.flip import build_teacher

    root = Path(tempfile.mkdtemp(prefix="fasnas-tiny-study-"))
    atexit.register(shutil.rmtree, root, True)
    write_layout(root / "data", videos_per_class=2, size=32)
    config = write_config(root, "template", protocols, root)
    for protocol in protocols:  # random tiny teachers: the lifecycle does not need good ones
        torch.manual_seed(0)
        save_teacher(
            build_teacher("flip-it", "tiny", TINY_CONFIG),
            root / "teachers" / f"{protocol}.pt",
            protocol=protocol,
            sources=get_protocol(protocol).sources,
            source_sha256="random",
        )
    code = main(["teacher", "cache", "--config", str(config), "--quiet"])
    if code != 0:
        raise RuntimeError(f"fasnas teacher cache failed with exit code {code}")
    _TEMPLATES[key] = root
    return root


def write_config(
    folder: Path,
    name: str,
    protocols: Sequence[str],
    template: Path,
    *,
    iterations: int = 10,
    n_trials: int = 3,
    grace: int = 30,
    extra: str = "",
) -> Path:
    """Write ``folder/study.yaml`` and ``folder/space.yaml`` on a template's files."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "space.yaml").write_text(SPACE.format(iterations=iterations))
    path = folder / "study.yaml"
    path.write_text(
        CONFIG.format(
            name=name,
            root=template / "data",
            cache=template / "cache",
            teachers=template / "teachers",
            protocols=", ".join(protocols),
            n_trials=n_trials,
            grace=grace,
            extra=extra,
        )
    )
    return path


def tiny_study(
    folder: Path,
    *,
    name: str = "tiny",
    protocols: Sequence[str] = ("M",),
    iterations: int = 10,
    n_trials: int = 3,
    grace: int = 30,
    extra: str = "",
) -> Path:
    """A study config on the shared template; returns the config path."""
    template = tiny_template(protocols)
    return write_config(
        folder,
        name,
        protocols,
        template,
        iterations=iterations,
        n_trials=n_trials,
        grace=grace,
        extra=extra,
    )


def wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Poll ``predicate()`` until it is truthy (and return it); TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def fasnas_process(*args: str, **kwargs) -> subprocess.Popen:
    """``python -m fasnas ARGS`` as a child process (stdout and stderr to a pipe)."""
    return subprocess.Popen(
        [sys.executable, "-m", "fasnas", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )
