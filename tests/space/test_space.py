"""Tests for fasnas/space/space.py (SearchSpace) and the shipped search_spaces/*.yaml.

The conformance test loads every shipped space, and for every family in it samples a trial,
builds the student at the smallest input size the space allows for that family and runs a
forward pass on the CPU. The format's error messages are tested in test_parser.py.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch

from fasnas._compat import ensure_torchvision
from fasnas.distill.spec import DistillSpec
from fasnas.errors import ConfigError
from fasnas.space import SearchSpace, iter_space_files
from fasnas.students import StudentSpec, check_spec, create_student

SPACES_DIR = Path(__file__).resolve().parents[2] / "search_spaces"
SPACE_FILES = list(iter_space_files(SPACES_DIR))
EMBED_DIM = 64

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _write(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _study(seed: int = 0) -> optuna.Study:
    return optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))


def _family_cases() -> list[tuple[Path, str]]:
    cases = []
    for path in SPACE_FILES:
        try:
            families = SearchSpace.load(path).families
        except ConfigError:  # fails below and in test_shipped_space_loads_and_samples...
            families = ("<unloadable>",)
        cases.extend((path, family) for family in families)
    return cases


def _smallest_img_size(space: SearchSpace, family: str) -> tuple[str, int]:
    """(name, value) of the img_size source active for ``family`` and its smallest value."""
    for name in (f"{family}.img_size", "img_size"):
        for param in space.params:
            if param.name == name:
                return name, min(param.choices) if param.choices else param.low
        if name in space.fixed_values:
            return name, space.fixed_values[name]
    raise AssertionError(f"no img_size for {family}")


# ---------------------------------------------------------------- shipped spaces


def test_the_required_spaces_are_shipped() -> None:
    names = {path.stem for path in SPACE_FILES}
    assert {"vit_tiny", "mobile_cnn", "hybrid", "mixed", "demo"} <= names


@pytest.mark.parametrize("path", SPACE_FILES, ids=lambda p: p.stem)
def test_shipped_space_loads_and_samples_buildable_specs(path: Path) -> None:
    space = SearchSpace.load(path)
    assert space.version == 1 and space.name == path.stem
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#") and "version: 1" in text  # documented at the top
    study = _study(seed=1)
    for _ in range(60):
        trial = study.ask()
        student, distill = space.suggest(trial)
        check_spec(student)  # every sampled architecture is buildable at its size
        assert isinstance(distill, DistillSpec)
        assert space.fixed(trial.params) == (student, distill)
        study.tell(trial, 0.0)


@pytest.mark.parametrize(
    ("path", "family"), _family_cases(), ids=lambda v: v.stem if isinstance(v, Path) else v
)
def test_every_family_of_every_space_builds_and_runs(path: Path, family: str) -> None:
    torch.manual_seed(0)
    space = SearchSpace.load(path)
    name, size = _smallest_img_size(space, family)
    forced: dict[str, Any] = {name: size} if name not in space.fixed_values else {}
    if "family" not in space.fixed_values:
        forced["family"] = family
    study = _study(seed=0)
    study.enqueue_trial(forced)
    trial = study.ask()
    student_spec, distill_spec = space.suggest(trial)
    assert student_spec.family == family and student_spec.img_size == size
    # the architecture only: a sampled init (pretrained, inherit, clip) needs weights that the
    # tests do not have (tests/students/test_weights.py, test_inherit.py, test_clip_tower.py)
    student = create_student(student_spec, embed_dim=EMBED_DIM, initialise=False).eval()
    with torch.no_grad():
        logits, embedding = student(torch.randn(2, 3, size, size))
    assert logits.shape == (2, 2) and embedding.shape == (2, EMBED_DIM)
    assert torch.isfinite(logits).all()
    assert space.fixed(trial.params) == (student_spec, distill_spec)


def test_demo_space_is_small() -> None:
    space = SearchSpace.load(SPACES_DIR / "demo.yaml")
    assert set(space.families) == {"vit", "mobilenetv3", "levit"}
    study = _study(seed=2)
    for _ in range(40):
        student, distill = space.suggest(study.ask())
        assert 32 <= student.img_size <= 64
        assert distill.iterations <= 300


def _vit_corner(space: SearchSpace, pick: Any) -> StudentSpec:
    """The ViT of ``space`` with every architecture parameter at the min (or max) of its domain."""
    arch = {k[len("vit.") :]: v for k, v in space.fixed_values.items() if k.startswith("vit.")}
    img_size = space.fixed_values.get("img_size")
    for param in space.params:
        value = pick(param.choices) if param.choices else pick(param.low, param.high)
        if param.target.kind == "arch" and param.target.family == "vit":
            arch[param.target.key] = value
        elif param.target.kind == "img_size" and param.target.family in (None, "vit"):
            img_size = value
    return StudentSpec("vit", arch, img_size)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_demo_gmacs_span_ten_times(monkeypatch: pytest.MonkeyPatch) -> None:
    ensure_torchvision()  # before timm and fvcore import torchvision
    from fvcore.nn import FlopCountAnalysis
    from timm.layers import config as timm_layer_config

    monkeypatch.setattr(timm_layer_config, "_USE_FUSED_ATTN", 0)  # let fvcore see attention
    space = SearchSpace.load(SPACES_DIR / "demo.yaml")
    macs = []
    for pick in (min, max):
        spec = _vit_corner(space, pick)
        backbone = create_student(spec, EMBED_DIM).backbone.eval()
        x = torch.randn(1, 3, spec.img_size, spec.img_size)
        analysis = FlopCountAnalysis(backbone, x).unsupported_ops_warnings(False)
        macs.append(analysis.uncalled_modules_warnings(False).total())
    assert macs[1] >= 10 * macs[0]


# ---------------------------------------------------------------- format and sampling

COUNTED = """\
    version: 1
    name: counted
    params:
      family: {type: categorical, choices: [vit, mobilenetv3]}
      vit.depth: {type: int, low: 2, high: 6, step: 2}
      vit.variant: {type: categorical, choices: [vit, deit_distilled]}
      vit.mlp_ratio: {type: categorical, choices: [2.0, 4.0], when: {vit.variant: deit_distilled}}
      mobilenetv3.width: {type: categorical, choices: [0.5, 1.0]}
      img_size: {type: categorical, choices: [32, 64]}
      iterations: {type: int, low: 10, high: 100, step: 30}
    fixed:
      vit.patch_size: 8
      vit.embed_dim: 32
      vit.num_heads: 2
