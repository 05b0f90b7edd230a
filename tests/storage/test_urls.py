"""Tests of fasnas.storage.urls: URL resolution, passwords, one-line errors on real servers.

What every storage kind must do alike is in ``test_conformance.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pg  # tests/pg.py (tests/ is on pytest's pythonpath)
import pytest

from fasnas.errors import ConfigError, StorageError
from fasnas.storage import (
    describe_url,
    is_rdb,
    open_storage,
    resolve_url,
    safe_url,
    storage_kind,
)

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def postgres():
    with pg.postgres_server() as server:
        yield server


def test_default_storage_is_a_journal_file_next_to_the_config(tmp_path) -> None:
    assert resolve_url(None, tmp_path, "demo") == f"journal:{tmp_path.resolve()}/demo.journal"
    assert storage_kind(resolve_url(None, tmp_path, "demo")) == "journal"


def test_relative_paths_are_relative_to_the_config_folder(tmp_path) -> None:
    assert resolve_url("journal:runs/x.journal", tmp_path, "demo") == (
        f"journal:{tmp_path.resolve()}/runs/x.journal"
    )
    assert (
        resolve_url("sqlite:///x.db", tmp_path, "demo") == f"sqlite:///{tmp_path.resolve()}/x.db"
    )
    assert resolve_url("sqlite:////abs/x.db", tmp_path, "demo") == "sqlite:////abs/x.db"
    url = "postgresql://u:p@db:5432/fasnas"
    assert resolve_url(url, tmp_path, "demo") == url
    assert is_rdb(url) and is_rdb("sqlite:///x.db") and not is_rdb("journal:/x")
    assert storage_kind("redis://localhost:6379/0") == "redis"


@pytest.mark.parametrize("value", ["ftp://host/x", 12, "", "journal:"])
def test_a_bad_storage_value_names_the_key(tmp_path, value) -> None:
    with pytest.raises(ConfigError, match=r"^storage: expected"):
        resolve_url(value, tmp_path, "demo")


def test_passwords_never_show() -> None:
    url = "postgresql+psycopg://fasnas:s3cret@db.example:5432/studies"
    assert safe_url(url) == "postgresql+psycopg://fasnas:***@db.example:5432/studies"
    assert "s3cret" not in describe_url(url)
    assert safe_url("postgresql://fasnas@db/x") == "postgresql://fasnas@db/x"


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_must_exist_creates_nothing(tmp_path, kind) -> None:
    path = tmp_path / f"missing.{kind}"
    url = f"journal:{path}" if kind == "journal" else f"sqlite:///{path}"
    with pytest.raises(StorageError, match="no such file") as info:
        open_storage(url, must_exist=True)
    assert len(str(info.value).splitlines()) == 1
    assert not path.exists()


def test_a_missing_folder_is_one_line(tmp_path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        open_storage(f"journal:{tmp_path}/nowhere/x.journal")


def test_unreachable_server_fails_fast_in_one_line() -> None:
    port = pg.free_port()
    start = time.monotonic()
    with pytest.raises(StorageError) as info:
        open_storage(f"postgresql://postgres:pw@127.0.0.1:{port}/x")
    message = str(info.value)
    assert time.monotonic() - start < 15
    assert len(message.splitlines()) == 1
    assert "cannot connect" in message and "Connection refused" in message
    assert "pw@" not in message


def test_wrong_password_and_missing_database(postgres) -> None:
    with pytest.raises(StorageError) as info:
        open_storage(postgres.url(password="wrong"))
    assert "password authentication failed" in str(info.value)
    assert "wrong" not in str(info.value) and len(str(info.value).splitlines()) == 1
    with pytest.raises(StorageError, match='database "nodb" does not exist'):
        open_storage(postgres.url(database="nodb"))
    empty = postgres.create_database("empty")
    with pytest.raises(StorageError, match="holds no Optuna study"):
        open_storage(empty, must_exist=True)
    # must_exist created no table: a second look still finds none
    with pytest.raises(StorageError, match="holds no Optuna study"):
        open_storage(empty, must_exist=True)
