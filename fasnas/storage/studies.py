"""Studies inside a storage: list them, require one, create or load one with races retried.

Owns the calls that find or create an ``optuna.Study`` in an opened storage. Two processes that
create the same new study at the same moment crash on SQLite and PostgreSQL ("table already
exists", UniqueViolation): :func:`create_or_load` retries those races.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fasnas.errors import MissingStudyError, StorageError
from fasnas.storage.schemes import RACE_ATTEMPTS, backoff, is_race, one_line
from fasnas.storage.urls import describe_url


def study_names(storage: Any) -> list[str]:
    """Names of the studies in ``storage``, sorted."""
    return sorted(summary.study_name for summary in storage.get_all_studies())


def require_study(storage: Any, name: str, url: str) -> int:
    """The id of study ``name``; a one-line StorageError listing the studies there otherwise."""
    try:
        return storage.get_study_id_from_name(name)
    except KeyError:
        names = study_names(storage)
        raise MissingStudyError(
            f"storage {describe_url(url)}: study {name!r} does not exist (studies there: "
            f"{names}); create it with `fasnas study start`"
        ) from None


def create_or_load(
    storage: Any,
    name: str,
    directions: Sequence[str],
    sampler: Any,
    *,
    url: str,
    create: bool = True,
) -> tuple[Any, bool]:
    """Create study ``name``, or load it when it exists; retries creation races.

    Args:
        storage: From :func:`fasnas.storage.urls.open_storage`.
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
            if not is_race(error) and not isinstance(error, KeyError):
                raise StorageError(
                    f"storage {describe_url(url)}: cannot create study {name!r}: {one_line(error)}"
                ) from error
            last = error
            backoff(attempt)
    raise StorageError(
        f"storage {describe_url(url)}: cannot create or load study {name!r} after "
        f"{RACE_ATTEMPTS} attempts: {one_line(last) if last else 'unknown error'}"
    )
