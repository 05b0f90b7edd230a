"""The two-objective trial: a student proposed by Optuna, trained on every protocol, scored.

Owns what one trial does. It samples a (StudentSpec, DistillSpec) from the search space, and
counts the student's cost from the spec alone. A spec over the FLOPs or latency budget is
rejected before any training; the budget is a hard constraint through Optuna's
``constraints_func``. Otherwise the student is trained on the sources of each protocol, with
knowledge distillation from the cached teacher outputs, and tested on the held-out domain.

The trial returns ``(mean HTER over protocols, GMACs)``, or ``(mean HTER, GMACs, latency ms)``.
The HTER used is ``test-eer`` (FLIP's convention, the default) or ``source-threshold``
(honest). Both metric sets, per protocol, go into the trial's user attributes.

A failing trial (NaN loss, out of memory, a student that cannot be built at that size) records
its reason in ``fail_reason`` and raises :class:`TrialFailed`, which the study catches so the
search goes on. A user error during a trial (the artifact store, a teacher or data file) is
recorded as ``artifact-store: ...`` or ``setup: ...`` and raised as is: the worker stops, and
``fasnas study resume`` retries the trial.

With an ``artifact_store``, each protocol's result and student weights are saved as Optuna
artifacts right after it finishes (:mod:`fasnas.artifacts`). A retried trial (user attribute
``retry_of``, see :mod:`fasnas.recovery`) keeps its original's seed and reuses the protocols
its original finished instead of training them again (``reused_from.<P>``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from fasnas.config import StudyConfig
from fasnas.errors import ConfigError

HTER_CHOICES = ("test-eer", "source-threshold")
REJECTED_HTER = 1.0  # placeholder value of a trial rejected for its budget (never on a front)


class TrialFailed(Exception):
    """A trial failed for a reason recorded in its ``fail_reason`` user attribute."""


@dataclass(frozen=True)
class ObjectiveSettings:
    """The ``objective:`` section of a study config."""

    hter: str = "test-eer"  # which HTER is minimised: test-eer (FLIP) or source-threshold
    latency: bool = False  # add measured CPU latency (batch 1, 1 thread) as a third objective
    max_gmacs: float | None = None  # hard budget, checked before training
    max_latency_ms: float | None = None  # hard budget, checked before training
    latency_runs: int = 20  # timed runs whose median is the latency

    @classmethod
    def from_config(cls, config: StudyConfig) -> ObjectiveSettings:
        raw = config.raw.get("objective") or {}
        where = f"{config.path}: objective"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping")
        names = set(cls.__dataclass_fields__)
        for key in raw:
            if key not in names:
                raise ConfigError(f"{where}.{key}: unknown key; valid keys are {sorted(names)}")
        settings = cls(**raw)
        if settings.hter not in HTER_CHOICES:
            raise ConfigError(
                f"{where}.hter: expected one of {list(HTER_CHOICES)}, got {settings.hter!r}"
            )
        for key in ("max_gmacs", "max_latency_ms"):
            value = getattr(settings, key)
            if value is not None and not (isinstance(value, int | float) and value > 0):
                raise ConfigError(f"{where}.{key}: expected a positive number, got {value!r}")
        return settings

    @property
    def directions(self) -> list[str]:
        return ["minimize"] * (3 if self.latency else 2)

    @property
    def metric_names(self) -> list[str]:
        names = [f"mean HTER ({self.hter})", "GMACs"]
        return names + ["CPU latency (ms)"] if self.latency else names


def constraints(trial) -> list[float]:
    """Optuna ``constraints_func``: values <= 0 are feasible (budgets stored by the trial)."""
    return list(trial.user_attrs.get("constraints", [0.0]))


def trial_seed(study_seed: int, trial_number: int) -> int:
    """The seed of one trial's training, recorded in its user attributes."""
    return (study_seed * 1_000_003 + trial_number) % (2**31 - 1)


