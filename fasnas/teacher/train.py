"""Fine-tuning and evaluating a FLIP teacher on the sources of one protocol.

Owns ``fasnas teacher train``: FLIP's recipe (docs/flip.md §4) — Adam, lr 1e-6, weight decay 1e-6,
balanced batches of 3 images per (domain, class), horizontal flips and HSV saturation jitter,
a fixed number of iterations — every field overridable under ``teacher.train`` in the study
config. Initial weights come from a local file (``teacher.init``), or from a random init only
when the config says ``init: random`` (the synthetic demo). The teacher is evaluated on the
target test set at the end, with both FLIP's test-EER HTER and the honest HTER at a threshold
fixed on source validation, and saved as a self-describing teacher file that also records those
metrics, the image path's GMACs (the reports' reference point, :mod:`.reference`) and
``source_val_seen: False`` (it trains on source-train only; :mod:`.eval`).

With ``teacher.train.mcl: true`` (a ``flip-mcl`` teacher) each step adds FLIP-MCL's two extra
losses, weight 1 each as FLIP does (:func:`teacher_loss`): SimCLR's NT-Xent through
``image_mlp`` and the prompt-consistency MSE (:meth:`~fasnas.teacher.flip.FlipTeacher.mcl_losses`)
on two augmented views of the batch's images. One difference from FLIP: the two views are drawn
from the cached face frame (the recipe's flip and saturation jitter, drawn independently per
view), where FLIP augments the raw image file with its SimCLR transforms.

Run it with::

    fasnas teacher train --config studies/demo.yaml --protocol M
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from fasnas.config import StudyConfig
from fasnas.data.frameset import study_frames
from fasnas.data.protocols import config_protocol
from fasnas.device import select_device
from fasnas.errors import ConfigError
from fasnas.teacher.reference import GMACS_KEY, SEEN_KEY, hter_line, teacher_gmacs
from fasnas.teacher.resolve import model_spec
from fasnas.teacher.settings import PRETRAIN_INIT, RANDOM_INIT
from fasnas.train import Augment, evaluate_model, evaluate_source_val, fit, seed_everything


@dataclass(frozen=True)
class TeacherTrainResult:
    """What one teacher fine-tuning run produced."""

    protocol: str
    path: Path
    metrics: dict[str, dict]
    seconds: float
    iterations: int

    def summary(self) -> str:
        if "test-eer" not in self.metrics:  # protocol ALL: no target
            val = self.metrics["source-val"]
            return (
                f"teacher {self.protocol}: source-val EER {100 * val['eer']:.2f}% (threshold "
                f"{val['threshold']:.3f}; no target) | {self.iterations} it in "
                f"{self.seconds:.1f}s -> {self.path}"
            )
        return (
            f"teacher {self.protocol}: {hter_line(self.metrics)} | "
            f"AUC {100 * self.metrics['test-eer']['auc']:.2f}% | "
            f"{self.iterations} it in {self.seconds:.1f}s -> {self.path}"
        )


def initial_teacher(config: StudyConfig):
    """The teacher to fine-tune and the sha256 of its initial weights ("random" if none).

    Raises:
        ConfigError: When ``teacher.init`` is not set: a silent random init is never made.
    """
    from fasnas.teacher.checkpoints import read_checkpoint
    from fasnas.teacher.file import sha256_file
    from fasnas.teacher.flip import build_teacher

    teacher_cfg = config.teacher
    model_name, model_cfg = model_spec(teacher_cfg)
    if teacher_cfg.init is None:
        raise ConfigError(
            f"{config.path}: teacher.init: required: a local weights file (OpenAI CLIP .pt, "
            f"open_clip or FLIP checkpoint), `pretrain` (`fasnas teacher pretrain`'s file) or "
            f"`random` for an explicit random init"
        )
    if teacher_cfg.init == RANDOM_INIT:
        return build_teacher(teacher_cfg.variant, model_name, model_cfg), "random"
    path, init_format = Path(teacher_cfg.init), teacher_cfg.init_format
    if teacher_cfg.init == PRETRAIN_INIT:  # fasnas.teacher.pretrain's file
        path, init_format = teacher_cfg.pretrain_file, "open_clip"
        if not path.is_file():
            raise ConfigError(
                f"{config.path}: teacher.init: pretrain: {path} does not exist; run "
                f"`fasnas teacher pretrain --config {config.path}` first"
            )
    teacher = read_checkpoint(
        path,
        init_format,
        variant=teacher_cfg.variant,
        model_name=model_name,
        model_cfg=model_cfg,
    )
    return teacher, sha256_file(path)


def freeze(teacher: torch.nn.Module, prefixes, where: str) -> int:
    """Freeze the parameters whose names start with one of ``prefixes``; return how many.

    Raises:
        ConfigError: When a prefix matches no parameter (a typo must not pass silently).
    """
    frozen = 0
    for prefix in prefixes:
        matched = [p for name, p in teacher.named_parameters() if name.startswith(prefix)]
        if not matched:
            raise ConfigError(f"{where}: teacher.train.frozen: {prefix!r} matches no parameter")
        for parameter in matched:
            parameter.requires_grad_(False)
            frozen += parameter.numel()
    return frozen


def teacher_loss(teacher, recipe, frames, norm, device, seed: int):
    """The step loss of ``fasnas teacher train``: FLIP's cross-entropy on the augmented batch,
    plus, with ``recipe.mcl``, FLIP-MCL's NT-Xent and prompt MSE on two more views of the same
    cached frames (``frames.images(index)``), each augmented independently (seeded by ``seed``).
    """
    import numpy as np

    augment = Augment(recipe.flip_p, recipe.saturation, recipe.saturation_p)
    views_rng = np.random.default_rng([seed, 1])  # the views' draws
    prompts_rng = np.random.default_rng([seed, 2])  # FLIP's np.random prompt subsets

    def loss_fn(images: torch.Tensor, labels: torch.Tensor, index) -> torch.Tensor:
        loss = torch.nn.functional.cross_entropy(teacher(images).float(), labels)
        if not recipe.mcl:
            return loss
        frames_uint8 = frames.images(np.asarray(index))
        view_1, view_2 = (
            norm.normalize(augment(frames_uint8, views_rng), device) for _ in range(2)
        )
        nce, mse = teacher.mcl_losses(view_1, view_2, labels, prompts_rng)
        return loss + nce.float() + mse.float()

    return loss_fn


def train_teacher(
    config: StudyConfig, protocol_name: str, *, out: Path | None = None, progress: bool = True
) -> TeacherTrainResult:
    """Fine-tune the configured teacher on ``protocol_name``'s sources, evaluate, save."""
    from fasnas.teacher.file import save_teacher

    protocol = config_protocol(config, protocol_name)
    recipe = config.teacher.train
    seed_everything(config.seed)  # a random init (and head init) must not depend on the past
    teacher, init_sha = initial_teacher(config)
    freeze(teacher, recipe.frozen, str(config.path))
    frames = study_frames(config, protocol_name, progress=progress)
    device = select_device(config.device)
    norm = teacher.preprocess

    loss_fn = teacher_loss(teacher, recipe, frames.source_train, norm, device, config.seed)
    result = fit(
        teacher,
        frames.source_train,
        loss_fn,
        norm=norm,
        iterations=recipe.iterations,
        lr=recipe.lr,
        weight_decay=recipe.weight_decay,
        per_group=recipe.batch_per_group,
        seed=config.seed,
        device=device,
        augment=Augment(recipe.flip_p, recipe.saturation, recipe.saturation_p),
        optimizer="adam",
        warmup_frac=recipe.warmup_frac,
        schedule=recipe.schedule,
        amp=recipe.amp,
        progress=progress,
        desc=f"teacher {protocol_name}",
    )
    if len(frames.target_test):
        metrics = evaluate_model(
            teacher,
            frames.source_val,
            frames.target_test,
            norm=norm,
            device=device,
            amp=recipe.amp,
        )
    else:  # protocol ALL: source validation only
        metrics = {"source-val": evaluate_source_val(teacher, frames.source_val, norm, device)}
    path = out or config.teacher.file_for(protocol_name)
    teacher = teacher.cpu()
    save_teacher(
        teacher,
        path,
        protocol=protocol_name,
        sources=tuple(protocol.sources) + (("celeb",) if protocol.celeb else ()),
        source_sha256=init_sha,
        threshold=metrics.get("source-threshold", metrics["source-val"])["threshold"],
        extra={
            "metrics": metrics,
            "iterations": recipe.iterations,
            GMACS_KEY: teacher_gmacs(teacher),  # the reports' reference point
            SEEN_KEY: False,  # trained on source-train only: source validation is held out
        },
    )
    return TeacherTrainResult(
        protocol=protocol_name,
        path=path,
        metrics=metrics,
        seconds=result.seconds,
        iterations=recipe.iterations,
    )
