"""The data of a study report: trials read once from storage, as tidy pandas frames.

Owns everything a report shows, computed apart from the drawing (ARCHITECTURE.md): the trials
frame, the per-protocol metrics in long format, the Pareto front, the hypervolume history, the
parameter importances, the run information, the teacher's reference point and the leaderboard
of a ``fasnas bench`` study. Nothing here imports plotly; ``fasnas.report.html`` only renders.

Trials are read once. Optuna's ``get_all_trials`` builds every trial through the SQLAlchemy ORM,
which costs about 10 s for 10,000 trials on SQLite here, more than the 5 s a whole report may
take (``benchmarks/bench_report.py``). On an RDB storage with the schema this reader knows,
:func:`read_trials` therefore selects the same tables with six plain SQL statements through the
driver's cursor and builds the same ``FrozenTrial`` objects itself; it checks finished trials
(which Optuna never changes again) against Optuna's own ``get_trial`` and falls back to
``get_all_trials`` on any difference or on an unknown schema. Other storages (journal,
in-memory) use ``get_all_trials``.

Conventions: HTER values are fractions (0..1) as the objective stores them; GMACs count one
multiply-add as one MAC. The Pareto front holds the feasible COMPLETE trials that were not
``rejected`` for their budget, non-dominated on all the study's objectives.
"""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import json
import math
import operator
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fasnas.errors import StorageError

if TYPE_CHECKING:
    from optuna.storages import BaseStorage, RDBStorage
    from optuna.trial import FrozenTrial

THRESHOLDS = ("test-eer", "source-threshold")  # metric sets each protocol records
THRESHOLD_LABELS = {
    "test-eer": (
        "test-EER threshold (FLIP's convention: picked on the test scores; paper-comparable)"
    ),
    "source-threshold": (
        "source threshold (fixed on source validation data; an honest deployment figure)"
    ),
}
MCIO_ORDER = ("M", "C", "I", "O")
PROTOCOL_METRICS = (
    "hter",
    "eer",
    "auc",
    "tpr_at_fpr_1pct",
    "apcer",
    "bpcer",
    "acer",
    "far",
    "frr",
    "threshold",
    "n_videos",
)
HV_REFERENCE_HTER = 0.5  # a chance-level detector
HV_GMACS_MARGIN = 1.1  # reference GMACs = the largest GMACs on the front's candidates x 1.1
MIN_TRIALS_FOR_IMPORTANCE = 10
MAX_TRIALS_FOR_IMPORTANCE = 1000  # a seeded sample keeps big studies fast
VIT_B16_GMACS = 17.58  # FACTS §3: CLIP ViT-B/16 image tower at 224
KNOWN_RDB_SCHEMAS = frozenset({"v3.2.0.a"})  # Optuna RDB schema versions the fast reader knows
VERSION_PACKAGES = (
    "fasnas",
    "optuna",
    "torch",
    "timm",
    "open_clip_torch",
    "plotly",
    "pandas",
    "numpy",
)


# ----------------------------------------------------------------------------------------------
# Storage


def open_storage(storage: str | BaseStorage) -> BaseStorage:
    """The Optuna storage of a URL (through :func:`fasnas.storage.open_storage`), or ``storage``.

    A URL is opened with ``must_exist=True``: a report never creates a file or a table.

    Raises:
        StorageError: the URL is malformed, its file does not exist, the server refused us, or
            the database schema is not the one this Optuna expects.
    """
    import optuna

    if isinstance(storage, optuna.storages.BaseStorage):
        return storage
    if not isinstance(storage, str):
        raise StorageError(
            f"storage: expected a storage URL (journal:x.journal, sqlite:///x.db, "
            f"postgresql://...) or an Optuna storage object, got {storage!r}"
        )
    from fasnas.storage import open_storage as open_url

    return open_url(storage, must_exist=True)


def storage_description(storage: str | BaseStorage) -> str:
    """A short, password-free description: ``SQLite file /x.db``, ``journal (...)``, ..."""
    import optuna

    if isinstance(storage, str):
        from fasnas.storage import describe_url

        return describe_url(storage)

    if isinstance(storage, optuna.storages.RDBStorage):
        url = storage.engine.url
        kind = url.get_backend_name()
        where = url.database if kind == "sqlite" else url.render_as_string(hide_password=True)
        return f"{kind} ({where})"
    name = type(storage).__name__
    if isinstance(storage, optuna.storages.JournalStorage):
        backend = type(getattr(storage, "_backend", None)).__name__
        return f"journal ({backend})"
    if isinstance(storage, optuna.storages.InMemoryStorage):
        return "in-memory"
    return name


