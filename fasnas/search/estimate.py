"""``fasnas study estimate``: the device-hours a study's budget will take, before it runs.

Owns the estimate. It samples ``samples`` configurations of the study's space (a seeded random
sampler on an in-memory study: nothing is written to the study's storage), builds each student
on the configured device, and times ``steps`` real training steps of it (forward, the
distillation loss against teacher outputs, backward, AdamW step) on random device-resident
batches of the study's shape: one batch holds ``batch_per_group`` images of each (domain,
class) group of a protocol's sources. Per configuration:

    trial seconds = seconds per step x iterations x protocols x (1 + inner folds)

(inner folds: ``select_on: leave-one-source-out`` trains one more student per source). The
study's estimate is the mean over the samples times the trial budget (``search.n_trials``),
divided by the local worker slots for the wall time. Not counted: evaluation, the data path
(device-resident batches cost little; ``benchmarks/gpu_check.sh`` measures the real loop
against this pure one) and start-up. When the study exists and early stopping has pruned
trials, the measured share of protocol runs it saved is applied as a second figure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from fasnas import record, selection
from fasnas.config import StudyConfig
from fasnas.data.protocols import config_protocol
from fasnas.errors import ConfigError
from fasnas.search.fingerprint import require_space

EMBED_DIM = 512  # CLIP ViT-B/16's embedding width: the student's projection head targets it


@dataclass(frozen=True)
class SampleTiming:
    """One sampled configuration: what it is and how long a step and a trial take."""

    label: str
    gmacs: float | None
    step_seconds: float
    trial_seconds: float


@dataclass
class Estimate:
    """The study's estimate; hours are device-hours (GPU or CPU, as ``device`` says)."""

    device: str
    n_trials: int | None
    workers: int
    samples: list[SampleTiming] = field(default_factory=list)
    saved_share: float | None = None  # share of protocol runs early stopping saved (measured)

    @property
    def trial_seconds(self) -> float:
        return sum(s.trial_seconds for s in self.samples) / len(self.samples)

    def hours(self, saved: float = 0.0) -> float | None:
        if self.n_trials is None:
            return None
        return self.n_trials * self.trial_seconds * (1.0 - saved) / 3600

    def lines(self) -> list[str]:
        """The estimate as text."""
        kind = "GPU" if self.device.startswith("cuda") else "CPU"
        out = [f"estimate on {self.device} ({len(self.samples)} sampled configurations):"]
        for sample in self.samples:
            gmacs = "?" if sample.gmacs is None else f"{sample.gmacs:.4f}"
            out.append(
                f"  {sample.label:<56} {gmacs:>8} GMACs  {1000 * sample.step_seconds:8.2f} ms"
                f"/step  {sample.trial_seconds:9.1f} s/trial"
            )
        out.append(f"mean trial: {self.trial_seconds:.1f} s")
        total = self.hours()
        if total is None:
            out.append("search.n_trials is null: no budget to estimate")
            return out
        wall = total / self.workers
        out.append(
            f"{self.n_trials} trials: {total:.2f} {kind}-hours; {wall:.2f} h wall with "
            f"{self.workers} worker(s)"
        )
        if self.saved_share is None:
            out.append("early stopping: no measurement yet (no pruned trial in this study)")
        else:
            saved = self.hours(self.saved_share)
            out.append(
                f"with early stopping's measured savings ({100 * self.saved_share:.0f}% of "
                f"protocol runs in this study): {saved:.2f} {kind}-hours"
            )
        return out


def _loss(student: Any, x: Any, labels: Any, targets: Any) -> Any:
    import torch.nn.functional as F

    logits, embedding = student(x)
    return F.cross_entropy(logits.float(), labels) + F.mse_loss(embedding.float(), targets)


def time_steps(student_spec: Any, batch: int, steps: int, device: Any) -> float:
    """Seconds per training step of a fresh student on random device batches (after two
    warm-up steps; synchronised on CUDA)."""
    import torch

    from fasnas.students import create_student

    student = (
        create_student(student_spec, embed_dim=EMBED_DIM, initialise=False).to(device).train()
    )
    opt = torch.optim.AdamW(student.parameters(), lr=1e-4)
    size = student_spec.img_size
    x = torch.randn(batch, 3, size, size, device=device)
    labels = torch.randint(0, 2, (batch,), device=device)
    targets = torch.randn(batch, EMBED_DIM, device=device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        _loss(student, x, labels, targets).backward()
        opt.step()

    for _ in range(2):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps


def sample_specs(config: StudyConfig, samples: int, seed: int) -> list[tuple[Any, Any]]:
    """``samples`` (StudentSpec, DistillSpec) pairs drawn from the space, seeded."""
    import optuna

    from fasnas.space import SearchSpace

    space = SearchSpace.load(require_space(config))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [space.suggest(study.ask()) for _ in range(samples)]


def measured_savings(study: Any, protocols: list[str]) -> float | None:
    """The share of protocol runs early stopping saved in ``study`` (None: nothing pruned)."""
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    pruned = [t for t in finished if t.state.name == "PRUNED"]
    if not pruned:
        return None
    done = sum(len(record.TrialRecord.of(t).done_protocols(protocols)) for t in pruned)
    return (len(pruned) * len(protocols) - done) / (len(finished) * len(protocols))


def estimate_study(
    config: StudyConfig,
    *,
    samples: int = 8,
    steps: int = 5,
    device: str | None = None,
    seed: int = 0,
    study: Any = None,
) -> Estimate:
    """Time ``samples`` configurations of the space and scale them to the study's budget.

    Args:
        config: The study config (its space, protocols, objective and budget).
        samples: Configurations to time.
        steps: Timed steps per configuration.
        device: A device overriding the config's (``--device``).
        seed: The sampler seed of the samples.
        study: The existing study, to measure early stopping's savings (None: none).

    Raises:
        ConfigError: A bad ``--samples``/``--steps``, or a device this machine lacks.
    """
    from fasnas.cost import spec_cost
    from fasnas.device import check_device, select_device

    for name, value in (("--samples", samples), ("--steps", steps)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name}: expected an integer >= 1, got {value!r}")
    import torch

    if device is not None:
        check_device(device, "--device")
    torch_device = select_device(device or config.device)
    torch.set_num_threads(config.search.torch_threads())  # as each worker runs
    protocols = list(config.protocols)
    groups = max(2 * len(config_protocol(config, p).train_domains) for p in protocols)
    folds = 0
    if config.objective.select_on == selection.LOSO:
        folds = max(len(config_protocol(config, p).sources) for p in protocols)
    settings = config.search
    result = Estimate(str(torch_device), settings.n_trials, settings.local_workers)
    for student_spec, distill in sample_specs(config, samples, seed):
        batch = groups * distill.batch_per_group
        per_step = time_steps(student_spec, batch, steps, torch_device)
        per_trial = per_step * distill.iterations * len(protocols) * (1 + folds)
        gmacs = spec_cost(student_spec).gmacs
        result.samples.append(SampleTiming(student_spec.label, gmacs, per_step, per_trial))
    if study is not None:
        result.saved_share = measured_savings(study, protocols)
    return result
