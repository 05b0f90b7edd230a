"""Trial and study records: the only code that knows the user-attribute key strings.

Owns the schema of what fasnas stores on an Optuna trial and study besides the objective
values: :class:`TrialRecord` reads a trial's user attributes, the ``write_*`` / ``mark_*``
functions write them, and :class:`StudyRecord` does the same for a study. Every other module
goes through here, so renaming a key or adding one is a change to this file alone.

The budget constraint goes through Optuna's ``trial.set_constraint`` (Optuna >= 5), not the
deprecated ``constraints_func``; a trial is feasible when every constraint value is <= 0.

A trial's record (keys as stored)::

    seed, family, img_size, student_spec, distill_spec   what was trained, with which seed
    gmacs, params, unsupported_ops, latency_ms            its cost, from the spec alone
    rejected                                              over budget, never trained
    metrics.<P>, hter.<P>, selection.<P>                  per-protocol metrics, target HTER,
                                                          selection value (fasnas.selection)
    train_seconds                                         training time over all protocols
    fail_reason | prune_reason, partial_hter, partial_protocols
    retry_of, retry_count, retry_root, retry_reason       crash recovery (fasnas.search.recovery)
    artifact.<P>, reused_from.<P>, reuse_skipped          per-protocol artifacts
    worker, heartbeat                                     who runs it, last sign of life
    baseline, kd, bench_seed                              a bench entry (fixed trial)
    confirm_of, confirm_index                             a confirmation: trial confirmed,
                                                          which of its new seeds (fixed trial)

``worker`` is ``{host, pid, pid_start, index, join, seed}``: ``join`` is the worker's join index
(its entry in the study's ledger) and ``seed`` its sampler seed. The ledger (``<study>-ledger``,
:mod:`fasnas.search.ledger`) holds one trial per joining worker (its ``worker``) and one per
claim (``claim``: e.g. ``retry.<n>``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# ---------------------------------------------------------------------------- trial keys
SEED = "seed"
FAMILY = "family"
IMG_SIZE = "img_size"
STUDENT_SPEC = "student_spec"
DISTILL_SPEC = "distill_spec"
GMACS = "gmacs"
PARAMS = "params"
UNSUPPORTED_OPS = "unsupported_ops"
LATENCY_MS = "latency_ms"
LATENCY_IQR_MS = "latency_iqr_ms"
REJECTED = "rejected"
TRAIN_SECONDS = "train_seconds"
FAIL_REASON = "fail_reason"
PRUNE_REASON = "prune_reason"
PARTIAL_HTER = "partial_hter"
PARTIAL_PROTOCOLS = "partial_protocols"
RETRY_OF = "retry_of"
RETRY_COUNT = "retry_count"
RETRY_ROOT = "retry_root"
RETRY_REASON = "retry_reason"
REUSE_SKIPPED = "reuse_skipped"
WORKER = "worker"
HEARTBEAT = "heartbeat"
BASELINE = "baseline"
KD = "kd"
BENCH_SEED = "bench_seed"
CONFIRM_OF = "confirm_of"
CONFIRM_INDEX = "confirm_index"
CLAIM = "claim"  # a ledger entry's claim key
WORKER_JOIN = "join"  # in ``worker``: the join index (ledger entry number)
WORKER_SEED = "seed"  # in ``worker``: the sampler seed
_METRICS = "metrics."
_HTER = "hter."
_SELECTION = "selection."
_ARTIFACTS = "artifact."
_REUSED = "reused_from."

BUDGET_CONSTRAINT = "budget"  # the trial's one constraint: max(budget violations), <= 0 is fine

# ---------------------------------------------------------------------------- study keys
CONFIG = "config"
CONFIG_HASH = "config_hash"
CREATED_AT = "created_at"
BUDGET = "budget"
OBJECTIVE_HTER = "objective_hter"
SELECT_ON = "select_on"
SEARCH = "search"
VERSIONS = "versions"
TEACHER = "teacher"
_RETRIED_BY = "retried_by."


BENCH_SUFFIX = "-bench"  # the bench study of study X is X-bench
CONFIRM_SUFFIX = "-confirm"  # the confirmations of study X's candidates are in X-confirm
LEDGER_SUFFIX = "-ledger"  # joins and claims of study X (fasnas.search.ledger) are in X-ledger


def bench_study_name(study_name: str) -> str:
    """The ``fasnas bench`` study that goes with a search study: ``<name>-bench``."""
    return study_name + BENCH_SUFFIX


def confirm_study_name(study_name: str) -> str:
    """The ``fasnas study confirm`` study that goes with a search study: ``<name>-confirm``."""
    return study_name + CONFIRM_SUFFIX


def metrics_key(protocol: str) -> str:
    """The key of one protocol's metrics dict."""
    return f"{_METRICS}{protocol}"