def study_id_of(storage: BaseStorage, study_name: str) -> int:
    """The id of ``study_name`` in ``storage``; a one-line StorageError listing the studies."""
    try:
        return storage.get_study_id_from_name(study_name)
    except KeyError:
        names = sorted(s.study_name for s in storage.get_all_studies())
        raise StorageError(
            f"study {study_name!r} not found in {storage_description(storage)}; "
            f"studies there: {names}"
        ) from None


def study_exists(storage: str | BaseStorage, study_name: str) -> bool:
    """Whether ``storage`` holds a study named ``study_name``."""
    storage = open_storage(storage)
    try:
        storage.get_study_id_from_name(study_name)
    except KeyError:
        return False
    return True


def bench_study_name_for(study_name: str) -> str:
    """The name of the ``fasnas bench`` study that goes with a search study."""
    return f"{study_name}-bench"


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
                "fasnas report: the fast trial reader disagrees with Optuna's get_trial on this "
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


# ----------------------------------------------------------------------------------------------
# Pareto front and hypervolume


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Rows that no other row dominates, all objectives minimised.

    A row dominates another when it is no worse on every objective and better on one; exact
    duplicates do not dominate each other, so both stay. Two objectives take a sort
    (O(n log n)); more objectives compare chunks of unique rows with numpy.

    Args:
        points: ``(n, k)`` array of finite objective values.

    Returns:
        Boolean array of length ``n``.
    """
    points = np.asarray(points, dtype=float)
    if points.ndim != 2:
        raise ValueError(f"points must be a 2-D array, got shape {points.shape}")
    n, k = points.shape
    if n == 0:
        return np.zeros(0, dtype=bool)
    unique, inverse = np.unique(points, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    if k == 1:
        keep = unique[:, 0] == unique[0, 0]
    elif k == 2:
        # Unique rows come sorted by (x, y): a row is dominated iff an earlier row has y <= its y.
        y = unique[:, 1]
        earlier_min = np.concatenate(([np.inf], np.minimum.accumulate(y)[:-1]))
        keep = earlier_min > y
    else:
        keep = np.ones(len(unique), dtype=bool)
        for start in range(0, len(unique), 256):
            block = unique[start : start + 256]
            no_worse = (unique[None, :, :] <= block[:, None, :]).all(axis=2)
            # Unique rows: "no worse and not identical" means "better somewhere".
            no_worse[np.arange(len(block)), np.arange(start, start + len(block))] = False
            keep[start : start + len(block)] = ~no_worse.any(axis=1)
    return keep[inverse]


def hypervolume_2d(points: np.ndarray, reference: Sequence[float]) -> float:
    """Area dominated by ``points`` (minimised), bounded by ``reference``; NaN rows skipped."""
    history = hypervolume_history(points, reference)
    return float(history[-1]) if len(history) else 0.0


def hypervolume_history(points: np.ndarray, reference: Sequence[float]) -> np.ndarray:
    """The 2-D hypervolume after each point is added in order, both objectives minimised.

    A sweep keeps the current front sorted by the first objective (ascending; the second then
    descends) and updates the area by the change around each inserted point, so the history
    costs O(n log n) comparisons plus list moves. Points outside the reference box, dominated
    points and rows holding NaN leave the area unchanged.

    Args:
        points: ``(n, 2)`` array.
        reference: ``(r0, r1)``, worse than every point that should count.

    Returns:
        Array of length ``n``.
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    rx, ry = float(reference[0]), float(reference[1])
    xs: list[float] = []
    ys: list[float] = []
    area = 0.0
    out = np.empty(len(points))
    for row, (x, y) in enumerate(points.tolist()):
        if x < rx and y < ry:  # False for NaN too
            i = bisect.bisect_left(xs, x)
            dominated = (i > 0 and ys[i - 1] <= y) or (i < len(xs) and xs[i] == x and ys[i] <= y)
            if not dominated:
                j = i
                while j < len(xs) and ys[j] >= y:
                    j += 1
                right = xs[j] if j < len(xs) else rx
                level = ys[i - 1] if i > 0 else ry
                old = ((xs[i] if i < j else right) - x) * (ry - level)
                for m in range(i, j):
                    old += ((xs[m + 1] if m + 1 < j else right) - xs[m]) * (ry - ys[m])
                area += (right - x) * (ry - y) - old
                xs[i:j] = [x]
                ys[i:j] = [y]
        out[row] = area
    return out


# ----------------------------------------------------------------------------------------------
# Frames


@dataclass(frozen=True)
class Teacher:
    """The teacher's reference point, from the study's ``teacher`` user attribute."""

    name: str
    gmacs: float | None  # None when neither recorded nor known (ViT-B/16: 17.58)
    mean_hter: dict[str, float]  # threshold -> mean HTER over protocols
    hter: dict[str, dict[str, float]]  # protocol -> threshold -> HTER


