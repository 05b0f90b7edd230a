"""A fast reader of a study's trials: every ``FrozenTrial`` at once, without Optuna's ORM.

Owns reading all trials of a study in one go. Optuna's ``get_all_trials`` builds every trial
through the SQLAlchemy ORM, which costs about 10 s for 10,000 trials on SQLite here, more than
the 5 s a whole report may take (``benchmarks/bench_report.py``). On an RDB storage with the
schema this reader knows, :func:`read_trials` therefore selects the same tables with six plain
SQL statements through the driver's cursor and builds the same ``FrozenTrial`` objects itself;
it checks finished trials (which Optuna never changes again) against Optuna's own ``get_trial``
and falls back to ``get_all_trials`` on any difference or on an unknown schema. Other storages
(journal, in-memory) use ``get_all_trials``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.storages import BaseStorage, RDBStorage
    from optuna.trial import FrozenTrial

__all__ = ["KNOWN_RDB_SCHEMAS", "read_trials"]

KNOWN_RDB_SCHEMAS = frozenset({"v3.2.0.a"})  # Optuna RDB schema versions the fast reader knows


def read_trials(storage: BaseStorage, study_id: int) -> list[FrozenTrial]:
    """Every trial of the study, once, as Optuna ``FrozenTrial`` objects in trial-id order.

    RDB storages with a known schema are read with six plain selects (see the module
    docstring); the result is checked against ``storage.get_trial`` on up to three finished
    trials, and any difference falls back to ``storage.get_all_trials``.
    """
    import optuna

    if isinstance(storage, optuna.storages.RDBStorage):
        try:
            version = storage.get_current_version()
        except Exception:  # noqa: BLE001 - an unreadable version means: use the public API
            version = None
        if version in KNOWN_RDB_SCHEMAS:
            trials = _read_rdb_trials(storage, study_id)
            if _agrees_with_optuna(storage, trials):
                return trials
            warnings.warn(
                "fasnas: the fast trial reader disagrees with Optuna's get_trial on this "
                "storage; reading through get_all_trials instead (slower)",
                RuntimeWarning,
                stacklevel=2,
            )
    return storage.get_all_trials(study_id, deepcopy=False)


def _agrees_with_optuna(storage: BaseStorage, trials: Sequence[FrozenTrial]) -> bool:
    """Whether the first, middle and last finished trials equal Optuna's own ``get_trial``.

    Finished trials never change, so a study that runs while the report reads it cannot make
    them differ; running trials may be updated between the two reads and are not compared.
    """
    finished = [t for t in trials if t.state.is_finished()]
    if not finished:
        return True
    picks = {0, len(finished) // 2, len(finished) - 1}
    return all(storage.get_trial(finished[i]._trial_id) == finished[i] for i in picks)


# Servers often run in UTC: then Optuna's UTC-to-local conversion is the identity.
_LOCAL_IS_UTC = time.timezone == 0 and time.altzone == 0 and not time.daylight


def _utc_to_local(value: dt.datetime | str | None) -> dt.datetime | None:
    """Optuna's RDB convention: stored as naive UTC, returned as naive local time.

    SQLite hands back the stored text (``YYYY-MM-DD HH:MM:SS.ffffff``); other drivers hand back
    a ``datetime``.
    """
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if _LOCAL_IS_UTC:
        return value
    return value.replace(tzinfo=dt.UTC).astimezone().replace(tzinfo=None)


_FLOAT_KINDS = {"FINITE": None, "INF_POS": math.inf, "INF_NEG": -math.inf, "NAN": math.nan}

# Optuna's RDB tables (schema v3.2.0.a). The SQL is plain and portable (SQLite, PostgreSQL,
# MySQL); ``{study}`` is an integer id, never user text. Only parameters keep Optuna's order (the
# order they were suggested in); the other children land in dicts keyed by what identifies them,
# so they skip the sort (a third of the time of the largest select).
_TRIALS_SQL = (
    "SELECT trial_id, number, state, datetime_start, datetime_complete FROM trials "
    "WHERE study_id = {study} ORDER BY trial_id"
)
_CHILD_SQL = {
    "values": ("trial_values", None, "objective, c.value, c.value_type"),
    "params": ("trial_params", "param_id", "param_name, c.param_value, c.distribution_json"),
    "user": ("trial_user_attributes", None, "key, c.value_json"),
    "system": ("trial_system_attributes", None, "key, c.value_json"),
    "steps": (
        "trial_intermediate_values",
        None,
        "step, c.intermediate_value, c.intermediate_value_type",
    ),
}


def _child_sql(table: str, order: str | None, columns: str, study_id: int) -> str:
    return (
        f"SELECT c.trial_id, c.{columns} FROM {table} c JOIN trials t ON t.trial_id = c.trial_id "
        f"WHERE t.study_id = {int(study_id)}" + (f" ORDER BY c.{order}" if order else "")
    )


def _fetch_rdb_rows(storage: RDBStorage, study_id: int) -> dict[str, list[tuple]]:
    """The rows of a study's trials and of their child tables, through the DBAPI cursor.

    SQLAlchemy's ORM costs most of ``get_all_trials``; even Core rows cost about twice a plain
    cursor here, so the driver's cursor runs the statements directly. The statements run one
    after the other: rows of trials created in between are dropped by the caller.
    """
    with storage.engine.connect() as connection:
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.execute(_TRIALS_SQL.format(study=int(study_id)))
            rows = {"trials": list(cursor.fetchall())}
            for name, (table, order, columns) in _CHILD_SQL.items():
                cursor.execute(_child_sql(table, order, columns, study_id))
                rows[name] = list(cursor.fetchall())
        finally:
            cursor.close()
    return rows


def _decode_json(rows: list[tuple]) -> list[Any]:
    """Decode every row's last column (a JSON text) with one ``json.loads`` call."""
    if not rows:
        return []
    return json.loads("[" + ",".join(row[-1] for row in rows) + "]")


