"""Study configuration: ``studies/*.yaml`` -> typed, validated dataclasses.

Owns the schema of a study config and its validation. Every bad key or value is a
:class:`~fasnas.errors.ConfigError` naming the file and the key path, e.g.
``studies/demo.yaml: teacher.train.lr: expected a number, got 'fast'``. Relative paths in a
config are resolved against the folder that holds the config, so a study folder can be moved.

A config has these sections (all optional except ``name`` and ``data``)::

    name: demo                      # the Optuna study name
    data: {root, benchmark, size, cache_dir, val_fraction, celeb, shots, seed}
    protocols: [M, C, I, O]
    teacher: {variant, model, model_cfg, init, dir, mode, train: {...recipe overrides...}}
    device: auto                    # auto | cpu | cuda | cuda:N
    seed: 0

Later sections are read by the modules that own them, from :attr:`StudyConfig.raw`:
``space`` (a search-space file), ``search`` and ``storage`` (fasnas.study, fasnas.storage),
``artifacts`` (the folder of per-protocol results and weights), ``objective``
(fasnas.objective), ``early_stopping`` (fasnas.early_stop) and ``bench`` (fasnas.bench).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from fasnas.errors import ConfigError

TEACHER_VARIANTS = ("flip-v", "flip-it", "flip-mcl")
TEACHER_MODES = ("cached", "online")
LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class DataConfig:
    """Where the FLIP-layout data lives and how it is cached."""

    root: Path  # folder holding MCIO/ (or WCS/)
    benchmark: str = "MCIO"  # MCIO | WCS
    size: int = 224  # frame-cache resolution in px; models resize from it
    cache_dir: Path = Path("cache")  # frame and teacher caches
    val_fraction: float = 0.1  # share of source videos held out for honest thresholds
    celeb: bool = False  # add CelebA-Spoof as an extra source domain
    shots: int = 0  # 0-shot (default) or 5-shot on the target
    seed: int = 0  # seed of the source-validation split


@dataclass(frozen=True)
class TeacherRecipe:
    """FLIP's fine-tuning recipe (FACTS §1); every field can be overridden in the config."""

    iterations: int = 4000  # optimiser steps
    lr: float = 1e-6  # Adam learning rate (FLIP: 1e-6 on OpenAI CLIP weights)
    weight_decay: float = 1e-6  # Adam weight decay
    batch_per_group: int = 3  # images per (domain, class) per step
    flip_p: float = 0.5  # horizontal-flip probability
    saturation: float = 0.2  # HSV saturation x U(1-s, 1+s)
    saturation_p: float = 0.5  # probability of the saturation jitter
    warmup_frac: float = 0.0  # linear warm-up share of iterations
    schedule: str = "constant"  # learning rate after warm-up: constant (FLIP) | cosine (to zero)
    mcl: bool = False  # add FLIP-MCL's two extra losses (FLIP-MCL only)
    frozen: tuple[str, ...] = ()  # parameter-name prefixes kept fixed, e.g. clip.token_embedding
    amp: bool = True  # mixed precision when on a GPU


@dataclass(frozen=True)
class TeacherConfig:
    """Which teacher distils into the students, and where its files live."""

    variant: str = "flip-it"  # flip-v | flip-it | flip-mcl
    model: str = "ViT-B-16-quickgelu"  # open_clip config name, or "tiny"/"tiny-rn" (built in)
    model_cfg: dict | None = None  # a custom open_clip config (overrides `model`'s)
    init: str | None = None  # local weights to fine-tune from, or "random" (explicit only)
    init_format: str = "openai"  # format of `init`: openai | open_clip | flip-v | flip-it | ...
    dir: Path = Path("teachers")  # teacher files, one per protocol: <dir>/<P>.pt
    mode: str = "cached"  # cached: read the teacher cache; online: run the teacher per batch
    train: TeacherRecipe = field(default_factory=TeacherRecipe)

    def file_for(self, protocol: str) -> Path:
        """The teacher file of one protocol."""
        return self.dir / f"{protocol}.pt"