@dataclass
class ReportData:
    """Everything a report shows; frames are tidy, one row per observation.

    Attributes:
        study_name: The study's name.
        directions: ``"minimize"``/``"maximize"`` per objective.
        metric_names: Optuna's metric names (or ``objective 0``, ...).
        objective_hter: The HTER the study minimises: ``"test-eer"`` or ``"source-threshold"``.
        protocol_names: Protocol names in display order (M, C, I, O first).
        trials: One row per trial (see :func:`trials_frame`).
        protocols: Long format: number, protocol, threshold, hter, auc, ... (every trial).
        hypervolume: number, compute_hours, hypervolume (one row per finished trial).
        hv_reference: ``(hter, gmacs)`` bounding the hypervolume.
        importances: target, param, importance (empty when too few trials).
        importances_note: Why importances are missing, or how they were computed.
        run_info: How the study ran (states, workers, compute, storage, hashes, versions).
        teacher: The teacher's reference point, when the study records it.
        baselines: The ``fasnas bench`` leaderboard (empty without a bench study).
        bench_study_name: The bench study read, if any.
    """

    study_name: str
    directions: list[str]
    metric_names: list[str]
    objective_hter: str
    protocol_names: list[str]
    trials: pd.DataFrame
    protocols: pd.DataFrame
    hypervolume: pd.DataFrame
    hv_reference: tuple[float, float]
    importances: pd.DataFrame
    importances_note: str
    run_info: dict[str, Any]
    teacher: Teacher | None = None
    baselines: pd.DataFrame = field(default_factory=pd.DataFrame)
    bench_study_name: str | None = None

    @property
    def pareto(self) -> pd.DataFrame:
        """The Pareto trials, cheapest first."""
        front = self.trials[self.trials["pareto"]]
        return front.sort_values(["gmacs", "mean_hter", "number"], kind="stable")

    @property
    def threshold_label(self) -> str:
        """The headline threshold in words."""
        return THRESHOLD_LABELS.get(self.objective_hter, self.objective_hter)


def protocol_order(names: Iterable[str]) -> list[str]:
    """M, C, I, O first (in that order), then any other protocol alphabetically."""
    names = set(names)
    return [p for p in MCIO_ORDER if p in names] + sorted(names - set(MCIO_ORDER))


def objective_hter_of(user_attrs: dict[str, Any], metric_names: Sequence[str]) -> str:
    """The minimised HTER: the ``objective_hter`` study attribute, else the metric name's."""
    value = user_attrs.get("objective_hter")
    if value in THRESHOLDS:
        return value
    if metric_names:
        for threshold in THRESHOLDS:
            if f"({threshold})" in metric_names[0]:
                return threshold
    return "test-eer"


def _is_feasible(trial: FrozenTrial) -> bool:
    constraints = trial.user_attrs.get("constraints", trial.system_attrs.get("constraints"))
    if constraints is None:
        return True
    return all(float(c) <= 0.0 for c in constraints)


def _worker_label(worker: Any) -> str | None:
    if isinstance(worker, dict):
        return f"{worker.get('host', '?')}:{worker.get('pid', '?')}"
    return None if worker is None else str(worker)


def _column_key(threshold: str) -> str:
    return threshold.replace("-", "_")


BASE_COLUMNS = (
    "number",
    "state",
    "mean_hter",
    "partial_hter",
    "gmacs",
    "latency_ms",
    "n_params",
    "family",
    "img_size",
    "seed",
    "datetime_start",
    "datetime_complete",
    "duration_s",
    "train_seconds",
    "worker",
    "host",
    "rejected",
    "feasible",
    "eligible",
    "fail_reason",
    "prune_reason",
)
FLOAT_COLUMNS = ["mean_hter", "partial_hter", "gmacs", "latency_ms", "duration_s", "train_seconds"]


def _floats(values: list[Any]) -> np.ndarray | pd.Series:
    """A float column; None becomes NaN, and text that is not a number too."""
    try:
        return np.array(values, dtype=float)
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").astype(float)


