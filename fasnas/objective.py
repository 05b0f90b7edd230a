"""The two-objective trial: a student proposed by Optuna, trained on every protocol, scored.

Owns what one trial does. It samples a (StudentSpec, DistillSpec) from the search space, and
counts the student's cost from the spec alone. A spec over the FLOPs or latency budget is
rejected before any training; the budget is a hard constraint set on the trial
(``trial.set_constraint``, :func:`fasnas.record.set_budget_constraint`). Otherwise the student
is trained on the sources of each protocol, with knowledge distillation from the cached
teacher outputs, and tested on the held-out domain.

The trial returns ``(mean selection value over protocols, GMACs)`` (``, latency ms`` with
``objective.latency``: the median CPU latency, timed with its IQR after the trial's training
in this otherwise idle process, :meth:`StudentObjective.timed`). The selection value is what
``objective.select_on`` names (:mod:`fasnas.selection`): the source-validation EER by
default, which never looks at the target. Every protocol's source-validation metrics and both
target metric sets (test-EER and source threshold) go into the trial's record
(:mod:`fasnas.record`), never into the values unless the study selects on the target (an
oracle).
The training loss is composed from the trial's DistillSpec by :mod:`fasnas.distill.compose`.

A failing trial (NaN loss, out of memory, a student that cannot be built at that size) records
its reason in ``fail_reason`` and raises :class:`TrialFailed`, which the study catches so the
search goes on. A user error during a trial (the artifact store, a teacher or data file) is
recorded as ``artifact-store: ...`` or ``setup: ...`` and raised as is: the worker stops, and
``fasnas study resume`` retries the trial.

With an ``artifact_store``, each protocol's result and student weights are saved as Optuna
artifacts right after it finishes (:mod:`fasnas.search.artifacts`). A trial enqueued with a
seed (a retry, see :mod:`fasnas.search.recovery`, or a bench entry) trains with that seed; a
retry reuses the protocols its original finished instead of training them again.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from fasnas import loso, record, selection
from fasnas.config import StudyConfig
from fasnas.cost import spec_cost, spec_latency
from fasnas.data.frameset import study_frames
from fasnas.device import select_device
from fasnas.distill.compose import training_loss
from fasnas.errors import CheckpointError, FasnasError, StorageError
from fasnas.resident import ResidentFrames, bytes_needed, resident_mode
from fasnas.search.artifacts import reuse_protocols, save_protocol
from fasnas.search.recovery import trial_by_number
from fasnas.search.settings import ObjectiveSettings
from fasnas.students import StudentBuildError, create_student
from fasnas.teacher.cache import ensure_protocol_cache, protocol_outputs
from fasnas.teacher.resolve import load_protocol_teacher
from fasnas.train import Augment, evaluate_model, fit, predict_scores, seed_everything

REJECTED_HTER = 1.0  # placeholder value of a trial rejected for its budget (never on a front)


class TrialFailed(Exception):
    """A trial failed for a reason recorded in its ``fail_reason`` user attribute."""


def train_seconds(result: dict[str, Any]) -> float:
    """Seconds a protocol's students trained: the outer run and any inner folds."""
    inner = result.get(selection.INNER) or {}
    return result["train_seconds"] + sum(fold.get("train_seconds", 0.0) for fold in inner.values())


def trial_seed(study_seed: int, trial_number: int) -> int:
    """The seed of one trial's training, recorded in its user attributes."""
    return (study_seed * 1_000_003 + trial_number) % (2**31 - 1)


def describe_failure(error: BaseException) -> str:
    """A short, stable reason for a failed trial."""
    from fasnas.train import NonFiniteLossError

    if isinstance(error, NonFiniteLossError):
        return f"nan-loss: {error}"
    if isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in str(error).lower():
        return "out-of-memory"
    if isinstance(error, StudentBuildError):
        return f"build-failed: {error}"
    return f"{type(error).__name__}: {error}"


OnProtocol = Callable[[Any, str, dict[str, Any]], None]


