"""The ledger of a study: a join order and claims that the storage itself arbitrates.

Owns the companion study ``<study>-ledger`` (:func:`fasnas.record.ledger_study_name`) and the two
things it decides among processes that may run at the same instant on several machines:

- **Join order.** Each worker process that joins a study adds one entry (a trial) to the ledger;
  the entry's trial number is the worker's *join index*, and its sampler seed is
  :func:`derive_seed` of the study seed and that index.
- **Claims.** Before a process acts once-only (e.g. enqueue *the* retry of trial ``n``), it adds
  an entry with a claim key (``retry.<n>``) and reads the ledger back: the entry with the lowest
  number among those with that key wins; every other claimant stands down.

Why this is atomic. Creating a trial is the one write that every Optuna storage serialises:
RDB storages lock the study row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write lock,
taken by the insert, on SQLite) while they number the new trial, and write its user attributes
in the same transaction; the journal numbers trials in log order, and every process replays the
same log. So entry numbers are unique, and when an entry exists, every entry with a lower
number already exists with its attributes: a claimant that reads the ledger after its own entry
was created sees every earlier claim. Two claimants therefore agree on the lowest number, and
exactly one wins. Ledger entries are COMPLETE trials with value 0 in a study no sampler reads,
so the study's own trials are untouched.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fasnas import record
from fasnas.errors import StorageError
from fasnas.storage.schemes import RACE_ATTEMPTS, backoff, is_race, one_line

SEED_MODULUS = 2**31 - 1  # a prime: seeds live in [0, 2**31 - 1)
SEED_STEP = 1_000_003  # not a multiple of the modulus, so join -> seed is one-to-one

_LEDGER_IDS: dict[tuple[int, str], int] = {}  # (id(storage), ledger name) -> study id


def derive_seed(study_seed: int, join: int) -> int:
    """The sampler seed of the worker with join index ``join``.

    ``(base + join * SEED_STEP) mod (2**31 - 1)`` with ``base`` from sha256 of the study seed:
    the modulus is prime and the step is not a multiple of it, so two join indices below the
    modulus never share a seed.
    """
    digest = hashlib.sha256(f"fasnas-worker:{study_seed}".encode()).digest()
    base = int.from_bytes(digest[:8], "big") % SEED_MODULUS
    return (base + join * SEED_STEP) % SEED_MODULUS


def ledger_id(storage: Any, study_name: str) -> int:
    """The study id of ``study_name``'s ledger, created on first use (creation races retried).

    Raises:
        StorageError: The storage keeps failing.
    """
    import optuna

    name = record.ledger_study_name(study_name)
    key = (id(storage), name)
    if key in _LEDGER_IDS:
        return _LEDGER_IDS[key]
    last: BaseException | None = None
    for attempt in range(RACE_ATTEMPTS):
        try:
            try:
                found = storage.get_study_id_from_name(name)
            except KeyError:
                try:
                    found = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], name)
                except optuna.exceptions.DuplicatedStudyError:
                    found = storage.get_study_id_from_name(name)
            _LEDGER_IDS[key] = found
            return found
        except Exception as error:  # noqa: BLE001 - driver errors of a creation race vary
            if not is_race(error) and not isinstance(error, KeyError):
                message = f"cannot open the ledger {name!r}: {one_line(error)}"
                raise StorageError(message) from error
            last = error
            backoff(attempt)
    raise StorageError(f"cannot open the ledger {name!r}: {one_line(last) if last else '?'}")


def add_entry(storage: Any, study_name: str, user_attrs: dict[str, Any]) -> int:
    """Add one entry to the ledger of ``study_name``; returns its (unique) number."""
    import optuna
    from optuna.trial import TrialState

    study_id = ledger_id(storage, study_name)
    template = optuna.trial.create_trial(
        state=TrialState.COMPLETE, value=0.0, user_attrs=user_attrs
    )
    trial_id = storage.create_new_trial(study_id, template_trial=template)
    return storage.get_trial_number_from_id(trial_id)


def join(storage: Any, study_name: str, worker: dict[str, Any]) -> int:
    """Record a joining worker; returns its join index (distinct for every process)."""
    return add_entry(storage, study_name, record.join_attrs(worker))


def entries(storage: Any, study_name: str) -> list[Any]:
    """Every entry of the ledger (FrozenTrials), in number order."""
    return storage.get_all_trials(ledger_id(storage, study_name), deepcopy=False)


def claim(storage: Any, study_name: str, key: str, worker: dict[str, Any]) -> bool:
    """Claim ``key`` once for the whole study: True for exactly one claimant, ever."""
    mine = add_entry(storage, study_name, record.claim_attrs(key, worker))
    claims = [
        entry.number
        for entry in entries(storage, study_name)
        if record.TrialRecord.of(entry).claim == key
    ]
    return min(claims, default=mine) == mine
