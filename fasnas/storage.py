"""Optuna storages of a study: URLs, opening them with one-line errors, create/attach with retry.

Owns the ``storage:`` key of a study config and every call that opens an Optuna storage. The
storages are Optuna's own; fasnas adds URL resolution, clear errors and retries only.

URL forms::

    storage: null                          # default: journal:<name>.journal next to the config
    storage: journal:runs/demo.journal     # JournalStorage on a JournalFileBackend (one node)
    storage: sqlite:///demo.db             # RDBStorage on SQLite (one process at a time)
    storage: postgresql://user@db-host:5432/fasnas   # RDBStorage via psycopg 3 (many nodes)
    storage: redis://redis-host:6379/0     # JournalStorage on JournalRedisBackend (needs `redis`)

Relative ``journal:`` and ``sqlite:///`` paths are relative to the folder that holds the config.
The default is a journal file because Optuna's FAQ advises it for several processes on one node
(``fasnas study start --workers N``); SQLite serialises writers and reports "database is locked"
under load. PostgreSQL is the path to distributed search: put the password in ``~/.pgpass`` or
``PGPASSWORD`` rather than in the URL (libpq reads both), so it never shows in ``ps``.

Two processes that create the same new study at the same moment crash on SQLite and PostgreSQL
("table already exists", UniqueViolation; FACTS §2): :func:`create_or_load` and
:func:`open_storage` retry those races. Connection and authentication failures are not retried:
they become a :class:`~fasnas.errors.StorageError` naming the server, e.g.
``storage postgresql+psycopg://fasnas:***@db:5432/x: cannot connect: ... password authentication
failed for user "fasnas"``.
"""

from __future__ import annotations

import random
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fasnas.errors import ConfigError, StorageError

JOURNAL_PREFIX = "journal:"
RDB_SCHEMES = ("sqlite", "postgresql", "mysql")
CONNECT_TIMEOUT_S = 10  # PostgreSQL connect timeout, so an unreachable server fails fast
RACE_ATTEMPTS = 8  # attempts at opening/creating while another process does the same
SQLITE_BUSY_TIMEOUT_S = 60  # SQLite waits this long for a writer's lock before "locked"

# Substrings of driver errors that mean "another process is creating the same thing".
_RACE_MARKERS = ("already exists", "unique", "duplicate", "database is locked", "deadlock")


def resolve_url(value: Any, base: Path, name: str) -> str:
    """The absolute storage URL of a config's ``storage:`` value.

    Args:
        value: The ``storage:`` value (None for the default).
        base: The folder that holds the config (relative paths are relative to it).
        name: The study name (the default journal file is ``<name>.journal``).

    Raises:
        ConfigError: When the value is not a string or not one of the known URL forms.
    """
    if value is None:
        return f"{JOURNAL_PREFIX}{(base / f'{name}.journal').resolve()}"
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"storage: expected a URL string, got {value!r}")
    url = value.strip()
    if url.startswith(JOURNAL_PREFIX):
        path = Path(url.removeprefix(JOURNAL_PREFIX).removeprefix("//"))
        if not str(path) or str(path) == ".":
            raise ConfigError(f"storage: expected journal:PATH with a file path, got {url!r}")
        return f"{JOURNAL_PREFIX}{(base / path).resolve()}"
    if url.startswith("sqlite:///"):
        rest = url.removeprefix("sqlite:///")
        if rest and not rest.startswith("/") and rest != ":memory:":
            return f"sqlite:///{(base / rest).resolve()}"
        return url
    scheme = url.split("://", 1)[0].split("+", 1)[0] if "://" in url else ""
    if scheme in RDB_SCHEMES or scheme in ("redis", "rediss"):
        return url
    raise ConfigError(
        "storage: expected journal:PATH, sqlite:///PATH, postgresql://..., mysql://... or "
        f"redis://..., got {url!r}"
    )


def storage_kind(url: str) -> str:
    """``journal``, ``redis``, ``sqlite``, ``postgresql`` or ``mysql``."""
    if url.startswith(JOURNAL_PREFIX):
        return "journal"
    scheme = url.split("://", 1)[0].split("+", 1)[0]
    return "redis" if scheme in ("redis", "rediss") else scheme