def hter_key(protocol: str) -> str:
    """The key of one protocol's objective HTER."""
    return f"{_HTER}{protocol}"


def selection_key(protocol: str) -> str:
    """The key of one protocol's selection value (:mod:`fasnas.selection`)."""
    return f"{_SELECTION}{protocol}"


def artifacts_key(protocol: str) -> str:
    """The key of one protocol's artifact ids."""
    return f"{_ARTIFACTS}{protocol}"


def reused_key(protocol: str) -> str:
    """The key naming the trial whose protocol result a retry reused."""
    return f"{_REUSED}{protocol}"


def ledger_study_name(study_name: str) -> str:
    """The companion study holding joins and claims of a study: ``<name>-ledger``."""
    return study_name + LEDGER_SUFFIX


def retry_claim_key(number: int) -> str:
    """The ledger claim of the one retry of trial ``number``."""
    return f"retry.{number}"


def join_attrs(worker: dict[str, Any]) -> dict[str, Any]:
    """The user attributes of a ledger entry recording a joining worker."""
    return {WORKER: dict(worker)}


def claim_attrs(key: str, worker: dict[str, Any]) -> dict[str, Any]:
    """The user attributes of a ledger entry claiming ``key`` for ``worker``."""
    return {CLAIM: key, WORKER: dict(worker)}


def retried_by_key(number: int) -> str:
    """The study key claiming the retry of trial ``number``."""
    return f"{_RETRIED_BY}{number}"