"""


def test_size_counts_conditional_configurations_by_hand(tmp_path: Path) -> None:
    space = SearchSpace.load(_write(tmp_path, COUNTED))
    # vit: depth {2,4,6} x (variant vit: 1 + variant deit_distilled: mlp_ratio 2) = 9
    # mobilenetv3: width 2 -> 11 architectures; x img_size 2 x iterations {10,40,70,100} 4
    assert space.size() == 11 * 2 * 4


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_size_agrees_with_optuna_brute_force(tmp_path: Path) -> None:
    space = SearchSpace.load(_write(tmp_path, COUNTED))
    study = optuna.create_study(sampler=optuna.samplers.BruteForceSampler(seed=0))
    study.optimize(lambda trial: space.suggest(trial) and 0.0, n_trials=500)
    distinct = {tuple(sorted(t.params.items())) for t in study.trials}
    assert len(study.trials) == len(distinct) == space.size()


def test_size_with_log_int_and_with_float(tmp_path: Path) -> None:
    text = COUNTED.replace(
        "iterations: {type: int, low: 10, high: 100, step: 30}",
        "batch_per_group: {type: int, low: 1, high: 8, log: true}",
    )
    assert SearchSpace.load(_write(tmp_path, text)).size() == 11 * 2 * 8
    lr = "      lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}\n"
    with_float = text.replace("    fixed:\n", lr + "    fixed:\n")
    assert SearchSpace.load(_write(tmp_path, with_float, "f.yaml")).size() is None


def test_suggest_maps_names_to_specs_and_skips_inactive(tmp_path: Path) -> None:
    space = SearchSpace.load(_write(tmp_path, COUNTED))
    params = {
        "family": "vit",
        "vit.depth": 4,
        "vit.variant": "deit_distilled",
        "vit.mlp_ratio": 2.0,
        "img_size": 64,
        "iterations": 40,
    }
    student, distill = space.suggest(optuna.trial.FixedTrial(params))
    assert student == StudentSpec(
        "vit",
        {
            "depth": 4,
            "variant": "deit_distilled",
            "mlp_ratio": 2.0,
            "patch_size": 8,
            "embed_dim": 32,
            "num_heads": 2,
        },
        64,
    )
    assert distill == DistillSpec(iterations=40)
    study = _study(seed=3)
    for _ in range(30):
        trial = study.ask()
        spec, _ = space.suggest(trial)
        prefix = "mobilenetv3." if spec.family == "vit" else "vit."
        assert not any(name.startswith(prefix) for name in trial.params)
        if spec.arch.get("variant") != "deit_distilled":
            assert "vit.mlp_ratio" not in trial.params
        study.tell(trial, 0.0)


def test_same_seed_same_specs() -> None:
    space = SearchSpace.load(SPACES_DIR / "mixed.yaml")

    def run(seed: int) -> list[tuple[StudentSpec, DistillSpec]]:
        study = _study(seed)
        return [space.suggest(study.ask()) for _ in range(10)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_fixed_rebuilds_and_rejects_bad_params(tmp_path: Path) -> None:
    path = _write(tmp_path, COUNTED)
    space = SearchSpace.load(path)
    good = {"family": "mobilenetv3", "mobilenetv3.width": 1, "img_size": 32, "iterations": 70}
    student, distill = space.fixed(good)
    assert student == StudentSpec("mobilenetv3", {"width": 1.0}, 32)
    assert student.to_dict()["arch"]["width"] == 1.0 and isinstance(student.arch["width"], float)
    assert distill.iterations == 70
    cases = [
        ({k: v for k, v in good.items() if k != "img_size"}, r"params\.img_size: missing"),
        ({**good, "vit.depth": 4}, r"\['vit\.depth'\]: not active parameters"),
        ({**good, "colour": 1}, r"\['colour'\]: not active"),
        ({**good, "iterations": 50}, r"params\.iterations: expected low \+ k \* step"),
        ({**good, "iterations": 130}, r"params\.iterations: `10 <= value <= 100` must hold"),
        ({**good, "mobilenetv3.width": 0.75}, r"params\.mobilenetv3\.width: expected one of"),
    ]
    for params, match in cases:
        with pytest.raises(ConfigError, match=rf"^{path}: {match}"):
            space.fixed(params)


def test_distributions_allow_create_trial(tmp_path: Path) -> None:
    space = SearchSpace.load(_write(tmp_path, COUNTED))
    params = {"family": "mobilenetv3", "mobilenetv3.width": 0.5, "img_size": 64, "iterations": 10}
    distributions = {name: space.distributions()[name] for name in params}
    trial = optuna.trial.create_trial(params=params, distributions=distributions, value=0.1)
    assert space.fixed(trial.params)[0] == StudentSpec("mobilenetv3", {"width": 0.5}, 64)


def test_relative_weights_are_relative_to_the_yaml(tmp_path: Path) -> None:
    (tmp_path / "w.pth").write_bytes(b"")
    text = "version: 1\nparams: {}\nfixed: {family: resnet, img_size: 64, resnet.weights: w.pth}\n"
    space = SearchSpace.load(_write(tmp_path, text))
    assert space.size() == 1
    student, _ = space.fixed({})
    assert student.weights == str(tmp_path / "w.pth")
    missing = text.replace("w.pth}", "gone.pth}")
    with pytest.raises(ConfigError, match=r"fixed\.resnet\.weights: weights file .*gone\.pth"):
        SearchSpace.load(_write(tmp_path, missing, "m.yaml"))


def test_init_is_a_searched_dimension(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        version: 1
        params:
          family: {type: categorical, choices: [vit, resnet]}
          resnet.init: {type: categorical, choices: [scratch, pretrained]}
          vit.init: {type: categorical, choices: [scratch, inherit]}
        fixed:
          img_size: 32
        """,
    )
    space = SearchSpace.load(path)
    assert space.size() == 4
    spec, _ = space.suggest(optuna.trial.FixedTrial({"family": "vit", "vit.init": "inherit"}))
    assert spec.init == "inherit" and spec.family == "vit"
    spec, _ = space.fixed({"family": "resnet", "resnet.init": "pretrained"})
    assert spec.init == "pretrained"
    bad = _write(
        tmp_path,
        """
        version: 1
        params:
          family: {type: categorical, choices: [resnet]}
          resnet.init: {type: categorical, choices: [scratch, inherit]}
        fixed:
          img_size: 32
        """,
        "bad.yaml",
    )
    with pytest.raises(ConfigError, match=r"params\.resnet\.init\.choices\[1\]: expected one of"):
        SearchSpace.load(bad)