def _read_rdb_trials(storage: RDBStorage, study_id: int) -> list[FrozenTrial]:
    """Every trial of a study, built from Optuna's tables as ``get_all_trials`` builds them."""
    from optuna.distributions import json_to_distribution
    from optuna.trial import FrozenTrial, TrialState

    rows = _fetch_rdb_rows(storage, study_id)
    ids = [row[0] for row in rows["trials"]]
    values: dict[int, dict] = {i: {} for i in ids}
    params: dict[int, dict] = {i: {} for i in ids}
    dists: dict[int, dict] = {i: {} for i in ids}
    user: dict[int, dict] = {i: {} for i in ids}
    system: dict[int, dict] = {i: {} for i in ids}
    steps: dict[int, dict] = {i: {} for i in ids}
    known = set(ids)  # trials created after the first select are left for the next report
    for name in ("values", "params", "user", "system", "steps"):
        if any(row[0] not in known for row in rows[name]):
            rows[name] = [row for row in rows[name] if row[0] in known]
    for trial_id, objective, value, kind in rows["values"]:
        special = _FLOAT_KINDS[kind]
        values[trial_id][objective] = float(value) if special is None else special
    distributions: dict[str, Any] = {}
    for trial_id, name, value, dist_json in rows["params"]:
        dist = distributions.get(dist_json)
        if dist is None:
            dist = distributions[dist_json] = json_to_distribution(dist_json)
        params[trial_id][name] = dist.to_external_repr(value)
        dists[trial_id][name] = dist
    for attrs, name in ((user, "user"), (system, "system")):
        for (trial_id, key, _), value in zip(rows[name], _decode_json(rows[name]), strict=True):
            attrs[trial_id][key] = value
    for trial_id, step, value, kind in rows["steps"]:
        special = _FLOAT_KINDS[kind]
        steps[trial_id][step] = float(value) if special is None else special

    trials = []
    for trial_id, number, state, start, complete in rows["trials"]:
        stored = values[trial_id]
        trials.append(
            FrozenTrial(
                number=number,
                state=TrialState[state],
                value=None,
                values=[stored[k] for k in range(len(stored))] if stored else None,
                datetime_start=_utc_to_local(start),
                datetime_complete=_utc_to_local(complete),
                params=params[trial_id],
                distributions=dists[trial_id],
                user_attrs=user[trial_id],
                system_attrs=system[trial_id],
                intermediate_values=steps[trial_id],
                trial_id=trial_id,
            )
        )
    return trials