@dataclass(frozen=True)
class TrialRecord:
    """A read view of one trial's user attributes (a FrozenTrial's, or a plain mapping)."""

    attrs: Mapping[str, Any]

    @classmethod
    def of(cls, trial: Any) -> TrialRecord:
        """The record of an Optuna trial or FrozenTrial."""
        return cls(trial.user_attrs)

    def get(self, key: str, default: Any = None) -> Any:
        """A raw value by one of this module's key constants."""
        return self.attrs.get(key, default)

    @property
    def family(self) -> str:
        return str(self.attrs.get(FAMILY, "?"))

    @property
    def init(self) -> str:
        """How the student's weights started (``StudentSpec.init``; scratch when unrecorded)."""
        spec = self.attrs.get(STUDENT_SPEC)
        init = spec.get("init") if isinstance(spec, Mapping) else None
        return str(init) if isinstance(init, str) else "scratch"

    @property
    def family_label(self) -> str:
        """The family, with ``+<init>`` when the weights did not start from scratch."""
        return self.family if self.init == "scratch" else f"{self.family}+{self.init}"

    @property
    def seed(self) -> int | None:
        seed = self.attrs.get(SEED)
        return seed if isinstance(seed, int) and not isinstance(seed, bool) else None

    @property
    def gmacs(self) -> float | None:
        return self.attrs.get(GMACS)

    @property
    def rejected(self) -> str | None:
        return self.attrs.get(REJECTED)

    @property
    def fail_reason(self) -> str | None:
        return self.attrs.get(FAIL_REASON)

    @property
    def reason(self) -> str | None:
        """Why the trial did not complete: its fail or prune reason."""
        return self.attrs.get(FAIL_REASON) or self.attrs.get(PRUNE_REASON)

    @property
    def retry_of(self) -> int | None:
        value = self.attrs.get(RETRY_OF)
        return value if isinstance(value, int) else None

    @property
    def is_retry(self) -> bool:
        return RETRY_OF in self.attrs

    @property
    def is_fixed(self) -> bool:
        """A trial enqueued with fixed settings (a retry, a bench entry or a confirmation),
        not sampled."""
        return RETRY_OF in self.attrs or BASELINE in self.attrs or CONFIRM_OF in self.attrs

    @property
    def retry_count(self) -> int:
        return int(self.attrs.get(RETRY_COUNT, 0))

    @property
    def worker(self) -> dict[str, Any]:
        return self.attrs.get(WORKER) or {}

    @property
    def heartbeat(self) -> float | None:
        return self.attrs.get(HEARTBEAT)

    @property
    def join_index(self) -> int | None:
        """The join index of the worker that ran the trial (None before issue 16)."""
        return self.worker.get(WORKER_JOIN)

    @property
    def sampler_seed(self) -> int | None:
        """The sampler seed of the worker that ran the trial."""
        return self.worker.get(WORKER_SEED)

    @property
    def claim(self) -> str | None:
        """A ledger entry's claim key (None for a join entry)."""
        return self.attrs.get(CLAIM)

    def metrics(self, protocol: str) -> dict[str, Any] | None:
        """One protocol's metrics (``{"test-eer": {...}, "source-threshold": {...}, ...}``)."""
        found = self.attrs.get(metrics_key(protocol))
        return found if isinstance(found, dict) else None

    def objective_hters(self) -> dict[str, Any]:
        """``{protocol: objective HTER}`` of every protocol done, in stored order."""
        return {key[len(_HTER) :]: v for key, v in self.attrs.items() if key.startswith(_HTER)}

    def selection_values(self) -> dict[str, Any]:
        """``{protocol: selection value}`` of every protocol done; a trial made before
        ``select_on`` existed selected on its objective HTER, which stands in for it."""
        found = {
            key[len(_SELECTION) :]: v
            for key, v in self.attrs.items()
            if key.startswith(_SELECTION)
        }
        return found or self.objective_hters()

    def metric_protocols(self) -> list[str]:
        """Every protocol that has metrics, in stored order."""
        return [key[len(_METRICS) :] for key in self.attrs if key.startswith(_METRICS)]

    def done_protocols(self, protocols: Iterable[str]) -> tuple[str, ...]:
        """Those of ``protocols`` whose metrics are recorded."""
        return tuple(p for p in protocols if metrics_key(p) in self.attrs)

    def artifact_ids(self, protocol: str) -> Any:
        return self.attrs.get(artifacts_key(protocol))

    def finished_protocols(self, protocols: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The protocols the trial finished, ``{P: {"result": id, "weights": id}}``: those whose
        result and weights are saved, which a retry takes over. Status and recovery both read
        this one rule (metrics are written after the artifacts, so a trial killed in between
        finished the protocol all the same)."""
        found = {}
        for protocol in protocols:
            ids = self.artifact_ids(protocol)
            if isinstance(ids, dict) and {"result", "weights"} <= set(ids):
                found[protocol] = ids
        return found

    @property
    def bench_key(self) -> tuple[str, bool, int] | None:
        """``(baseline, kd, bench_seed)`` of a bench entry, else None."""
        if not {BASELINE, KD, BENCH_SEED} <= set(self.attrs):
            return None
        return (self.attrs[BASELINE], bool(self.attrs[KD]), self.attrs[BENCH_SEED])

    @property
    def confirm_key(self) -> tuple[int, int] | None:
        """``(confirmed trial number, seed index)`` of a confirmation, else None."""
        if not {CONFIRM_OF, CONFIRM_INDEX} <= set(self.attrs):
            return None
        return (int(self.attrs[CONFIRM_OF]), int(self.attrs[CONFIRM_INDEX]))

    @property
    def student_spec(self) -> dict[str, Any] | None:
        found = self.attrs.get(STUDENT_SPEC)
        return found if isinstance(found, dict) else None

    @property
    def distill_spec(self) -> dict[str, Any] | None:
        found = self.attrs.get(DISTILL_SPEC)
        return found if isinstance(found, dict) else None


# ---------------------------------------------------------------------------- trial writers


def write_spec(trial: Any, seed: int, student_spec: Any, distill_spec: Any) -> None:
    """What the trial trains: seed, family, input size and both specs."""
    trial.set_user_attr(SEED, seed)
    trial.set_user_attr(FAMILY, student_spec.family)
    trial.set_user_attr(IMG_SIZE, student_spec.img_size)
    trial.set_user_attr(STUDENT_SPEC, student_spec.to_dict())
    trial.set_user_attr(DISTILL_SPEC, distill_spec.to_dict())


def write_cost(trial: Any, cost: Any) -> None:
    """The student's cost: GMACs, parameters, unsupported ops, latency when measured."""
    trial.set_user_attr(GMACS, cost.gmacs)
    trial.set_user_attr(PARAMS, cost.params)
    trial.set_user_attr(UNSUPPORTED_OPS, cost.unsupported_ops)
    if cost.latency_ms is not None:
        trial.set_user_attr(LATENCY_MS, cost.latency_ms)
    if getattr(cost, "latency_iqr_ms", None) is not None:
        trial.set_user_attr(LATENCY_IQR_MS, cost.latency_iqr_ms)


def set_budget_constraint(trial: Any, violation: float) -> None:
    """The budget constraint (<= 0: within every budget), through ``trial.set_constraint``."""
    trial.set_constraint(BUDGET_CONSTRAINT, float(violation))


def budget_violation(trial: Any) -> float | None:
    """The trial's budget constraint value, or None when it has none (an older study's list
    format is read too)."""
    constraints = getattr(trial, "constraints", None) or {}
    if constraints:
        return max(float(v) for v in constraints.values())
    legacy = trial.user_attrs.get("constraints")
    return max(legacy) if isinstance(legacy, list) and legacy else None


def mark_rejected(trial: Any, reason: str) -> None:
    trial.set_user_attr(REJECTED, reason)


def write_protocol(
    trial: Any, protocol: str, result: dict[str, Any], hter: str, selection: float
) -> None:
    """One protocol's metrics (source-val, both target thresholds, times, loss), its target
    HTER at the objective's threshold, and its selection value."""
    trial.set_user_attr(metrics_key(protocol), result)
    trial.set_user_attr(hter_key(protocol), result[hter]["hter"])
    trial.set_user_attr(selection_key(protocol), selection)


def write_train_seconds(trial: Any, seconds: float) -> None:
    trial.set_user_attr(TRAIN_SECONDS, seconds)


def mark_failed(trial: Any, reason: str) -> None:
    trial.set_user_attr(FAIL_REASON, reason)


def mark_pruned(trial: Any, reason: str, partial_hter: float, done: list[str]) -> None:
    trial.set_user_attr(PRUNE_REASON, reason)
    trial.set_user_attr(PARTIAL_HTER, partial_hter)
    trial.set_user_attr(PARTIAL_PROTOCOLS, done)


def write_worker(trial: Any, info: dict[str, Any]) -> None:
    trial.set_user_attr(WORKER, info)


def write_heartbeat(storage: Any, trial_id: int, when: float) -> None:
    """A heartbeat written straight to the storage (the heartbeat thread has no Trial)."""
    storage.set_trial_user_attr(trial_id, HEARTBEAT, when)


def mark_failed_in_storage(storage: Any, trial_id: int, reason: str) -> None:
    storage.set_trial_user_attr(trial_id, FAIL_REASON, reason)


def write_artifacts(trial: Any, protocol: str, ids: Any) -> None:
    trial.set_user_attr(artifacts_key(protocol), ids)


def write_reused(trial: Any, protocol: str, ids: Any, original_number: int) -> None:
    trial.set_user_attr(artifacts_key(protocol), ids)
    trial.set_user_attr(reused_key(protocol), original_number)


def write_reuse_skipped(trial: Any, skipped: Any) -> None:
    trial.set_user_attr(REUSE_SKIPPED, skipped)


# What a fixed entry (bench entry, confirmation) is; a retry of one keeps it.
_ENTRY_KEYS = (BASELINE, KD, BENCH_SEED, CONFIRM_OF, CONFIRM_INDEX, STUDENT_SPEC, DISTILL_SPEC)


def retry_attrs(original: TrialRecord, number: int, reason: str) -> dict[str, Any]:
    """The user attributes of a retry of trial ``number``: the chain links, the original's
    seed (a retry reproduces it) and, for a bench entry or a confirmation, which entry it is."""
    attrs: dict[str, Any] = {
        RETRY_OF: number,
        RETRY_ROOT: int(original.attrs.get(RETRY_ROOT, number)),
        RETRY_COUNT: original.retry_count + 1,
        RETRY_REASON: reason,
    }
    if original.seed is not None:
        attrs[SEED] = original.seed
    if original.bench_key is not None or original.confirm_key is not None:
        attrs.update({key: original.attrs[key] for key in _ENTRY_KEYS if key in original.attrs})
    return attrs


def bench_attrs(model: str, kd: bool, seed: int) -> dict[str, Any]:
    """The user attributes of a bench entry (enqueued as a fixed trial)."""
    return {BASELINE: model, KD: kd, BENCH_SEED: seed, SEED: seed}


def confirm_attrs(
    number: int, index: int, seed: int, student_spec: dict[str, Any], distill_spec: dict[str, Any]
) -> dict[str, Any]:
    """The user attributes of a confirmation: seed ``index`` of trial ``number`` re-trained
    with ``seed`` and the trial's own specs (enqueued as a fixed trial)."""
    return {
        CONFIRM_OF: number,
        CONFIRM_INDEX: index,
        SEED: seed,
        STUDENT_SPEC: dict(student_spec),
        DISTILL_SPEC: dict(distill_spec),
    }


# ---------------------------------------------------------------------------- the study


@dataclass(frozen=True)
class StudyRecord:
    """A read view of a study's user attributes."""

    attrs: Mapping[str, Any]

    @classmethod
    def of(cls, study: Any) -> StudyRecord:
        return cls(study.user_attrs)

    @property
    def config(self) -> dict[str, Any] | None:
        found = self.attrs.get(CONFIG)
        return found if isinstance(found, dict) else None

    @property
    def config_hash(self) -> str | None:
        return self.attrs.get(CONFIG_HASH)

    @property
    def created_at(self) -> float | None:
        return self.attrs.get(CREATED_AT)

    @property
    def budget(self) -> dict[str, Any]:
        return self.attrs.get(BUDGET) or {}

    @property
    def objective_hter(self) -> str | None:
        return self.attrs.get(OBJECTIVE_HTER)

    @property
    def select_on(self) -> str | None:
        return self.attrs.get(SELECT_ON)

    @property
    def search(self) -> dict[str, Any]:
        return self.attrs.get(SEARCH) or {}

    @property
    def teacher(self) -> dict[str, Any] | None:
        found = self.attrs.get(TEACHER)
        return found if isinstance(found, dict) else None

    @property
    def versions(self) -> dict[str, Any]:
        """Package versions recorded when the study was created (``{}`` when none)."""
        return self.attrs.get(VERSIONS) or {}

    def retried_by(self) -> dict[int, int]:
        """``{original number: retry number}`` of every claimed retry."""
        found = {}
        for key, value in self.attrs.items():
            if key.startswith(_RETRIED_BY):
                found[int(key[len(_RETRIED_BY) :])] = value
        return found


def write_study(study: Any, **values: Any) -> None:
    """Set study attributes by their constant names, e.g. ``write_study(s, budget=...)``.

    Keys are this module's study key constants' values (config, config_hash, created_at,
    budget, objective_hter, search, versions, teacher); an unknown key is a bug.
    """
    known = {
        CONFIG,
        CONFIG_HASH,
        CREATED_AT,
        BUDGET,
        OBJECTIVE_HTER,
        SELECT_ON,
        SEARCH,
        VERSIONS,
        TEACHER,
    }
    for key, value in values.items():
        if key not in known:
            raise KeyError(f"not a study record key: {key!r}")
        study.set_user_attr(key, value)


def claim_retry(study: Any, number: int, retry_number: int) -> None:
    study.set_user_attr(retried_by_key(number), retry_number)