def trials_frame(
    trials: Sequence[FrozenTrial], n_objectives: int, protocols: Sequence[str], objective_hter: str
) -> pd.DataFrame:
    """One row per trial, in trial-number order.

    Columns: number, state, ``values_<k>``, mean_hter (COMPLETE, not rejected), partial_hter
    (mean over the protocols a PRUNED trial finished), gmacs, latency_ms, n_params, family,
    img_size, seed, ``hter_<threshold>_<P>`` (threshold ``test_eer`` or ``source_threshold``),
    ``kd_<key>`` (the distill spec), ``params_<name>`` (Optuna params), datetime_start,
    datetime_complete, duration_s, train_seconds, worker, host, rejected, feasible, eligible
    (a front candidate), pareto, dominated (a candidate off the front), fail_reason,
    prune_reason, and for bench trials baseline, kd, bench_seed.
    """
    hter_keys = [
        (protocol, threshold, f"hter_{_column_key(threshold)}_{protocol}")
        for protocol in protocols
        for threshold in THRESHOLDS
    ]
    metric_keys = [
        (f"metrics.{protocol}", [(t, key) for p, t, key in hter_keys if p == protocol])
        for protocol in protocols
    ]
    value_keys = [f"values_{k}" for k in range(n_objectives)]
    records = []
    for trial in sorted(trials, key=lambda t: t.number):
        attrs = trial.user_attrs
        values = trial.values or []
        state = trial.state.name
        rejected = "rejected" in attrs
        complete = state == "COMPLETE" and bool(values)
        feasible = _is_feasible(trial)
        finite = complete and all(math.isfinite(v) for v in values[:n_objectives])
        start, end = trial.datetime_start, trial.datetime_complete
        worker = attrs.get("worker")
        record = {
            "number": trial.number,
            "state": state,
            "mean_hter": values[0] if complete and not rejected else math.nan,
            "gmacs": attrs.get("gmacs", values[1] if len(values) > 1 else None),
            "latency_ms": attrs.get("latency_ms", values[2] if len(values) > 2 else None),
            "n_params": attrs.get("params"),
            "family": attrs.get("family", trial.params.get("family")),
            "img_size": attrs.get("img_size", trial.params.get("img_size")),
            "seed": attrs.get("seed"),
            "datetime_start": start,
            "datetime_complete": end,
            "duration_s": (end - start).total_seconds() if start and end else None,
            "train_seconds": attrs.get("train_seconds"),
            "worker": _worker_label(worker),
            "host": worker.get("host") if isinstance(worker, dict) else None,
            "rejected": rejected,
            "feasible": feasible,
            "eligible": bool(finite and feasible and not rejected),
            "fail_reason": attrs.get("fail_reason"),
            "prune_reason": attrs.get("prune_reason"),
        }
        for k, key in enumerate(value_keys):
            record[key] = values[k] if k < len(values) else math.nan
        partial = []
        for metrics_key, per_threshold in metric_keys:
            metrics = attrs.get(metrics_key)
            for threshold, key in per_threshold:
                found = metrics.get(threshold) if isinstance(metrics, dict) else None
                value = found.get("hter") if isinstance(found, dict) else None
                record[key] = value
                if value is not None and threshold == objective_hter:
                    partial.append(value)
        record["partial_hter"] = sum(partial) / len(partial) if partial else None
        distill = attrs.get("distill_spec")
        if isinstance(distill, dict):
            record.update({"kd_" + key: value for key, value in distill.items()})
        record.update({"params_" + key: value for key, value in trial.params.items()})
        for key in ("baseline", "kd", "bench_seed"):
            if key in attrs:
                record[key] = attrs[key]
        records.append(record)
    ordered = list(BASE_COLUMNS) + value_keys + [key for _, _, key in hter_keys]
    extra = sorted({key for record in records for key in record} - set(ordered))
    numeric = set(FLOAT_COLUMNS + value_keys + [key for _, _, key in hter_keys])
    columns = {
        name: _floats([r.get(name) for r in records])
        if name in numeric
        else [r.get(name) for r in records]
        for name in ordered + extra
    }
    frame = pd.DataFrame(columns)
    for name in ("rejected", "feasible", "eligible"):
        frame[name] = frame[name].astype(bool)
    frame["number"] = frame["number"].astype(int)
    eligible = frame["eligible"].to_numpy(dtype=bool)
    objectives = frame[[f"values_{k}" for k in range(n_objectives)]].to_numpy(dtype=float)
    pareto = np.zeros(len(frame), dtype=bool)
    pareto[eligible] = pareto_mask(objectives[eligible])
    frame["pareto"] = pareto
    frame["dominated"] = eligible & ~pareto
    return frame


def protocol_frame(trials: Sequence[FrozenTrial], protocols: Sequence[str]) -> pd.DataFrame:
    """Long format: one row per (trial number, protocol, threshold) with every recorded metric.

    Rows come in trial-number order, then protocol order, then ``THRESHOLDS`` order.
    The metric ``threshold`` (its value) is the column ``threshold_value``; ``threshold`` names
    the rule (``test-eer`` or ``source-threshold``).
    """
    get_all = operator.itemgetter(*PROTOCOL_METRICS)
    rows = []
    for trial in sorted(trials, key=lambda t: t.number):
        for protocol in protocols:
            metrics = trial.user_attrs.get(f"metrics.{protocol}")
            if not isinstance(metrics, dict):
                continue
            for threshold in THRESHOLDS:
                values = metrics.get(threshold)
                if not isinstance(values, dict):
                    continue
                try:
                    picked = get_all(values)
                except KeyError:
                    picked = tuple(values.get(name) for name in PROTOCOL_METRICS)
                rows.append((trial.number, protocol, threshold, *picked))
    names = ["number", "protocol", "threshold"] + [
        "threshold_value" if name == "threshold" else name for name in PROTOCOL_METRICS
    ]
    frame = pd.DataFrame(rows, columns=names)
    for name in names[3:]:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    return frame