def is_rdb(url: str) -> bool:
    """Whether the URL names an RDB storage (SQLite, PostgreSQL, MySQL): Optuna's heartbeat."""
    return storage_kind(url) in RDB_SCHEMES


def safe_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for messages and logs)."""
    if "://" not in url or "@" not in url.split("://", 1)[1].split("/", 1)[0]:
        return url
    scheme, rest = url.split("://", 1)
    netloc, _, path = rest.partition("/")
    userinfo, _, host = netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    hidden = f"{user}:***" if ":" in userinfo else user
    return f"{scheme}://{hidden}@{host}" + (f"/{path}" if path or rest.endswith("/") else "")


def describe_url(url: str) -> str:
    """A short, password-free description: ``journal file /x/demo.journal``, ``postgresql ...``."""
    kind = storage_kind(url)
    if kind == "journal":
        return f"journal file {url.removeprefix(JOURNAL_PREFIX)}"
    if kind == "sqlite":
        return f"SQLite file {url.removeprefix('sqlite:///')}"
    return safe_url(url)


def _one_line(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    text = " ".join(str(original).split())
    return text or type(original).__name__


def _is_race(error: BaseException) -> bool:
    import sqlalchemy.exc

    if isinstance(error, sqlalchemy.exc.IntegrityError):
        return True
    return any(marker in _one_line(error).lower() for marker in _RACE_MARKERS)


def _engine_kwargs(url: str) -> dict[str, Any]:
    kind = storage_kind(url)
    if kind == "postgresql":
        return {"pool_pre_ping": True, "connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}
    if kind == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    return {}


def _local_file(url: str) -> Path | None:
    kind = storage_kind(url)
    if kind == "journal":
        return Path(url.removeprefix(JOURNAL_PREFIX))
    if kind == "sqlite":
        rest = url.removeprefix("sqlite:///").split("?", 1)[0]
        return None if rest in ("", ":memory:") else Path(rest)
    return None


def open_storage(
    url: str,
    *,
    must_exist: bool = False,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    stale_callback: Callable[[Any, Any], None] | None = None,
):
    """Open the Optuna storage named by ``url`` (from :func:`resolve_url`).

    Args:
        url: An absolute storage URL.
        must_exist: Refuse to create anything: a missing journal/SQLite file, or a database
            without Optuna's tables, is a :class:`StorageError` (for ``worker``, ``resume`` and
            ``status``, which must leave storages as they found them).
        heartbeat_interval: Seconds between heartbeats of running trials (RDB storages only;
            Optuna's heartbeat; ignored by journal storages, which have none).
        grace_period: Seconds after which an RDB trial without heartbeat is stale.
        stale_callback: Optuna's ``heartbeat_stale_trial_callback`` (RDB storages only).

    Raises:
        StorageError: The server is unreachable, refused the credentials, the file's folder does
            not exist, or (``must_exist``) there is nothing to attach to.
    """
    import optuna

    kind = storage_kind(url)
    where = f"storage {describe_url(url)}"
    path = _local_file(url)
    if path is not None:
        if must_exist and not path.is_file():
            raise StorageError(f"{where}: no such file; create it with `fasnas study start`")
        if not path.parent.is_dir():
            raise StorageError(f"{where}: folder {path.parent} does not exist")
    if kind == "journal":
        from optuna.storages.journal import JournalFileBackend

        try:
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        except OSError as error:
            raise StorageError(f"{where}: cannot open it ({error.strerror or error})") from None
    if kind == "redis":
        return _open_redis(url, where)
    return _open_rdb(url, where, must_exist, heartbeat_interval, grace_period, stale_callback)


def _open_redis(url: str, where: str):
    import optuna

    try:
        from optuna.storages.journal import JournalRedisBackend

        backend = JournalRedisBackend(url)
    except ImportError:
        raise StorageError(f"{where}: Redis storage needs the `redis` package") from None
    except Exception as error:  # noqa: BLE001 - redis errors vary
        raise StorageError(f"{where}: cannot connect: {_one_line(error)}") from error
    return optuna.storages.JournalStorage(backend)


def _open_rdb(
    url: str,
    where: str,
    must_exist: bool,
    heartbeat_interval: int | None,
    grace_period: int | None,
    stale_callback: Callable[[Any, Any], None] | None,
):
    import optuna
    import sqlalchemy.exc

    heartbeat: dict[str, Any] = {}
    if heartbeat_interval is not None:
        heartbeat = {
            "heartbeat_interval": int(heartbeat_interval),
            "grace_period": int(grace_period) if grace_period is not None else None,
            "heartbeat_stale_trial_callback": stale_callback,
        }
    for attempt in range(RACE_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=_engine_kwargs(url),
                    skip_table_creation=must_exist,
                    **heartbeat,
                )
        except ImportError as error:
            raise StorageError(f"{where}: database driver missing ({_one_line(error)})") from None
        except (
            sqlalchemy.exc.ProgrammingError,
            sqlalchemy.exc.OperationalError,
            optuna.exceptions.StorageInternalError,
        ) as error:
            text = _one_line(error.__cause__ or error)
            if must_exist and ("does not exist" in text or "no such table" in text):
                raise StorageError(
                    f"{where}: holds no Optuna study; create one with `fasnas study start`"
                ) from None
            if _is_race(error) and attempt + 1 < RACE_ATTEMPTS:
                _backoff(attempt)
                continue
            raise StorageError(f"{where}: cannot connect: {text}") from None
        except sqlalchemy.exc.SQLAlchemyError as error:
            if _is_race(error) and attempt + 1 < RACE_ATTEMPTS:
                _backoff(attempt)
                continue
            raise StorageError(f"{where}: {_one_line(error)}") from None
        except (RuntimeError, ValueError) as error:  # Optuna: schema version, bad settings
            raise StorageError(f"{where}: {_one_line(error)}") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _backoff(attempt: int) -> None:
    time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))


def study_names(storage) -> list[str]:
    """Names of the studies in ``storage``, sorted."""
    return sorted(summary.study_name for summary in storage.get_all_studies())


def require_study(storage, name: str, url: str) -> int:
    """The id of study ``name``; a one-line StorageError listing the studies there otherwise."""
    try:
        return storage.get_study_id_from_name(name)
    except KeyError:
        names = study_names(storage)
        raise StorageError(
            f"storage {describe_url(url)}: study {name!r} does not exist (studies there: "
            f"{names}); create it with `fasnas study start`"
        ) from None


def create_or_load(
    storage,
    name: str,
    directions: Sequence[str],
    sampler,
    *,
    url: str,
    create: bool = True,
) -> tuple[Any, bool]:
    """Create study ``name``, or load it when it exists; retries creation races.

    Args:
        storage: From :func:`open_storage`.
        name: The study name.
        directions: The objectives' directions (``minimize`` ...) used when creating.
        sampler: The sampler this process uses.
        url: The storage URL (for messages).
        create: When False, only load (a missing study is a :class:`StorageError`).

    Returns:
        ``(study, created)``; ``created`` is True for the one process that created it.

    Raises:
        StorageError: The study is missing (``create=False``), or the storage keeps failing.
    """
    import optuna

    if not create:
        require_study(storage, name, url)
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler), False
    last: BaseException | None = None
    for attempt in range(RACE_ATTEMPTS):
        try:
            if name in study_names(storage):  # load without writing anything
                return optuna.load_study(study_name=name, storage=storage, sampler=sampler), False
            try:
                study = optuna.create_study(
                    study_name=name, storage=storage, directions=list(directions), sampler=sampler
                )
                return study, True
            except optuna.exceptions.DuplicatedStudyError:
                return optuna.load_study(study_name=name, storage=storage, sampler=sampler), False
        except Exception as error:  # noqa: BLE001 - driver errors of a creation race vary
            if not _is_race(error) and not isinstance(error, KeyError):
                raise StorageError(
                    f"storage {describe_url(url)}: cannot create study {name!r}: "
                    f"{_one_line(error)}"
                ) from error
            last = error
            _backoff(attempt)
    raise StorageError(
        f"storage {describe_url(url)}: cannot create or load study {name!r} after "
        f"{RACE_ATTEMPTS} attempts: {_one_line(last) if last else 'unknown error'}"
    )
