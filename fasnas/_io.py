"""The one way fasnas writes a user-visible file or folder: atomically, fsynced, mode 0644.

Owns atomic writes. A reader never sees a half-written file: content goes to a hidden
temporary file beside the target (``.<name>.<random>.tmp``), is flushed and fsynced, gets its
final mode, and is renamed over the target; the folder is then fsynced so the rename survives a
crash. Folders are built under a hidden temporary name and renamed into place the same way. An
interrupted write leaves at most such a temporary behind, never a partial target.

Modes are fixed (0644 for files, 0755 for folders), never derived from the process umask:
reading the umask means changing it, which is not thread-safe beside the heartbeat thread.
Pass ``mode=0o600`` for a file that is private on purpose.

Every ``OSError`` becomes one :class:`~fasnas.errors.FasnasError` line naming the path (the
class is the caller's: a teacher file raises ``CheckpointError``, an artifact ``StorageError``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from fasnas.errors import FasnasError, OutputError

FILE_MODE = 0o644
DIR_MODE = 0o755

Writer = Callable[[BinaryIO], None]


def temporary_name(path: Path) -> Path:
    """A hidden temporary sibling of ``path`` (``.<name>.<random>.tmp``)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


def strerror(error: OSError) -> str:
    """An OSError's reason without its path (which the caller names itself)."""
    return error.strerror or str(error).splitlines()[0]


def path_error(
    path: Path, error: OSError, what: str = "cannot write", kind: type[FasnasError] = OutputError
) -> FasnasError:
    """One line: ``<path>: <what> (<reason>)``, as the caller's error class."""
    return kind(f"{path}: {what} ({strerror(error)})")


def fsync_dir(folder: Path) -> None:
    """fsync a folder so a rename inside it is durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(
    path: str | Path,
    content: str | bytes | Writer,
    *,
    mode: int = FILE_MODE,
    error: type[FasnasError] = OutputError,
    what: str = "cannot write",
) -> Path:
    """Write ``content`` to ``path`` atomically; missing parent folders are created.

    Args:
        path: The target file.
        content: Text (UTF-8), bytes, or a function that writes to a binary stream (e.g.
            ``lambda f: torch.save(payload, f)``).
        mode: The file's final mode (0644 by default; 0600 for private files).
        error: The FasnasError subclass raised on an OSError.
        what: The phrase of that error, e.g. "cannot write the teacher file".

    Returns:
        ``path`` as a Path.

    Raises:
        FasnasError: ``error``, naming ``path``, on any OSError (read-only, full, missing).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as failure:
        raise path_error(path, failure, what, error) from None
    temp = temporary_name(path)
    try:
        with open(temp, "xb") as stream:
            if callable(content):
                content(stream)
            else:
                stream.write(content.encode("utf-8") if isinstance(content, str) else content)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except OSError as failure:
        temp.unlink(missing_ok=True)
        raise path_error(path, failure, what, error) from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def replace_dir(built: Path, target: Path) -> None:
    """Rename the finished folder ``built`` to ``target``, replacing an older one there."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{secrets.token_hex(4)}")
        os.replace(target, old)
    os.replace(built, target)
    fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(
    target: str | Path,
    *,
    error: type[FasnasError] = OutputError,
    what: str = "cannot write",
) -> Iterator[Path]:
    """Build a folder under a hidden temporary name; on success it replaces ``target``.

    Usage::

        with atomic_dir(out) as tmp:
            (tmp / "spec.json").write_text(...)

    On an exception the temporary folder is removed and ``target`` is left as it was.

    Raises:
        FasnasError: ``error``, naming ``target``, on an OSError while creating or renaming.
    """
    target = Path(target)
    built = target.with_name(f".{target.name}.{secrets.token_hex(6)}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        built.mkdir(mode=DIR_MODE)
        os.chmod(built, DIR_MODE)
    except OSError as failure:
        raise path_error(target, failure, what, error) from None
    try:
        yield built
        replace_dir(built, target)
    except OSError as failure:
        shutil.rmtree(built, ignore_errors=True)
        raise path_error(target, failure, what, error) from None
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise


def check_writable_dir(folder: str | Path, *, error: type[FasnasError] = OutputError) -> None:
    """Refuse, before any work, a folder that cannot be created or written (creates nothing).

    A folder that does not exist yet is checked through its nearest existing parent.

    Raises:
        FasnasError: ``error`` naming the folder: not a directory, or not writable.
    """
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise error(f"{folder}: cannot write there ({existing} is not a directory)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise error(f"{folder}: cannot write there ({existing} is not writable)")
