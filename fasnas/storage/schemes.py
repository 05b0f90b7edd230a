"""The storage-scheme registry: every kind of Optuna storage fasnas opens, one class each.

Owns what differs between storage kinds: which URLs a scheme takes, how a relative path in one
is resolved against the config's folder, how it is described without its password, which
local file it lives in, and how it is opened with one-line errors. A new scheme is one
:class:`Scheme` subclass appended to :data:`SCHEMES` (plus its row in the storage conformance
test, ``tests/storage/test_conformance.py``).

Forms::

    journal:runs/demo.journal           JournalStorage on a JournalFileBackend (one node)
    sqlite:///demo.db                   RDBStorage on SQLite (one process at a time)
    postgresql://user@db-host:5432/x    RDBStorage via psycopg 3 (many nodes)
    mysql://user@db-host/x              RDBStorage (driver not installed by fasnas)
    redis://redis-host:6379/0           JournalStorage on JournalRedisBackend (needs `redis`)
"""

from __future__ import annotations

import abc
import random
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from fasnas.errors import MissingStudyError, StorageError

CONNECT_TIMEOUT_S = 10  # PostgreSQL connect timeout, so an unreachable server fails fast
RACE_ATTEMPTS = 8  # attempts at opening/creating while another process does the same
SQLITE_BUSY_TIMEOUT_S = 60  # SQLite waits this long for a writer's lock before "locked"

# Substrings of driver errors that mean "another process is creating the same thing".
_RACE_MARKERS = ("already exists", "unique", "duplicate", "database is locked", "deadlock")


@dataclass(frozen=True)
class OpenOptions:
    """How a storage is opened (see :func:`fasnas.storage.urls.open_storage`)."""

    must_exist: bool = False  # refuse to create anything (worker, resume, status, report)
    heartbeat_interval: int | None = None  # RDB only: Optuna's heartbeat
    grace_period: int | None = None  # RDB only
    stale_callback: Any = None  # RDB only: heartbeat_stale_trial_callback


def one_line(error: BaseException) -> str:
    """A driver error as one line (SQLAlchemy's wrapped ``orig`` when there is one)."""
    original = getattr(error, "orig", None) or error
    text = " ".join(str(original).split())
    return text or type(original).__name__


def is_race(error: BaseException) -> bool:
    """Whether an error means another process is creating the same table or study."""
    import sqlalchemy.exc

    if isinstance(error, sqlalchemy.exc.IntegrityError):
        return True
    return any(marker in one_line(error).lower() for marker in _RACE_MARKERS)


def backoff(attempt: int) -> None:
    """Sleep a jittered, growing interval before retrying a race."""
    time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))


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


class Scheme(abc.ABC):
    """One storage kind. Subclasses set :attr:`kind`, implement :meth:`open` and override
    what else differs."""

    kind: ClassVar[str]
    rdb: ClassVar[bool] = False  # an RDB storage: Optuna's heartbeat applies

    def matches(self, url: str) -> bool:
        """Whether ``url`` is of this scheme (``<kind>://`` or ``<kind>+driver://``)."""
        return "://" in url and url.split("://", 1)[0].split("+", 1)[0] == self.kind

    def resolve(self, url: str, base: Path) -> str:
        """The absolute URL (relative paths against ``base``); ValueError(what was expected)."""
        return url

    def describe(self, url: str) -> str:
        """A short, password-free description."""
        return safe_url(url)

    def local_file(self, url: str) -> Path | None:
        """The file that holds the storage, when it is a local file."""
        return None

    @abc.abstractmethod
    def open(self, url: str, where: str, options: OpenOptions) -> Any:
        """The Optuna storage; a one-line StorageError naming ``where`` otherwise."""


class JournalScheme(Scheme):
    kind = "journal"
    prefix = "journal:"

    def matches(self, url: str) -> bool:
        return url.startswith(self.prefix)

    def resolve(self, url: str, base: Path) -> str:
        path = Path(url.removeprefix(self.prefix).removeprefix("//"))
        if not str(path) or str(path) == ".":
            raise ValueError("journal:PATH with a file path")
        return f"{self.prefix}{(base / path).resolve()}"

    def describe(self, url: str) -> str:
        return f"journal file {url.removeprefix(self.prefix)}"

    def local_file(self, url: str) -> Path | None:
        return Path(url.removeprefix(self.prefix))

    def open(self, url: str, where: str, options: OpenOptions) -> Any:
        import optuna
        from optuna.storages.journal import JournalFileBackend

        try:
            return optuna.storages.JournalStorage(JournalFileBackend(str(self.local_file(url))))
        except OSError as error:
            raise StorageError(f"{where}: cannot open it ({error.strerror or error})") from None


