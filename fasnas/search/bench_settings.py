"""The ``bench:`` section of a study config: the fixed baselines and how they are trained.

Owns the known baselines (timm names mapped to student families), :class:`BenchSettings` and
the list of :class:`BenchEntry` runs it implies: each baseline trained with CE only (every
registered KD weight at 0, :func:`fasnas.distill.compose.teacher_free`) and with the default
KD settings, for every configured seed. The baselines are trained like the search: the search
space's fixed training settings (:data:`SPACE_TRAINING`: iterations, batch) apply unless
``distill`` overrides them, and each starts from timm's pre-trained weights where they exist
(``init``). Config section (every key optional)::

    bench:
      models: [mobilenetv3_small_100, resnet18]   # default: all of BENCH_MODELS
      seeds: [0, 1, 2]                             # training seeds
      img_size: null                               # input size (null: 224)
      init: null        # scratch | pretrained | null: pretrained where the weights exist
      distill: {iterations: 300, lr: 1.0e-3}       # DistillSpec overrides of the KD run
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fasnas.distill.compose import teacher_free
from fasnas.distill.spec import DistillSpec
from fasnas.errors import ConfigError
from fasnas.schema import build, one_of
from fasnas.students import StudentBuildError, StudentSpec, check_spec
from fasnas.students.weights import find_weights

# timm name -> (family, arch); each builds the same architecture as the timm model, and no two
# the same one (deit_tiny_patch16_224 is vit_tiny_patch16_224's network, so it is not here)
BENCH_MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "mobilenetv3_small_100": ("mobilenetv3", {"variant": "small", "width": 1.0}),
    "mobilenetv3_large_100": ("mobilenetv3", {"variant": "large", "width": 1.0}),
    "efficientnet_b0": ("efficientnet", {"variant": "b0"}),
    "resnet18": ("resnet", {"depth": 18}),
    "vit_tiny_patch16_224": (
        "vit",
        {
            "variant": "vit",
            "depth": 12,
            "embed_dim": 192,
            "num_heads": 3,
            "patch_size": 16,
            "mlp_ratio": 4.0,
        },
    ),
    "levit_128s": ("levit", {"variant": "128s"}),
    "fastvit_t8": ("fastvit", {"variant": "t8"}),
    "repvit_m0_9": ("repvit", {"variant": "m0_9"}),
    "mobilevit_xxs": ("mobilevit", {"variant": "xxs"}),
}
DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_IMG_SIZE = 224
BENCH_INITS = ("scratch", "pretrained")
SPACE_TRAINING = ("iterations", "batch_per_group")
"""The search space's ``fixed`` training settings the baselines take (unless ``distill`` sets
them)."""


def baseline_spec(
    model: str, img_size: int = DEFAULT_IMG_SIZE, init: str = "scratch"
) -> StudentSpec:
    """The :class:`StudentSpec` of a known baseline at ``img_size``, starting as ``init``.

    Raises:
        ConfigError: When ``model`` is not in :data:`BENCH_MODELS`.
    """
    if model not in BENCH_MODELS:
        raise ConfigError(f"unknown bench model {model!r}; expected one of {list(BENCH_MODELS)}")
    family, arch = BENCH_MODELS[model]
    return StudentSpec(family, arch, img_size, init=init)


def has_pretrained(model: str, weights_dir: Path | None) -> bool:
    """Whether baseline ``model``'s timm weights are found offline (weights_dir, HF cache)."""
    try:
        pretrained_file(model, weights_dir)
    except StudentBuildError:
        return False
    return True


def pretrained_file(model: str, weights_dir: Path | None) -> Path:
    """The local file of baseline ``model``'s timm weights (:func:`find_weights`' order)."""
    from fasnas._compat import ensure_torchvision

    ensure_torchvision()
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(model)
    return find_weights(model, getattr(cfg, "hf_hub_id", None), weights_dir)


@dataclass(frozen=True)
class BenchEntry:
    """One bench run: a baseline, with or without KD, at one seed."""

    model: str
    kd: bool
    seed: int
    student_spec: StudentSpec
    distill_spec: DistillSpec

    @property
    def key(self) -> tuple[str, bool, int]:
        return (self.model, self.kd, self.seed)

    @property
    def label(self) -> str:
        return f"{self.model} {'KD' if self.kd else 'CE'} seed {self.seed}"