def distillation_loss(student: torch.nn.Module, distill, outputs, *, online_teacher=None):
    """The student's training loss: CE + Hinton KD + feature + text alignment, as weighted.

    ``outputs`` are the cached :class:`~fasnas.teacher.cache.TeacherOutputs` of the training
    frames; with ``online_teacher`` the teacher runs on the (augmented) batch instead.
    """
    from fasnas import distill as losses

    text = None if outputs is None else outputs.text
    if online_teacher is not None and hasattr(online_teacher, "class_text_embeddings"):
        text = online_teacher.class_text_embeddings().detach().float().cpu().numpy()

    def loss_fn(images: torch.Tensor, labels: torch.Tensor, index: np.ndarray) -> torch.Tensor:
        logits, embedding = student(images)
        logits, embedding = logits.float(), embedding.float()
        if online_teacher is not None:
            with torch.no_grad():
                t_logits = online_teacher(images).float()
                t_emb = online_teacher.embed(images).float()
        else:
            t_logits = torch.from_numpy(outputs.logits(index)).to(images.device)
            t_emb = torch.from_numpy(outputs.embeddings(index)).to(images.device)
        loss = distill.w_ce * losses.cross_entropy(logits, labels)
        if distill.w_kd:
            loss = loss + distill.w_kd * losses.hinton_kd(logits, t_logits, distill.temperature)
        if distill.w_feat:
            loss = loss + distill.w_feat * losses.feature_distillation(
                embedding, t_emb, distill.feat_loss
            )
        if distill.w_text and text is not None:
            text_emb = torch.from_numpy(np.asarray(text, dtype=np.float32)).to(images.device)
            loss = loss + distill.w_text * losses.text_alignment_loss(
                embedding,
                text_emb,
                distill.text_logit_scale,
                labels,
                teacher_logits=t_logits,
                temperature=distill.temperature,
            )
        return loss

    return loss_fn


def describe_failure(error: BaseException) -> str:
    """A short, stable reason for a failed trial."""
    from fasnas.students import StudentBuildError
    from fasnas.train import NonFiniteLossError

    if isinstance(error, NonFiniteLossError):
        return f"nan-loss: {error}"
    if isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in str(error).lower():
        return "out-of-memory"
    if isinstance(error, StudentBuildError):
        return f"build-failed: {error}"
    return f"{type(error).__name__}: {error}"


def summarise(per_protocol: dict[str, dict], hter: str) -> float:
    """Mean over protocols of the chosen HTER."""
    return float(np.mean([result[hter]["hter"] for result in per_protocol.values()]))


