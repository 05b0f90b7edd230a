"""The fasnas error hierarchy.

Owns every exception that signals a *user* error (bad config, bad data, bad checkpoint, bad
storage). The CLI catches :class:`FasnasError`, prints its one-line message to stderr and exits
with code 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class FasnasError(Exception):
    """Base class of user-facing errors; the message is one line naming the file, key or path."""

    exit_code = 2


class ConfigError(FasnasError):
    """A study config or search space is malformed (the message names the file and key path)."""


class DataError(FasnasError):
    """A dataset layout, list file, image or video is missing, unreadable or inconsistent."""


class CheckpointError(FasnasError):
    """A checkpoint or teacher file is missing, corrupt, untrusted or has mismatched keys."""


class StorageError(FasnasError):
    """An Optuna storage or artifact store is unreachable, refused us, or disagrees with us."""


class MissingStudyError(StorageError):
    """The storage, or the study in it, does not exist (yet: a creator may be on its way)."""


class OutputError(FasnasError):
    """A file or folder the user asked for cannot be written (read-only, full, not a folder)."""