def finite_or_fail(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise TrialFailed(f"non-finite {what}")
    return value


@dataclass
class PreparedProtocol:
    """What a worker loads once per protocol and reuses in every trial."""

    frames: Any  # ProtocolFrames
    outputs: Any  # TeacherOutputs, or None in online mode
    teacher: Any  # the teacher module in online mode, else None
    teacher_sha256: str
    embed_dim: int
    preprocess: Any  # the teacher's Preprocess (students take its statistics, their own size)
    resident: Any = None  # the source-train frames and outputs on the device (fasnas.resident)


class StudentObjective:
    """The Optuna objective of a study: one call trains and scores one student on every protocol.

    Frame sets and teacher outputs are prepared once per process and reused by every trial.
    ``after_protocol(trial, protocol, results_so_far)`` is called after each protocol; a hook
    (early stopping) may raise ``optuna.TrialPruned`` there.
    """

    def __init__(
        self,
        config: StudyConfig,
        space,
        settings: ObjectiveSettings | None = None,
        *,
        after_protocol: OnProtocol | None = None,
        progress: bool = False,
        artifact_store: Any = None,
        measure_latency: bool = False,
    ) -> None:

        self.config = config
        self.space = space
        self.settings = settings or config.objective
        self.measure_latency = measure_latency  # record CPU latency even when not an objective
        self.after_protocol = after_protocol
        self.progress = progress
        self.artifact_store = (
            artifact_store  # per-protocol artifacts (fasnas.search.artifacts) or None
        )
        self.device = select_device(config.device)
        self._prepared: dict[str, PreparedProtocol] = {}
        self._towers: dict[str, Any] = {}  # protocol -> the teacher's image tower (inherit)
        self.last_student: torch.nn.Module | None = None  # the student of the last protocol run

    def prepare(self, protocol: str) -> PreparedProtocol:
        """Open the frame caches and the teacher outputs of ``protocol`` (memoised)."""
        if protocol in self._prepared:
            return self._prepared[protocol]

        config = self.config
        teacher, info = load_protocol_teacher(config, protocol)
        frames = study_frames(config, protocol, progress=self.progress)
        online = config.teacher.mode == "online"
        outputs = None
        if not online:
            outputs = self._outputs(protocol, frames.source_train, info.file_sha256)
        prepared = PreparedProtocol(
            frames=frames,
            outputs=outputs,
            teacher=teacher.to(self.device).eval() if online else None,
            teacher_sha256=info.file_sha256,
            embed_dim=teacher.embed_dim,
            preprocess=teacher.preprocess,
            resident=self._resident(frames.source_train, outputs),
        )
        self._prepared[protocol] = prepared
        return prepared

    def teacher_tower(self, prepared: PreparedProtocol):
        """The image tower of ``prepared``'s teacher (``init: inherit``), loaded once, on CPU."""
        protocol = next(p for p, known in self._prepared.items() if known is prepared)
        if protocol not in self._towers:
            teacher, _ = load_protocol_teacher(self.config, protocol)
            self._towers[protocol] = teacher.image_tower()
        return self._towers[protocol]

    def _outputs(self, protocol: str, frames, teacher_sha256: str):
        """The cached teacher outputs of ``frames``, built here first (per-server lock:
        :func:`~fasnas.teacher.cache.ensure_protocol_cache`) when the cache is missing or stale."""
        config = self.config
        where = (config.data.cache_dir, protocol, frames, teacher_sha256)
        try:
            return protocol_outputs(*where, config.teacher.cache_dtype)
        except CheckpointError:
            ensure_protocol_cache(config, protocol)
            return protocol_outputs(*where, config.teacher.cache_dtype)

    def _resident(self, frames, outputs):
        """``frames`` (and their teacher ``outputs``) uploaded to the device, when
        ``search.resident_frames`` says so (:func:`fasnas.resident.resident_mode`)."""
        settings = self.config.search
        needed = bytes_needed(frames, outputs)
        if not len(frames) or not resident_mode(
            settings.resident_frames, self.device, needed, settings.device_memory_share
        ):
            return None
        return ResidentFrames(frames, outputs, self.device)

    def fit_student(self, prepared, student_spec, distill, seed: int, frames, outputs):
        """Train a fresh student on ``frames`` (teacher ``outputs`` of those frames), from the
        device-resident copy when the protocol has one.

        Returns:
            ``(student, norm, fitted)``.
        """
        seed_everything(seed)
        student = create_student(
            student_spec,
            embed_dim=prepared.embed_dim,
            weights_dir=self.config.weights_dir,
            teacher_tower=self.teacher_tower(prepared) if student_spec.init == "inherit" else None,
        )
        norm = prepared.preprocess.resized(student_spec.img_size)
        view = prepared.resident.view(frames) if prepared.resident is not None else None
        if view is not None and outputs is not None:
            outputs = view
        model = torch.compile(student) if self.config.search.compile else student
        loss_fn = training_loss(model, distill, outputs, online_teacher=prepared.teacher)
        fitted = fit(
            student,
            frames,
            loss_fn,
            norm=norm,
            iterations=distill.iterations,
            lr=distill.lr,
            weight_decay=distill.weight_decay,
            per_group=distill.batch_per_group,
            seed=seed,
            device=self.device,
            augment=Augment.scaled(distill.aug_strength) if distill.aug_strength > 0 else None,
            warmup_frac=distill.warmup_frac,
            progress=False,
            resident=view,
        )
        return student, norm, fitted

    def inner_folds(self, prepared, student_spec, distill, seed: int) -> dict[str, Any]:
        """The leave-one-source-out folds of a protocol (:mod:`fasnas.loso`), each with the
        seconds its training took (``train_seconds``)."""
        seconds: list[float] = []

        def fit_fold(frames, outputs):
            student, norm, fitted = self.fit_student(
                prepared, student_spec, distill, seed, frames, outputs
            )
            seconds.append(fitted.seconds)
            forward = lambda x: student(x)[0]  # noqa: E731
            return lambda fs: predict_scores(forward, fs, norm=norm, device=self.device)

        folds = loso.inner_folds(prepared.frames, prepared.outputs, fit_fold)
        for fold, spent in zip(folds.values(), seconds, strict=True):
            fold["train_seconds"] = spent
        return folds

    def run_protocol(self, protocol: str, student_spec, distill, seed: int) -> dict[str, Any]:
        """Train a fresh student on ``protocol``'s sources and score it on source validation
        and its target (and, for leave-one-source-out selection, its inner folds first)."""
        prepared = self.prepare(protocol)
        inner = None
        if self.settings.select_on == selection.LOSO:
            inner = self.inner_folds(prepared, student_spec, distill, seed)
        frames = prepared.frames
        student, norm, fitted = self.fit_student(
            prepared, student_spec, distill, seed, frames.source_train, prepared.outputs
        )
        start = time.perf_counter()
        metrics = evaluate_model(
            lambda x: student(x)[0],
            frames.source_val,
            frames.target_test,
            norm=norm,
            device=self.device,
        )
        self.last_student = student
        result = {
            **metrics,
            "train_seconds": fitted.seconds,
            "eval_seconds": time.perf_counter() - start,
            "final_loss": fitted.final_loss,
        }
        if inner is not None:
            result[selection.INNER] = inner
        return result

    def cost_of(self, trial, student_spec):
        """Count the spec's cost (from the spec alone) and record it, with the budget
        constraint, on the trial. Latency is timed here only for a latency budget (which
        must reject before training); :meth:`timed` times it after training."""

        settings = self.settings
        latency = (
            settings.latency or self.measure_latency
        ) and settings.max_latency_ms is not None
        cost = spec_cost(student_spec, latency=latency, runs=settings.latency_runs)
        record.write_cost(trial, cost)
        violations = [0.0]
        if settings.max_gmacs is not None:
            violations.append(cost.gmacs - settings.max_gmacs)
        if settings.max_latency_ms is not None and cost.latency_ms is not None:
            violations.append(cost.latency_ms - settings.max_latency_ms)
        record.set_budget_constraint(trial, max(violations))
        return cost, max(violations)

    def timed(self, trial, student_spec, cost):
        """``cost`` with the CPU latency (median and IQR) timed now, after the trial's
        training, with this process otherwise idle; recorded on the trial."""
        if not (self.settings.latency or self.measure_latency):
            return cost
        median, iqr = spec_latency(student_spec, runs=self.settings.latency_runs)
        cost = dataclasses.replace(cost, latency_ms=median, latency_iqr_ms=iqr)
        record.write_cost(trial, cost)
        return cost

    def selection_of(self, result: dict[str, Any]) -> float:
        """A protocol result's selection value (:func:`fasnas.selection.protocol_value`)."""
        return selection.protocol_value(result, self.settings.select_on, self.settings.hter)

    def values(self, mean_selection: float, cost) -> tuple[float, ...]:
        """The trial's objective values: the mean selection value, GMACs[, latency]."""
        values = (mean_selection, cost.gmacs)
        return values + (cost.latency_ms,) if self.settings.latency else values

    def trial_seed_of(self, trial) -> int:
        """A trial enqueued with a seed (a retry, a bench entry) keeps it; others derive one."""
        seed = record.TrialRecord.of(trial).seed
        return seed if seed is not None else trial_seed(self.config.seed, trial.number)

    def reused_protocols(self, trial) -> dict[str, dict[str, Any]]:
        """On a retry, the protocols its original finished (artifacts copied, ``reused_from``)."""
        original_number = record.TrialRecord.of(trial).retry_of
        if self.artifact_store is None or original_number is None:
            return {}

        original = trial_by_number(trial.study, original_number)
        results, skipped = reuse_protocols(
            trial, self.artifact_store, original, tuple(self.config.protocols)
        )
        if skipped:
            record.write_reuse_skipped(trial, skipped)
        return results

    def save_protocol(self, trial, protocol: str, result: dict[str, Any], seed: int) -> None:
        """Upload the protocol's result and student weights as artifacts (when a store is set)."""
        if self.artifact_store is None or self.last_student is None:
            return

        trial_record = record.TrialRecord.of(trial)
        context = {
            "seed": seed,
            "student_spec": trial_record.get(record.STUDENT_SPEC),
            "distill_spec": trial_record.get(record.DISTILL_SPEC),
        }
        save_protocol(trial, self.artifact_store, protocol, result, self.last_student, context)

    def __call__(self, trial) -> tuple[float, ...]:
        import optuna

        try:
            student_spec, distill = self.space.suggest(trial)
            seed = self.trial_seed_of(trial)
            record.write_spec(trial, seed, student_spec, distill)
            cost, violation = self.cost_of(trial, student_spec)
            if violation > 0:
                record.mark_rejected(trial, "over budget; not trained")
                return self.values(REJECTED_HTER, self.timed(trial, student_spec, cost))
            reused = self.reused_protocols(trial)
            per_protocol: dict[str, dict] = {}
            for protocol in self.config.protocols:
                if protocol in reused:
                    result = reused[protocol]
                else:
                    result = self.run_protocol(protocol, student_spec, distill, seed)
                    self.save_protocol(trial, protocol, result, seed)
                per_protocol[protocol] = result
                value = self.selection_of(result)
                record.write_protocol(trial, protocol, result, self.settings.hter, value)
                if self.after_protocol is not None:
                    self.after_protocol(trial, protocol, per_protocol)
            mean = float(np.mean([self.selection_of(r) for r in per_protocol.values()]))
            record.write_train_seconds(trial, sum(map(train_seconds, per_protocol.values())))
            cost = self.timed(trial, student_spec, cost)
            return self.values(finite_or_fail(mean, "selection metric"), cost)
        except optuna.TrialPruned:
            raise
        except Exception as error:  # noqa: BLE001 - every failure is recorded, the study goes on
            if isinstance(error, FasnasError) and not isinstance(error, StudentBuildError):
                # the setup (artifact store, data, teacher), not the architecture: the worker
                # stops with the error, and `study resume` retries the trial
                kind = "artifact-store" if isinstance(error, StorageError) else "setup"
                record.mark_failed(trial, f"{kind}: {error}")
                raise
            failed = isinstance(error, TrialFailed)
            reason = str(error) if failed else describe_failure(error)
            record.mark_failed(trial, reason)
            if failed:
                raise
            raise TrialFailed(reason) from error