def record_protocol(trial, protocol: str, result: dict[str, Any], hter: str) -> None:
    """Store one protocol's metrics (both thresholds), time and seed in user attributes."""
    trial.set_user_attr(f"metrics.{protocol}", result)
    trial.set_user_attr(f"hter.{protocol}", result[hter]["hter"])


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
    ) -> None:
        from fasnas.train import select_device

        self.config = config
        self.space = space
        self.settings = settings or ObjectiveSettings.from_config(config)
        self.after_protocol = after_protocol
        self.progress = progress
        self.artifact_store = artifact_store  # per-protocol artifacts (fasnas.artifacts) or None
        self.device = select_device(config.device)
        self._prepared: dict[str, PreparedProtocol] = {}
        self.last_student: torch.nn.Module | None = None  # the student of the last protocol run

    def prepare(self, protocol: str) -> PreparedProtocol:
        """Open the frame caches and the teacher outputs of ``protocol`` (memoised)."""
        if protocol in self._prepared:
            return self._prepared[protocol]
        from fasnas.data.frameset import study_frames
        from fasnas.teacher.cache import protocol_outputs
        from fasnas.teacher.resolve import load_protocol_teacher

        config = self.config
        teacher, info = load_protocol_teacher(config, protocol)
        frames = study_frames(config, protocol, progress=self.progress)
        online = config.teacher.mode == "online"
        outputs = None
        if not online:
            outputs = protocol_outputs(
                config.data.cache_dir, protocol, frames.source_train, info.file_sha256
            )
        prepared = PreparedProtocol(
            frames=frames,
            outputs=outputs,
            teacher=teacher.to(self.device).eval() if online else None,
            teacher_sha256=info.file_sha256,
            embed_dim=teacher.embed_dim,
            preprocess=teacher.preprocess,
        )
        self._prepared[protocol] = prepared
        return prepared

    def run_protocol(self, protocol: str, student_spec, distill, seed: int) -> dict[str, Any]:
        """Train a fresh student on ``protocol``'s sources and score it on its target."""
        from fasnas.students import create_student
        from fasnas.train import Augment, evaluate_model, fit, seed_everything

        prepared = self.prepare(protocol)
        seed_everything(seed)
        student = create_student(student_spec, embed_dim=prepared.embed_dim)
        norm = prepared.preprocess.resized(student_spec.img_size)
        loss_fn = distillation_loss(
            student, distill, prepared.outputs, online_teacher=prepared.teacher
        )
        fitted = fit(
            student,
            prepared.frames.source_train,
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
        )
        start = time.perf_counter()
        metrics = evaluate_model(
            lambda x: student(x)[0],
            prepared.frames.source_val,
            prepared.frames.target_test,
            norm=norm,
            device=self.device,
        )
        self.last_student = student
        return {
            **metrics,
            "train_seconds": fitted.seconds,
            "eval_seconds": time.perf_counter() - start,
            "final_loss": fitted.final_loss,
        }

    def cost_of(self, trial, student_spec):
        """Count the spec's cost (from the spec alone) and record it, with the budget
        constraints, on the trial."""
        from fasnas.cost import spec_cost

        settings = self.settings
        cost = spec_cost(student_spec, latency=settings.latency, runs=settings.latency_runs)
        trial.set_user_attr("gmacs", cost.gmacs)
        trial.set_user_attr("params", cost.params)
        trial.set_user_attr("unsupported_ops", cost.unsupported_ops)
        if cost.latency_ms is not None:
            trial.set_user_attr("latency_ms", cost.latency_ms)
        violations = [0.0]
        if settings.max_gmacs is not None:
            violations.append(cost.gmacs - settings.max_gmacs)
        if settings.max_latency_ms is not None and cost.latency_ms is not None:
            violations.append(cost.latency_ms - settings.max_latency_ms)
        trial.set_user_attr("constraints", [max(violations)])
        return cost

    def values(self, mean_hter: float, cost) -> tuple[float, ...]:
        values = (mean_hter, cost.gmacs)
        return values + (cost.latency_ms,) if self.settings.latency else values

    def trial_seed_of(self, trial) -> int:
        """A retry (``retry_of``) keeps its original's seed; other trials derive one."""
        seed = trial.user_attrs.get("seed")
        if "retry_of" in trial.user_attrs and isinstance(seed, int):
            return seed
        return trial_seed(self.config.seed, trial.number)

    def reused_protocols(self, trial) -> dict[str, dict[str, Any]]:
        """On a retry, the protocols its original finished (artifacts copied, ``reused_from``)."""
        original_number = trial.user_attrs.get("retry_of")
        if self.artifact_store is None or not isinstance(original_number, int):
            return {}
        from fasnas.artifacts import reuse_protocols
        from fasnas.recovery import trial_by_number

        original = trial_by_number(trial.study, original_number)
        results, skipped = reuse_protocols(
            trial, self.artifact_store, original, tuple(self.config.protocols)
        )
        if skipped:
            trial.set_user_attr("reuse_skipped", skipped)
        return results

    def save_protocol(self, trial, protocol: str, result: dict[str, Any], seed: int) -> None:
        """Upload the protocol's result and student weights as artifacts (when a store is set)."""
        if self.artifact_store is None or self.last_student is None:
            return
        from fasnas.artifacts import save_protocol

        context = {
            "seed": seed,
            "student_spec": trial.user_attrs.get("student_spec"),
            "distill_spec": trial.user_attrs.get("distill_spec"),
        }
        save_protocol(trial, self.artifact_store, protocol, result, self.last_student, context)

    def __call__(self, trial) -> tuple[float, ...]:
        import optuna

        from fasnas.errors import FasnasError, StorageError
        from fasnas.students import StudentBuildError

        try:
            student_spec, distill = self.space.suggest(trial)
            seed = self.trial_seed_of(trial)
            trial.set_user_attr("seed", seed)
            trial.set_user_attr("family", student_spec.family)
            trial.set_user_attr("img_size", student_spec.img_size)
            trial.set_user_attr("student_spec", student_spec.to_dict())
            trial.set_user_attr("distill_spec", distill.to_dict())
            cost = self.cost_of(trial, student_spec)
            if trial.user_attrs["constraints"][0] > 0:
                trial.set_user_attr("rejected", "over budget; not trained")
                return self.values(REJECTED_HTER, cost)
            reused = self.reused_protocols(trial)
            per_protocol: dict[str, dict] = {}
            for protocol in self.config.protocols:
                if protocol in reused:
                    result = reused[protocol]
                else:
                    result = self.run_protocol(protocol, student_spec, distill, seed)
                    self.save_protocol(trial, protocol, result, seed)
                per_protocol[protocol] = result
                record_protocol(trial, protocol, result, self.settings.hter)
                if self.after_protocol is not None:
                    self.after_protocol(trial, protocol, per_protocol)
            mean_hter = summarise(per_protocol, self.settings.hter)
            trial.set_user_attr(
                "train_seconds", sum(r["train_seconds"] for r in per_protocol.values())
            )
            return self.values(finite_or_fail(mean_hter, "HTER"), cost)
        except optuna.TrialPruned:
            raise
        except Exception as error:  # noqa: BLE001 - every failure is recorded, the study goes on
            if isinstance(error, FasnasError) and not isinstance(error, StudentBuildError):
                # the setup (artifact store, data, teacher), not the architecture: the worker
                # stops with the error, and `study resume` retries the trial
                kind = "artifact-store" if isinstance(error, StorageError) else "setup"
                trial.set_user_attr("fail_reason", f"{kind}: {error}")
                raise
            failed = isinstance(error, TrialFailed)
            reason = str(error) if failed else describe_failure(error)
            trial.set_user_attr("fail_reason", reason)
            if failed:
                raise
            raise TrialFailed(reason) from error