class RedisScheme(Scheme):
    kind = "redis"

    def matches(self, url: str) -> bool:
        return url.split("://", 1)[0] in ("redis", "rediss") and "://" in url

    def open(self, url: str, where: str, options: OpenOptions) -> Any:
        import optuna

        try:
            from optuna.storages.journal import JournalRedisBackend

            with warnings.catch_warnings():  # the Redis backend is experimental in Optuna 5.1
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.JournalStorage(JournalRedisBackend(url))
        except ImportError:
            raise StorageError(f"{where}: Redis storage needs the `redis` package") from None
        except Exception as error:  # noqa: BLE001 - redis errors vary
            raise StorageError(f"{where}: cannot connect: {one_line(error)}") from error


class RDBScheme(Scheme):
    """SQLAlchemy URLs through Optuna's RDBStorage, with creation races retried."""

    rdb = True

    def engine_kwargs(self) -> dict[str, Any]:
        return {}

    def open(self, url: str, where: str, options: OpenOptions) -> Any:
        import optuna
        import sqlalchemy.exc

        heartbeat: dict[str, Any] = {}
        if options.heartbeat_interval is not None:
            grace = options.grace_period
            heartbeat = {
                "heartbeat_interval": int(options.heartbeat_interval),
                "grace_period": int(grace) if grace is not None else None,
                "heartbeat_stale_trial_callback": options.stale_callback,
            }
        for attempt in range(RACE_ATTEMPTS):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    return optuna.storages.RDBStorage(
                        url,
                        engine_kwargs=self.engine_kwargs(),
                        skip_table_creation=options.must_exist,
                        **heartbeat,
                    )
            except ImportError as error:
                raise StorageError(
                    f"{where}: database driver missing ({one_line(error)})"
                ) from None
            except (
                sqlalchemy.exc.ProgrammingError,
                sqlalchemy.exc.OperationalError,
                optuna.exceptions.StorageInternalError,
            ) as error:
                text = one_line(error.__cause__ or error)
                if options.must_exist and ("does not exist" in text or "no such table" in text):
                    raise MissingStudyError(
                        f"{where}: holds no Optuna study; create one with `fasnas study start`"
                    ) from None
                if is_race(error) and attempt + 1 < RACE_ATTEMPTS:
                    backoff(attempt)
                    continue
                raise StorageError(f"{where}: cannot connect: {text}") from None
            except sqlalchemy.exc.SQLAlchemyError as error:
                if is_race(error) and attempt + 1 < RACE_ATTEMPTS:
                    backoff(attempt)
                    continue
                raise StorageError(f"{where}: {one_line(error)}") from None
            except (RuntimeError, ValueError) as error:  # Optuna: schema version, bad settings
                raise StorageError(f"{where}: {one_line(error)}") from None
        raise AssertionError("unreachable")  # pragma: no cover


class SQLiteScheme(RDBScheme):
    kind = "sqlite"
    prefix = "sqlite:///"

    def matches(self, url: str) -> bool:
        return url.startswith(self.prefix)

    def resolve(self, url: str, base: Path) -> str:
        rest = url.removeprefix(self.prefix)
        if rest and not rest.startswith("/") and rest != ":memory:":
            return f"{self.prefix}{(base / rest).resolve()}"
        return url

    def describe(self, url: str) -> str:
        return f"SQLite file {url.removeprefix(self.prefix)}"

    def local_file(self, url: str) -> Path | None:
        rest = url.removeprefix(self.prefix).split("?", 1)[0]
        return None if rest in ("", ":memory:") else Path(rest)

    def engine_kwargs(self) -> dict[str, Any]:
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}


class PostgreSQLScheme(RDBScheme):
    kind = "postgresql"

    def engine_kwargs(self) -> dict[str, Any]:
        return {"pool_pre_ping": True, "connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}


class MySQLScheme(RDBScheme):
    kind = "mysql"


# Tried in order; the first whose `matches` accepts a URL owns it.
SCHEMES: tuple[Scheme, ...] = (
    JournalScheme(),
    SQLiteScheme(),
    PostgreSQLScheme(),
    MySQLScheme(),
    RedisScheme(),
)