@dataclass(frozen=True)
class BenchSettings:
    """The validated ``bench:`` section."""

    models: tuple[str, ...] = tuple(BENCH_MODELS)  # timm names from BENCH_MODELS
    seeds: tuple[int, ...] = DEFAULT_SEEDS  # training seeds; one run per seed
    img_size: int | None = None  # input size of every baseline (null: DEFAULT_IMG_SIZE)
    # scratch | pretrained | null: pretrained where the weights exist (students.weights_dir,
    # then the Hugging Face cache), else scratch
    init: str | None = None
    distill: DistillSpec = DistillSpec()  # the KD run; the CE run zeroes every KD weight
    weights_dir: Path | None = None  # students.weights_dir (set by the config, not a key)
    inits: tuple[tuple[str, str], ...] = ()  # (model, init) resolved at load (not a key)

    @classmethod
    def from_raw(
        cls,
        raw: Any,
        where: str,
        *,
        weights_dir: Path | None = None,
        training: dict[str, Any] | None = None,
    ) -> BenchSettings:
        """Build and validate a parsed ``bench:`` section (``where``: ``<file>: bench``).

        Args:
            raw: the parsed section.
            where: ``<file>: bench``.
            weights_dir: ``students.weights_dir``, where pre-trained weights are looked for.
            training: the search space's fixed training settings (:data:`SPACE_TRAINING`),
                taken by the baselines unless ``distill`` sets them.

        Raises:
            ConfigError: On an unknown key, an unknown model, a bad seed, size, init or
                DistillSpec field, or pre-trained weights asked for and missing, naming the
                file and the key path.
        """
        if isinstance(raw, dict) and training:
            given = raw.get("distill")
            given = given if isinstance(given, dict) else {}
            raw = {**raw, "distill": {**training, **given}}
        elif raw is None and training:
            raw = {"distill": dict(training)}
        settings = build(cls, raw, where, weights_dir=weights_dir, inits=())
        inits = tuple((model, settings.resolve_init(model)) for model in settings.models)
        return replace(settings, inits=inits)

    def resolve_init(self, model: str) -> str:
        """``init``, or where it is null: pretrained if ``model``'s weights exist, else scratch."""
        if self.init is not None:
            return self.init
        return "pretrained" if has_pretrained(model, self.weights_dir) else "scratch"

    def init_of(self, model: str) -> str:
        """How baseline ``model`` starts (resolved when the config was loaded)."""
        return dict(self.inits).get(model) or self.resolve_init(model)

    def check(self, where: str) -> None:
        """Validate the section (called by :func:`fasnas.schema.build`)."""
        _check_models(self.models, f"{where}.models")
        _check_seeds(self.seeds, f"{where}.seeds")
        if self.init is not None:
            one_of(self.init, BENCH_INITS, f"{where}.init")
        if self.init == "pretrained":
            for model in self.models:
                try:
                    pretrained_file(model, self.weights_dir)
                except StudentBuildError as error:
                    raise ConfigError(f"{where}.init: {error}") from None
        if self.img_size is not None and self.img_size < 32:
            raise ConfigError(
                f"{where}.img_size: expected an integer >= 32 or null, got {self.img_size!r}"
            )
        for model in self.models:
            try:
                check_spec(baseline_spec(model, self.size))
            except ConfigError as error:
                raise ConfigError(f"{where}.img_size: {error}") from None

    @property
    def size(self) -> int:
        """The input size of every baseline."""
        return DEFAULT_IMG_SIZE if self.img_size is None else self.img_size

    @property
    def ce_distill(self) -> DistillSpec:
        """The CE-only run: the KD run's settings with every registered KD weight at 0."""
        return teacher_free(self.distill)

    def entries(self) -> list[BenchEntry]:
        """Every run, model by model: CE then KD, seed by seed."""
        found = []
        for model in self.models:
            spec = baseline_spec(model, self.size, self.init_of(model))
            for kd in (False, True):
                distill = self.distill if kd else self.ce_distill
                for seed in self.seeds:
                    found.append(BenchEntry(model, kd, seed, spec, distill))
        return found

    def record(self) -> dict[str, Any]:
        """What the bench trials depend on besides the model and seed (JSON-ready)."""
        return {
            "img_size": self.size,
            "distill": self.distill.to_dict(),
            "init": dict(self.inits),
        }


def _check_models(value: tuple[str, ...], where: str) -> None:
    if not value:
        raise ConfigError(f"{where}: expected a non-empty list of model names, got {list(value)}")
    for index, model in enumerate(value):
        if model not in BENCH_MODELS:
            raise ConfigError(
                f"{where}[{index}]: unknown bench model {model!r}; expected one of "
                f"{list(BENCH_MODELS)}"
            )
    if len(set(value)) != len(value):
        raise ConfigError(f"{where}: models must be distinct, got {list(value)}")


def _check_seeds(value: tuple[int, ...], where: str) -> None:
    if not value:
        raise ConfigError(f"{where}: expected a non-empty list of integer seeds, got []")
    for index, seed in enumerate(value):
        if seed < 0:
            raise ConfigError(f"{where}[{index}]: expected an integer >= 0, got {seed!r}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where}: seeds must be distinct, got {list(value)}")
