"""The ``teacher:`` section of a study config: which FLIP teacher distils, and its recipe.

Owns :class:`TeacherConfig` (variant, open_clip model, init weights, files, cached or online
mode, whether its training saw the source-validation videos) and :class:`TeacherRecipe` (FLIP's
fine-tuning recipe, ``teacher.train``), with their checks. FLIP's recipe and its conventions are
in ``docs/flip.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fasnas.errors import ConfigError
from fasnas.schema import at_least, one_of

TEACHER_VARIANTS = ("flip-v", "flip-it", "flip-mcl")
TEACHER_MODES = ("cached", "online")
LR_SCHEDULES = ("constant", "cosine")
CACHE_DTYPES = ("float32", "bfloat16", "float16")  # teacher.cache_dtype
RANDOM_INIT, PRETRAIN_INIT = "random", "pretrain"  # teacher.init values that name no file


def check_steps(recipe, where: str) -> None:
    """The checks every training recipe shares (iterations, lr, weight decay, batch, schedule)."""
    at_least(recipe.iterations, 0, f"{where}.iterations", strict=True)
    at_least(recipe.lr, 0, f"{where}.lr", strict=True)
    at_least(recipe.weight_decay, 0, f"{where}.weight_decay")
    at_least(recipe.batch_per_group, 0, f"{where}.batch_per_group", strict=True)
    one_of(recipe.schedule, LR_SCHEDULES, f"{where}.schedule")


@dataclass(frozen=True)
class TeacherRecipe:
    """FLIP's fine-tuning recipe (docs/flip.md §4); every field can be overridden in the config."""

    iterations: int = 4000  # optimiser steps
    lr: float = 1e-6  # Adam learning rate (FLIP: 1e-6 on OpenAI CLIP weights)
    weight_decay: float = 1e-6  # Adam weight decay
    batch_per_group: int = 3  # images per (domain, class) per step
    flip_p: float = 0.5  # horizontal-flip probability
    saturation: float = 0.2  # HSV saturation x U(1-s, 1+s)
    saturation_p: float = 0.5  # probability of the saturation jitter
    warmup_frac: float = 0.0  # linear warm-up share of iterations
    schedule: str = "constant"  # learning rate after warm-up: constant (FLIP) | cosine (to zero)
    mcl: bool = False  # add FLIP-MCL's SimCLR and prompt losses on two views (flip-mcl only)
    frozen: tuple[str, ...] = ()  # parameter-name prefixes kept fixed, e.g. clip.token_embedding
    amp: bool = True  # mixed precision when on a GPU

    def check(self, where: str) -> None:
        """Validate the recipe (``where`` is ``<file>: teacher.train``)."""
        check_steps(self, where)


@dataclass(frozen=True)
class PretrainRecipe:
    """``teacher.pretrain``: a stand-in for CLIP's pre-training, for teachers without weights.

    ``fasnas teacher pretrain`` trains the configured CLIP from a random init on the
    CelebA-Spoof train lists only (never an MCIO domain, so no protocol's target or sources)
    with FLIP-IT's image-text loss, and writes ``<teacher.dir>/pretrain.pt`` (an open_clip state
    dict); ``teacher.init: pretrain`` fine-tunes from it. The synthetic demo uses it: FLIP's
    strength comes from CLIP's pre-training, which a from-scratch teacher lacks
    (benchmarks/README.md, "Calibration (issue 13)").
    """

    iterations: int = 600  # optimiser steps
    lr: float = 1e-3  # Adam learning rate
    weight_decay: float = 1e-4  # Adam weight decay
    batch_per_group: int = 16  # images per class per step
    schedule: str = "cosine"  # constant | cosine (to zero)

    def check(self, where: str) -> None:
        """Validate the recipe (``where`` is ``<file>: teacher.pretrain``)."""
        check_steps(self, where)


@dataclass(frozen=True)
class TeacherConfig:
    """Which teacher distils into the students, and where its files live."""

    variant: str = "flip-it"  # flip-v | flip-it | flip-mcl
    model: str = "ViT-B-16-quickgelu"  # open_clip config name, or "tiny"/"tiny-rn" (built in)
    model_cfg: dict | None = None  # a custom open_clip config (overrides `model`'s)
    # local weights to fine-tune from; "random" (explicit only); or "pretrain": the file
    # `fasnas teacher pretrain` writes (<dir>/pretrain.pt, see teacher.pretrain)
    init: str | None = None
    init_format: str = "openai"  # format of `init`: openai | open_clip | flip-v | flip-it | ...
    dir: Path = Path("teachers")  # teacher files, one per protocol: <dir>/<P>.pt
    mode: str = "cached"  # cached: read the teacher cache; online: run the teacher per batch
    # did the teacher's training see the source-validation videos? null: detect it (a teacher
    # `fasnas teacher train` made: no; an imported checkpoint: yes); see fasnas.teacher.eval
    source_val_seen: bool | None = None
    # the teacher's precision when its outputs are cached on a GPU: float32 (FLIP's; the cache
    # equals an fp32 forward) | bfloat16 | float16 (autocast: faster, not FLIP's numbers)
    cache_dtype: str = "float32"
    train: TeacherRecipe = field(default_factory=TeacherRecipe)
    pretrain: PretrainRecipe = field(default_factory=PretrainRecipe)

    def file_for(self, protocol: str) -> Path:
        """The teacher file of one protocol."""
        return self.dir / f"{protocol}.pt"

    @property
    def pretrain_file(self) -> Path:
        """What ``fasnas teacher pretrain`` writes and ``init: pretrain`` reads."""
        return self.dir / "pretrain.pt"

    def check(self, where: str) -> None:
        """Validate the section (``where`` is ``<file>: teacher``)."""
        one_of(self.variant, TEACHER_VARIANTS, f"{where}.variant")
        one_of(self.mode, TEACHER_MODES, f"{where}.mode")
        one_of(self.cache_dtype, CACHE_DTYPES, f"{where}.cache_dtype")
        if self.train.mcl and self.variant != "flip-mcl":
            raise ConfigError(
                f"{where}.train.mcl: FLIP-MCL's two extra losses need variant flip-mcl (its "
                f"image_mlp), got variant {self.variant!r}"
            )