@dataclass(frozen=True)
class StudyConfig:
    """A whole study config; :attr:`raw` keeps the parsed YAML for later sections."""

    path: Path
    name: str
    data: DataConfig
    protocols: tuple[str, ...] = ("M", "C", "I", "O")
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    device: str = "auto"
    seed: int = 0
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def hash(self) -> str:
        """A stable hash of the parsed config content (not of its formatting)."""
        text = json.dumps(self.raw, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


_KNOWN_TOP = {"name", "data", "protocols", "teacher", "device", "seed"}
_LATER_SECTIONS = {
    "space",
    "search",
    "storage",
    "artifacts",
    "objective",
    "early_stopping",
    "bench",
    "report",
}


def _where(path: Path, key: str) -> str:
    return f"{path}: {key}"


def _coerce(value: Any, kind: type, where: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if kind is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    raise TypeError(kind)


def _build(cls: type, section: Any, path: Path, prefix: str, base: Path, **given: Any) -> Any:
    """Fill dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types."""
    if section is None:
        section = {}
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: {prefix}: expected a mapping, got {type(section).__name__}")
    names = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = dict(given)
    for key, value in section.items():
        where = _where(path, f"{prefix}.{key}")
        if key not in names or key in given:
            valid = sorted(n for n in names if n not in given)
            raise ConfigError(f"{where}: unknown key; valid keys are {valid}")
        annotation = str(names[key].type)
        if annotation.startswith("Path"):
            if not isinstance(value, str):
                raise ConfigError(f"{where}: expected a path string, got {value!r}")
            values[key] = (base / value).resolve()
        elif annotation == "str | None":
            values[key] = None if value is None else _coerce(value, str, where)
        elif annotation in {"int", "float", "bool", "str"}:
            values[key] = _coerce(
                value, {"int": int, "float": float, "bool": bool, "str": str}[annotation], where
            )
        else:
            values[key] = value
    return cls(**values)


def _positive(value: float, where: str, *, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{where}: must be {bound}, got {value}")


def _validate(config: StudyConfig) -> None:
    path = config.path
    from fasnas.data.protocols import get_protocol

    for name in config.protocols:
        try:
            get_protocol(name)
        except ConfigError as error:
            raise ConfigError(f"{path}: protocols: {error}") from None
    data = config.data
    if not 0 < data.val_fraction < 1:
        raise ConfigError(f"{path}: data.val_fraction: must be in (0, 1), got {data.val_fraction}")
    if data.shots not in (0, 5):
        raise ConfigError(f"{path}: data.shots: must be 0 or 5, got {data.shots}")
    if data.size < 16:
        raise ConfigError(f"{path}: data.size: must be >= 16 px, got {data.size}")
    teacher = config.teacher
    if teacher.variant not in TEACHER_VARIANTS:
        raise ConfigError(
            f"{path}: teacher.variant: expected one of {list(TEACHER_VARIANTS)}, "
            f"got {teacher.variant!r}"
        )
    if teacher.mode not in TEACHER_MODES:
        raise ConfigError(
            f"{path}: teacher.mode: expected one of {list(TEACHER_MODES)}, got {teacher.mode!r}"
        )
    recipe = teacher.train
    _positive(recipe.iterations, _where(path, "teacher.train.iterations"))
    _positive(recipe.lr, _where(path, "teacher.train.lr"))
    _positive(recipe.weight_decay, _where(path, "teacher.train.weight_decay"), allow_zero=True)
    _positive(recipe.batch_per_group, _where(path, "teacher.train.batch_per_group"))
    if recipe.schedule not in LR_SCHEDULES:
        raise ConfigError(
            f"{path}: teacher.train.schedule: expected one of {list(LR_SCHEDULES)}, "
            f"got {recipe.schedule!r}"
        )
    if not isinstance(recipe.frozen, tuple | list) or not all(
        isinstance(prefix, str) for prefix in recipe.frozen
    ):
        raise ConfigError(f"{path}: teacher.train.frozen: expected a list of parameter prefixes")
    if recipe.mcl:
        raise ConfigError(
            f"{path}: teacher.train.mcl: FLIP-MCL's two extra losses are not wired into "
            f"`fasnas teacher train` yet; set it to false (a flip-mcl teacher then trains like "
            f"FLIP-IT) or import a FLIP-MCL checkpoint"
        )
    if recipe.mcl and teacher.variant != "flip-mcl":
        raise ConfigError(f"{path}: teacher.train.mcl: only valid with teacher.variant flip-mcl")


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a study config.

    Raises:
        ConfigError: On a missing or unreadable file, bad YAML, an unknown key or a bad value;
            the message names the file and the key path.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config ({error})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: invalid YAML{where}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    unknown = set(raw) - _KNOWN_TOP - _LATER_SECTIONS
    if unknown:
        valid = sorted(_KNOWN_TOP | _LATER_SECTIONS)
        raise ConfigError(f"{path}: {sorted(unknown)[0]}: unknown key; valid keys are {valid}")
    base = path.resolve().parent
    if not isinstance(raw.get("name"), str) or not raw["name"]:
        raise ConfigError(f"{path}: name: expected a non-empty study name")
    if "data" not in raw or not isinstance(raw["data"], dict) or "root" not in raw["data"]:
        raise ConfigError(f"{path}: data.root: required (the folder holding MCIO/)")
    data = _build(DataConfig, raw["data"], path, "data", base)
    if "cache_dir" not in raw["data"]:
        data = replace(data, cache_dir=(base / "cache").resolve())
    teacher_raw = dict(raw.get("teacher") or {})
    recipe = _build(TeacherRecipe, teacher_raw.pop("train", None), path, "teacher.train", base)
    model_cfg = teacher_raw.get("model_cfg")
    if model_cfg is not None and not isinstance(model_cfg, dict):
        raise ConfigError(f"{path}: teacher.model_cfg: expected a mapping (open_clip config)")
    teacher = _build(TeacherConfig, teacher_raw, path, "teacher", base, train=recipe)
    if "dir" not in teacher_raw:
        teacher = replace(teacher, dir=(base / "teachers").resolve())
    if teacher.init not in (None, "random"):
        teacher = replace(teacher, init=str((base / teacher.init).resolve()))
    protocols = raw.get("protocols", ["M", "C", "I", "O"])
    if not isinstance(protocols, list) or not protocols:
        raise ConfigError(f"{path}: protocols: expected a non-empty list like [M, C, I, O]")
    config = StudyConfig(
        path=path.resolve(),
        name=raw["name"],
        data=data,
        protocols=tuple(str(p) for p in protocols),
        teacher=teacher,
        device=_coerce(raw.get("device", "auto"), str, _where(path, "device")),
        seed=_coerce(raw.get("seed", 0), int, _where(path, "seed")),
        raw=raw,
    )
    _validate(config)
    return config