def hypervolume_frame(
    trials: pd.DataFrame, reference: tuple[float, float] | None = None
) -> tuple[pd.DataFrame, tuple[float, float]]:
    """Hypervolume of (mean HTER, GMACs) after each finished trial, in trial-number order.

    Only front candidates (``eligible``) count. ``compute_hours`` is the cumulative duration of
    the finished trials so far (all states). Default reference: HTER 0.5, and the largest
    candidate GMACs x 1.1.

    Returns:
        ``(frame with number, compute_hours, hypervolume; (ref_hter, ref_gmacs))``.
    """
    finished = trials[trials["state"].isin(["COMPLETE", "PRUNED", "FAIL"])]
    candidates = finished[finished["eligible"]]
    if reference is None:
        top = candidates["gmacs"].max() if len(candidates) else math.nan
        reference = (HV_REFERENCE_HTER, float(top) * HV_GMACS_MARGIN if top == top else 1.0)
    points = np.column_stack(
        [
            finished["gmacs"].to_numpy(dtype=float),
            np.where(finished["eligible"], finished["mean_hter"], np.nan),
        ]
    )
    history = hypervolume_history(points, (reference[1], reference[0]))
    hours = np.cumsum(np.nan_to_num(finished["duration_s"].to_numpy(dtype=float))) / 3600.0
    frame = pd.DataFrame(
        {
            "number": finished["number"].to_numpy(),
            "compute_hours": hours,
            "hypervolume": history,
        }
    )
    return frame, (float(reference[0]), float(reference[1]))


def importance_frame(
    trials: Sequence[FrozenTrial],
    eligible_numbers: set[int],
    directions: Sequence[str],
    targets: Sequence[tuple[str, int]],
    *,
    max_trials: int = MAX_TRIALS_FOR_IMPORTANCE,
    seed: int = 0,
) -> tuple[pd.DataFrame, str]:
    """PED-ANOVA parameter importances of each ``(name, objective index)`` target.

    Uses Optuna's :class:`~optuna.importance.PedAnovaImportanceEvaluator` (fast; what
    optuna-dashboard uses) on the front candidates, a seeded sample of at most ``max_trials``
    of them, copied into an in-memory study.

    Returns:
        ``(frame with target, param, importance; a note for the page)``.
    """
    import optuna

    empty = pd.DataFrame({"target": [], "param": [], "importance": []})
    chosen = [t for t in trials if t.number in eligible_numbers]
    if len(chosen) < MIN_TRIALS_FOR_IMPORTANCE:
        return empty, (
            f"Parameter importances need at least {MIN_TRIALS_FOR_IMPORTANCE} finished trials "
            f"on the front's candidates; this study has {len(chosen)}."
        )
    sampled = len(chosen) > max_trials
    if sampled:
        picks = np.random.default_rng(seed).choice(len(chosen), size=max_trials, replace=False)
        chosen = [chosen[i] for i in sorted(picks)]
    rows = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study = _study_of(chosen, directions)
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()
            for name, index in targets:
                importances = optuna.importance.get_param_importances(
                    study, evaluator=evaluator, target=_objective(index)
                )
                rows += [(name, param, float(value)) for param, value in importances.items()]
    except Exception as error:  # noqa: BLE001 - an optional analysis never fails the report
        return empty, f"Parameter importances unavailable: {type(error).__name__}: {error}"
    note = (
        f"PED-ANOVA importances (Optuna) for reaching the best 10% of each target, over "
        f"{len(chosen)} finished front candidates"
        + (f" (a seeded sample of {max_trials})" if sampled else "")
        + "."
    )
    return pd.DataFrame(rows, columns=["target", "param", "importance"]), note


def _study_of(trials: Sequence[FrozenTrial], directions: Sequence[str]):
    """An in-memory ``optuna.Study`` over ``trials``, which it shares instead of copying.

    ``study.add_trials`` deep-copies every trial (most of the importance time at 1,000 trials);
    the evaluators only read ``get_trials``, which this study answers from the given list.
    """
    import optuna

    class GivenTrialsStudy(optuna.Study):
        def get_trials(self, deepcopy=True, states=None):
            chosen = [t for t in trials if states is None or t.state in states]
            return copy.deepcopy(chosen) if deepcopy else chosen

    storage = optuna.storages.InMemoryStorage()
    name = "fasnas-report-importances"
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created" line
    try:
        storage.create_new_study(
            [optuna.study.StudyDirection[d.upper()] for d in directions], study_name=name
        )
    finally:
        optuna.logging.set_verbosity(verbosity)
    return GivenTrialsStudy(study_name=name, storage=storage)


