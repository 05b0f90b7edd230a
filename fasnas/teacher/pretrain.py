"""A stand-in for CLIP's pre-training, for a teacher that has no CLIP weights.

Owns ``fasnas teacher pretrain``: the configured CLIP, from a random init, trained on the
CelebA-Spoof train lists only with FLIP-IT's loss (cross-entropy over the image's cosine
similarity to the spoof and real prompt embeddings, both towers trained), written to
``<teacher.dir>/pretrain.pt`` as an open_clip state dict. ``teacher.init: pretrain`` then
fine-tunes every protocol's teacher from it with FLIP's recipe (:mod:`.train`).

Why: FLIP's teacher is strong across domains because CLIP saw hundreds of millions of images
before it saw a face; a teacher trained from scratch on three synthetic sources is not, and was
no better than the small students (benchmarks/README.md, "Calibration (issue 13)"). CelebA-Spoof
is never a protocol's target and is no MCIO domain, so pre-training on it takes nothing from any
protocol's target or sources; the students never see it (unless ``data.celeb``).

Run it with::

    fasnas teacher pretrain --config studies/demo.yaml
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from fasnas._io import atomic_write
from fasnas.config import StudyConfig
from fasnas.data.cache import FrameCache
from fasnas.data.frameset import FrameSet
from fasnas.data.layout import Layout
from fasnas.data.protocols import CELEB
from fasnas.device import select_device
from fasnas.errors import ConfigError, DataError
from fasnas.teacher.resolve import model_spec
from fasnas.teacher.settings import PRETRAIN_INIT
from fasnas.teacher.train import freeze, teacher_loss
from fasnas.train import Augment, fit, seed_everything


@dataclass(frozen=True)
class PretrainResult:
    """What one pre-training run produced."""

    path: Path
    images: int
    iterations: int
    seconds: float

    def summary(self) -> str:
        return (
            f"teacher pretrain: {self.iterations} it on {self.images} CelebA-Spoof images "
            f"in {self.seconds:.1f}s -> {self.path} (open_clip weights; teacher.init: pretrain)"
        )


def _check(config: StudyConfig) -> Layout:
    """Everything pre-training needs, checked before anything is built or written."""
    if config.teacher.init != PRETRAIN_INIT:
        raise ConfigError(
            f"{config.path}: teacher.init: is {config.teacher.init!r}; `fasnas teacher pretrain` "
            f"writes {config.teacher.pretrain_file} for `init: {PRETRAIN_INIT}`"
        )
    layout = Layout(config.data.root, config.data.benchmark)
    for label in ("real", "fake"):
        listing = layout.list_path(CELEB, label, "train")
        if not listing.is_file():
            raise DataError(
                f"{listing}: missing: teacher pretraining reads CelebA-Spoof's train lists "
                f"(celeb_real_train.txt and celeb_fake_train.txt)"
            )
    return layout


def pretrain_teacher(config: StudyConfig, *, progress: bool = True) -> PretrainResult:
    """Pre-train the configured CLIP on CelebA-Spoof and write ``teacher.pretrain_file``."""
    from fasnas.teacher.flip import build_teacher

    layout = _check(config)
    recipe = config.teacher.pretrain
    cache = FrameCache.open(
        layout, CELEB, "train", config.data.size, config.data.cache_dir, progress=progress
    )
    frames = FrameSet.from_caches([(cache, None)])
    seed_everything(config.seed)
    model_name, model_cfg = model_spec(config.teacher)
    teacher = build_teacher("flip-it", model_name, model_cfg)  # the image-text loss of CLIP
    freeze(teacher, config.teacher.train.frozen, str(config.path))
    train = replace(config.teacher.train, mcl=False)  # FLIP-IT's loss only
    device = select_device(config.device)
    loss_fn = teacher_loss(teacher, train, frames, teacher.preprocess, device, config.seed)
    start = time.perf_counter()
    fit(
        teacher,
        frames,
        loss_fn,
        norm=teacher.preprocess,
        iterations=recipe.iterations,
        lr=recipe.lr,
        weight_decay=recipe.weight_decay,
        per_group=recipe.batch_per_group,
        seed=config.seed,
        device=device,
        augment=Augment(train.flip_p, train.saturation, train.saturation_p),
        optimizer="adam",
        schedule=recipe.schedule,
        amp=train.amp,
        progress=progress,
        desc="teacher pretrain",
    )
    state = {name: tensor.cpu() for name, tensor in teacher.clip.state_dict().items()}
    path = atomic_write(
        config.teacher.pretrain_file,
        lambda stream: torch.save(state, stream),
        what="cannot write the pre-trained teacher",
    )
    return PretrainResult(path, len(frames), recipe.iterations, time.perf_counter() - start)
