"""Storage URLs: resolve a config's ``storage:`` value, describe it, and open it.

Owns the three calls every command makes on a storage URL, dispatched to the scheme registry
(:mod:`fasnas.storage.schemes`). The default storage is a journal file beside the config,
``<name>.journal``: Optuna's FAQ advises it for several processes on one node; SQLite
serialises writers and reports "database is locked" under load. PostgreSQL is the path to
distributed search: put the password in ``~/.pgpass`` or ``PGPASSWORD`` rather than in the URL
(libpq reads both), so it never shows in ``ps``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fasnas._io import strerror
from fasnas.errors import ConfigError, MissingStudyError, StorageError
from fasnas.storage.schemes import SCHEMES, OpenOptions, Scheme, safe_url

JOURNAL_PREFIX = "journal:"

__all__ = [
    "describe_url",
    "is_rdb",
    "open_storage",
    "resolve_url",
    "safe_url",
    "scheme_of",
    "storage_kind",
]


def _forms() -> str:
    return "journal:PATH, sqlite:///PATH, postgresql://..., mysql://... or redis://..."


def scheme_of(url: str) -> Scheme:
    """The registered scheme that owns ``url``.

    Raises:
        ConfigError: No scheme takes it.
    """
    for scheme in SCHEMES:
        if scheme.matches(url):
            return scheme
    raise ConfigError(f"storage: expected {_forms()}, got {url!r}")


def resolve_url(value: Any, base: Path, name: str, *, where: str = "storage") -> str:
    """The absolute storage URL of a config's ``storage:`` value (or ``--storage``).

    Args:
        value: The ``storage:`` value (None for the default journal file).
        base: The folder that holds the config (relative paths are relative to it).
        name: The study name (the default journal file is ``<name>.journal``).
        where: The key or option named in errors.

    Raises:
        ConfigError: When the value is not a string or not one of the registered URL forms.
    """
    if value is None:
        return f"{JOURNAL_PREFIX}{(base / f'{name}.journal').resolve()}"
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected a URL string, got {value!r}")
    url = value.strip()
    for scheme in SCHEMES:
        if scheme.matches(url):
            try:
                return scheme.resolve(url, base)
            except ValueError as error:
                raise ConfigError(f"{where}: expected {error}, got {url!r}") from None
    raise ConfigError(f"{where}: expected {_forms()}, got {url!r}")


def storage_kind(url: str) -> str:
    """``journal``, ``sqlite``, ``postgresql``, ``mysql`` or ``redis``."""
    return scheme_of(url).kind


def is_rdb(url: str) -> bool:
    """Whether the URL names an RDB storage (SQLite, PostgreSQL, MySQL): Optuna's heartbeat."""
    return scheme_of(url).rdb


def describe_url(url: str) -> str:
    """A short, password-free description: ``journal file /x/demo.journal``, ``postgresql ...``."""
    return scheme_of(url).describe(url)


def open_storage(
    url: str,
    *,
    must_exist: bool = False,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    stale_callback: Callable[[Any, Any], None] | None = None,
    writable: bool = True,
) -> Any:
    """Open the Optuna storage named by ``url`` (from :func:`resolve_url`).

    Args:
        url: An absolute storage URL.
        must_exist: Refuse to create anything: a missing journal/SQLite file, or a database
            without Optuna's tables, is a :class:`StorageError` (for ``worker``, ``resume`` and
            ``status``, which must leave storages as they found them).
        heartbeat_interval: Seconds between heartbeats of running trials (RDB storages only).
        grace_period: Seconds after which an RDB trial without heartbeat is stale.
        stale_callback: Optuna's ``heartbeat_stale_trial_callback`` (RDB storages only).
        writable: The caller will write (``start``, ``worker``, ``resume``, ``bench``): a local
            storage file that cannot be written is refused now, not at the first write.
            Readers (``status``, ``report``, ``export``) pass False.

    Raises:
        StorageError: The server is unreachable, refused the credentials, the file's folder does
            not exist or cannot be written, or (``must_exist``) there is nothing to attach to.
    """
    scheme = scheme_of(url)
    where = f"storage {scheme.describe(url)}"
    path = scheme.local_file(url)
    if path is not None:
        if must_exist and not path.is_file():
            raise MissingStudyError(f"{where}: no such file; create it with `fasnas study start`")
        if not path.parent.is_dir():
            raise StorageError(f"{where}: folder {path.parent} does not exist")
        if writable and path.exists():
            try:
                with open(path, "ab"):  # opening to append writes nothing
                    pass
            except OSError as error:
                raise StorageError(f"{where}: cannot write it ({strerror(error)})") from None
    options = OpenOptions(must_exist, heartbeat_interval, grace_period, stale_callback)
    return scheme.open(url, where, options)