def _objective(index: int) -> Callable[[FrozenTrial], float]:
    return lambda trial: trial.values[index]


def _hash_fields(config: dict[str, Any]) -> dict[str, Any]:
    """Entries of the study's ``config`` attribute whose key names a hash (data, teacher...)."""
    found: dict[str, Any] = {}
    for key, value in config.items():
        lowered = key.lower()
        if "hash" in lowered or "sha" in lowered:
            found[key] = value
    return found


def installed_versions(packages: Sequence[str] = VERSION_PACKAGES) -> dict[str, str]:
    """Versions of the packages that make and read reports (no import: metadata only)."""
    versions = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def run_info(
    trials: pd.DataFrame, storage: str | BaseStorage, study_attrs: dict[str, Any]
) -> dict[str, Any]:
    """How the study ran: trials by state, workers, compute, storage, hashes, versions."""
    states = Counter(trials["state"]) if len(trials) else Counter()
    workers = sorted({w for w in trials.get("worker", pd.Series(dtype=object)).dropna()})
    hosts = sorted({h for h in trials.get("host", pd.Series(dtype=object)).dropna()})
    durations = trials["duration_s"].dropna() if len(trials) else pd.Series(dtype=float)
    starts = trials["datetime_start"].dropna() if len(trials) else pd.Series(dtype=object)
    ends = trials["datetime_complete"].dropna() if len(trials) else pd.Series(dtype=object)
    config = study_attrs.get("config") if isinstance(study_attrs.get("config"), dict) else {}
    failures = Counter(
        str(reason).split(":", 1)[0]
        for reason in trials.get("fail_reason", pd.Series(dtype=object)).dropna()
    )
    return {
        "n_trials": int(len(trials)),
        "states": {state: int(count) for state, count in sorted(states.items())},
        "rejected": int(trials["rejected"].sum()) if len(trials) else 0,
        "workers": workers,
        "hosts": hosts,
        "compute_hours": float(durations.sum()) / 3600.0,
        "first_start": min(starts) if len(starts) else None,
        "last_complete": max(ends) if len(ends) else None,
        "storage": storage_description(storage),
        "config_hash": study_attrs.get("config_hash"),
        "hashes": _hash_fields(config),
        "failure_reasons": dict(failures.most_common()),
        "study_versions": study_attrs.get("versions") or {},
        "versions": installed_versions(),
    }


def teacher_of(study_attrs: dict[str, Any], objective_hter: str) -> Teacher | None:
    """The teacher's reference point from the ``teacher`` study attribute, when present."""
    raw = study_attrs.get("teacher")
    if not isinstance(raw, dict):
        return None
    name = str(raw.get("name", "teacher"))
    gmacs = raw.get("gmacs")
    if gmacs is None and "ViT-B/16" in name:
        gmacs = VIT_B16_GMACS
    mean = raw.get("mean_hter") if isinstance(raw.get("mean_hter"), dict) else {}
    hter = raw.get("hter") if isinstance(raw.get("hter"), dict) else {}
    hter = {
        str(p): {str(k): float(v) for k, v in by.items()}
        for p, by in hter.items()
        if isinstance(by, dict)
    }
    mean = {str(k): float(v) for k, v in mean.items() if v is not None}
    if objective_hter not in mean and hter:
        values = [by[objective_hter] for by in hter.values() if objective_hter in by]
        if values and len(values) == len(hter):
            mean[objective_hter] = float(np.mean(values))
    return Teacher(
        name=name, gmacs=None if gmacs is None else float(gmacs), mean_hter=mean, hter=hter
    )


def leaderboard_frame(
    bench: pd.DataFrame,
    metrics: pd.DataFrame,
    protocols: Sequence[str],
    threshold: str,
    teacher: Teacher | None = None,
) -> pd.DataFrame:
    """The bench leaderboard: one row per (baseline, kd), mean and std over seeds.

    Columns: model, kd, kind (``teacher``/``baseline``), n_seeds, gmacs, n_params, latency_ms,
    ``mean_hter_mean``/``_std``, and ``<metric>_<P>_mean``/``_std`` for metric in hter, auc,
    tpr_at_fpr_1pct at ``threshold``. Standard deviations use ddof=1 (NaN for one seed). The
    teacher, when known, is the first row.
    """
    rows = []
    if teacher is not None:
        row: dict[str, Any] = {
            "model": teacher.name,
            "kd": None,
            "kind": "teacher",
            "n_seeds": None,
            "gmacs": teacher.gmacs,
            "mean_hter_mean": teacher.mean_hter.get(threshold),
        }
        for protocol in protocols:
            row[f"hter_{protocol}_mean"] = teacher.hter.get(protocol, {}).get(threshold)
        rows.append(row)
    done = bench[(bench["state"] == "COMPLETE") & ~bench["rejected"]] if len(bench) else bench
    if len(done) and "baseline" in done:
        at = metrics[metrics["threshold"] == threshold]
        wide = at.pivot_table(
            index="number", columns="protocol", values=["hter", "auc", "tpr_at_fpr_1pct"]
        )
        wide.columns = [f"{metric}_{protocol}" for metric, protocol in wide.columns]
        hter_cols = [f"hter_{p}" for p in protocols if f"hter_{p}" in wide]
        wide["mean_hter"] = wide[hter_cols].mean(axis=1) if hter_cols else np.nan
        # The seeds' mean HTER at ``threshold`` comes from their metrics; a trial without
        # metrics keeps its own objective value.
        joined = done.rename(columns={"mean_hter": "objective_hter"}).set_index("number")
        joined = joined.join(wide, how="left")
        if "objective_hter" in joined:
            joined["mean_hter"] = joined["mean_hter"].fillna(joined["objective_hter"])
        if "kd" not in joined:
            joined["kd"] = None
        value_cols = ["mean_hter"] + [
            f"{m}_{p}" for m in ("hter", "auc", "tpr_at_fpr_1pct") for p in protocols
        ]
        value_cols = [c for c in value_cols if c in joined]
        for (baseline, kd), group in joined.groupby(["baseline", "kd"], dropna=False, sort=True):
            row = {
                "model": baseline,
                "kd": None if kd is None or kd != kd else bool(kd),
                "kind": "baseline",
                "n_seeds": int(len(group)),
                "gmacs": float(group["gmacs"].mean()),
                "n_params": group["n_params"].mean() if "n_params" in group else None,
                "latency_ms": float(group["latency_ms"].mean()),
            }
            for column in value_cols:
                values = group[column].astype(float)
                row[f"{column}_mean"] = float(values.mean())
                row[f"{column}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            rows.append(row)
    frame = pd.DataFrame(rows)
    if len(frame) > 1:
        head, rest = frame.iloc[:1], frame.iloc[1:]
        if teacher is not None:
            rest = rest.sort_values("mean_hter_mean", kind="stable")
            frame = pd.concat([head, rest], ignore_index=True)
        else:
            frame = frame.sort_values("mean_hter_mean", kind="stable").reset_index(drop=True)
    return frame


# ----------------------------------------------------------------------------------------------
# Entry point


@dataclass
class _Study:
    storage: BaseStorage
    name: str
    directions: list[str]
    metric_names: list[str]
    user_attrs: dict[str, Any]
    trials: list[FrozenTrial]


def _read_study(storage: BaseStorage, study_name: str) -> _Study:
    import optuna

    study_id = study_id_of(storage, study_name)
    directions = [d.name.lower() for d in storage.get_study_directions(study_id)]
    study = optuna.load_study(study_name=study_name, storage=storage)
    names = study.metric_names or [f"objective {k}" for k in range(len(directions))]
    return _Study(
        storage=storage,
        name=study_name,
        directions=directions,
        metric_names=list(names),
        user_attrs=dict(storage.get_study_user_attrs(study_id)),
        trials=read_trials(storage, study_id),
    )


def _protocols_of(study: _Study) -> list[str]:
    config = study.user_attrs.get("config")
    if isinstance(config, dict) and isinstance(config.get("protocols"), list):
        return [str(p) for p in config["protocols"]]
    found = set()
    for trial in study.trials:
        found.update(k[8:] for k in trial.user_attrs if k.startswith("metrics."))
    return protocol_order(found)


def load_report_data(
    storage: str | BaseStorage,
    study_name: str,
    *,
    bench_study_name: str | None = None,
    hv_reference: tuple[float, float] | None = None,
    importances: bool = True,
) -> ReportData:
    """Read a study (and optionally its bench study) once and compute every report frame.

    Args:
        storage: A storage URL as :mod:`fasnas.storage` resolves them (``journal:x.journal``,
            ``sqlite:///x.db``, ``postgresql://...``, ``redis://...``) or an Optuna storage.
        study_name: The search study.
        bench_study_name: A ``fasnas bench`` study in the same storage; its baselines become
            the leaderboard and overlay points. See :func:`bench_study_name_for`.
        hv_reference: ``(hter, gmacs)`` bounding the hypervolume; default ``(0.5, 1.1 x the
            largest candidate GMACs)``.
        importances: Compute parameter importances (importing ``optuna.importance`` pulls in
            scikit-learn and SciPy: about 1 s of a 10,000-trial report here).

    Raises:
        StorageError: the storage cannot be opened, or a study is not in it.
    """
    given = storage
    storage = open_storage(storage)
    study = _read_study(storage, study_name)
    n_objectives = len(study.directions)
    objective_hter = objective_hter_of(study.user_attrs, study.metric_names)
    protocols = _protocols_of(study)
    trials = trials_frame(study.trials, n_objectives, protocols, objective_hter)
    metrics = protocol_frame(study.trials, protocols)
    hypervolume, reference = hypervolume_frame(trials, hv_reference)
    targets = [("mean HTER", 0)] + ([("GMACs", 1)] if n_objectives > 1 else [])
    eligible = set(trials.loc[trials["eligible"], "number"].tolist()) if len(trials) else set()
    if importances:
        importance, note = importance_frame(study.trials, eligible, study.directions, targets)
    else:
        importance = pd.DataFrame({"target": [], "param": [], "importance": []})
        note = "Parameter importances were turned off for this report."
    teacher = teacher_of(study.user_attrs, objective_hter)
    leaderboard = pd.DataFrame()
    if bench_study_name is not None:
        bench = _read_study(storage, bench_study_name)
        bench_protocols = protocol_order(set(protocols) | set(_protocols_of(bench)))
        bench_trials = trials_frame(
            bench.trials, len(bench.directions), bench_protocols, objective_hter
        )
        bench_metrics = protocol_frame(bench.trials, bench_protocols)
        if teacher is None:
            teacher = teacher_of(bench.user_attrs, objective_hter)
        leaderboard = leaderboard_frame(
            bench_trials, bench_metrics, bench_protocols, objective_hter, teacher
        )
    return ReportData(
        study_name=study_name,
        directions=study.directions,
        metric_names=study.metric_names,
        objective_hter=objective_hter,
        protocol_names=protocols,
        trials=trials,
        protocols=metrics,
        hypervolume=hypervolume,
        hv_reference=reference,
        importances=importance,
        importances_note=note,
        run_info=run_info(trials, given, study.user_attrs),
        teacher=teacher,
        baselines=leaderboard,
        bench_study_name=bench_study_name,
    )


def headline(data: ReportData) -> list[str]:
    """The headline numbers, as sentences shared by the page and ``summary.md``."""
    info = data.run_info
    states = info["states"]
    front = data.pareto
    lines = [
        f"{info['n_trials']} trials: {states.get('COMPLETE', 0)} complete "
        f"({len(front)} on the Pareto front; {info['rejected']} rejected for their budget, "
        f"not trained), {states.get('PRUNED', 0)} pruned, {states.get('FAIL', 0)} failed; "
        f"{info['compute_hours']:.1f} compute hours."
    ]
    if len(front):
        best = front.sort_values(["mean_hter", "gmacs"], kind="stable").iloc[0]
        cheapest = front.iloc[0]
        lines.append(
            f"Best mean HTER on the front: {100 * best['mean_hter']:.2f}% at "
            f"{best['gmacs']:.4g} GMACs (trial {int(best['number'])}, {best['family']}, "
            f"input {_size(best['img_size'])})."
        )
        lines.append(
            f"Cheapest front trial: {cheapest['gmacs']:.4g} GMACs at "
            f"{100 * cheapest['mean_hter']:.2f}% mean HTER (trial {int(cheapest['number'])}, "
            f"{cheapest['family']})."
        )
    else:
        lines.append("No trial is on the Pareto front yet.")
    teacher = data.teacher
    if teacher is not None:
        hter = teacher.mean_hter.get(data.objective_hter)
        hter_text = "HTER not recorded" if hter is None else f"{100 * hter:.2f}% mean HTER"
        gmacs_text = (
            "GMACs not recorded" if teacher.gmacs is None else f"{teacher.gmacs:.4g} GMACs"
        )
        lines.append(f"Teacher {teacher.name}: {hter_text} at {gmacs_text}.")
    if len(data.hypervolume):
        lines.append(
            f"Hypervolume: {data.hypervolume['hypervolume'].iloc[-1]:.4g} (reference: HTER "
            f"{data.hv_reference[0]:.2f}, {data.hv_reference[1]:.4g} GMACs)."
        )
    board = data.baselines
    if len(board) and (board["kind"] == "baseline").any():
        baselines = board[board["kind"] == "baseline"].sort_values("mean_hter_mean")
        top = baselines.iloc[0]
        kd = {True: "KD", False: "CE only"}.get(top["kd"], "")
        std = top.get("mean_hter_std")
        spread = "" if std is None or std != std else f" ± {100 * std:.2f}"
        lines.append(
            f"Best bench baseline: {top['model']}{f' ({kd})' if kd else ''}, "
            f"{100 * top['mean_hter_mean']:.2f}{spread}% mean HTER over {int(top['n_seeds'])} "
            f"seed(s) at {top['gmacs']:.4g} GMACs."
        )
    return lines


def _size(value: Any) -> str:
    try:
        return f"{int(value)} px"
    except (TypeError, ValueError):
        return "size not recorded"
