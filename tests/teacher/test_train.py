"""End-to-end tests of `fasnas teacher train` and `fasnas teacher cache` on a tiny layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fasnas.cli import main
from fasnas.config import load_config
from fasnas.data.frameset import FrameSet
from fasnas.errors import CheckpointError, ConfigError
from fasnas.teacher.cache import TeacherCache, cache_protocol, protocol_outputs
from fasnas.teacher.file import load_teacher, save_teacher, sha256_file
from fasnas.teacher.reference import teacher_gmacs

CONFIG = """\
name: tiny
seed: 0
data:
  root: {root}
  size: 32
  val_fraction: 0.34
protocols: [M]
teacher:
  variant: flip-it
  model: tiny
  init: {init}
  train:
    iterations: 40
    lr: 2.0e-3
    weight_decay: 0.0
    batch_per_group: 2
"""


@pytest.fixture
def study(tmp_path, make_layout) -> Path:
    make_layout(tmp_path / "data", videos_per_class=4, size=32)
    path = tmp_path / "study.yaml"
    path.write_text(CONFIG.format(root=tmp_path / "data", init="random"))
    return path


@pytest.mark.slow
def test_train_then_cache_from_the_cli(study, capsys) -> None:
    assert main(["teacher", "train", "--config", str(study), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "teacher M: HTER" in out and "test-EER threshold" in out and "source-val" in out
    config = load_config(study)
    teacher, info = load_teacher(config.teacher.file_for("M"))
    assert info.protocol == "M"
    assert set(info.sources) == {"oulu", "casia", "replay"}
    assert info.source_sha256 == "random"
    metrics = info.extra["metrics"]
    assert set(metrics) == {"source-val", "test-eer", "source-threshold"}
    assert info.extra["source_val_seen"] is False  # trained on source-train only
    # the reports' reference point: the image path's GMACs, stored beside the metrics
    assert info.extra["gmacs"] == pytest.approx(teacher_gmacs(teacher)) and info.extra["gmacs"] > 0
    # the fixture's fakes carry a visible checkerboard: the trained teacher separates them
    assert metrics["test-eer"]["auc"] > 0.9
    # deterministic under the config's seed, whatever ran before in this process
    torch.manual_seed(12345)
    assert main(["teacher", "train", "--config", str(study), "--quiet"]) == 0
    _, again = load_teacher(config.teacher.file_for("M"))
    assert again.extra["metrics"] == metrics

    assert main(["teacher", "cache", "--config", str(study), "--quiet"]) == 0
    assert "0 reused" in capsys.readouterr().out
    assert main(["teacher", "cache", "--config", str(study), "--quiet"]) == 0
    assert "0 built" in capsys.readouterr().out

    caches = cache_protocol(config, "M", progress=False)
    cache, built = caches[0]
    assert not built
    frames_cache = _frames_of(config, "M")
    rows = np.arange(len(frames_cache.source_train))
    outputs = protocol_outputs(
        config.data.cache_dir, "M", frames_cache.source_train, info.file_sha256
    )
    # cached outputs equal a fresh forward pass of the teacher on the same frames
    images = frames_cache.source_train.images(rows[:6])
    x = teacher.preprocess.normalize(images)
    with torch.no_grad():
        expected_logits = teacher(x).numpy()
        expected_embed = teacher.embed(x).numpy()
    assert np.allclose(outputs.logits(rows[:6]), expected_logits, atol=1e-5)
    assert np.allclose(outputs.embeddings(rows[:6]), expected_embed, atol=1e-5)
    assert np.allclose(outputs.text, teacher.class_text_embeddings().numpy(), atol=1e-6)
    # teacher.cache_dtype float32 (the default, FLIP's): the cache IS an fp32 forward, batch
    # by batch as it was computed
    assert cache.meta["dtype"] == "float32" and cache.embeddings.dtype == np.float32
    whole = FrameSet.from_caches([(frames_cache.source_train.caches[0], None)])
    for start in range(0, len(whole), 128):
        index = np.arange(start, min(start + 128, len(whole)))
        x = teacher.preprocess.normalize(whole.images(index))
        with torch.no_grad():
            assert np.array_equal(cache.logits[index], teacher(x).numpy())
            assert np.array_equal(cache.embeddings[index], teacher.embed(x).numpy())


def _frames_of(config, protocol):
    from fasnas.data.frameset import study_frames

    return study_frames(config, protocol, progress=False)


def test_init_is_never_a_silent_random_init(tmp_path, make_layout) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(CONFIG.format(root=tmp_path, init="random").replace("  init: random\n", ""))
    from fasnas.teacher.train import train_teacher

    with pytest.raises(ConfigError, match="teacher.init: required"):
        train_teacher(load_config(path), "M", progress=False)


def test_a_teacher_trained_on_the_target_is_refused(study, capsys) -> None:
    from fasnas.teacher.configs import TINY_CONFIG
    from fasnas.teacher.flip import build_teacher

    config = load_config(study)
    leaky = build_teacher("flip-it", "tiny", TINY_CONFIG)
    save_teacher(
        leaky,
        config.teacher.file_for("M"),
        protocol="M",
        sources=("msu", "casia", "replay"),
        source_sha256="random",
    )
    assert main(["teacher", "cache", "--config", str(study), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "leakage" in err and "'msu'" in err and len(err.splitlines()) == 1


def test_a_cache_from_another_teacher_is_refused(study, capsys) -> None:
    from fasnas.teacher.configs import TINY_CONFIG
    from fasnas.teacher.flip import build_teacher

    config = load_config(study)
    path = config.teacher.file_for("M")
    torch.manual_seed(1)
    save_teacher(
        build_teacher("flip-it", "tiny", TINY_CONFIG),
        path,
        protocol="M",
        sources=("oulu", "casia", "replay"),
        source_sha256="random",
    )
    cache_protocol(config, "M", progress=False)
    frames = _frames_of(config, "M")
    torch.manual_seed(2)
    save_teacher(
        build_teacher("flip-it", "tiny", TINY_CONFIG),
        path,
        protocol="M",
        sources=("oulu", "casia", "replay"),
        source_sha256="random",
    )
    with pytest.raises(CheckpointError, match="teacher cache is from another teacher"):
        protocol_outputs(config.data.cache_dir, "M", frames.source_train, sha256_file(path))
    # `fasnas teacher cache` rebuilds it for the new teacher
    rebuilt = cache_protocol(config, "M", progress=False)
    assert all(built for _, built in rebuilt)
    cache = TeacherCache.open_for(
        config.data.cache_dir, "M", frames.source_train.caches[0], sha256_file(path)
    )
    assert cache.meta["teacher_sha256"] == sha256_file(path)


def test_a_cache_in_another_precision_is_refused_and_rebuilt(study) -> None:
    import dataclasses

    from fasnas.teacher.configs import TINY_CONFIG
    from fasnas.teacher.flip import build_teacher

    config = load_config(study)
    torch.manual_seed(1)
    save_teacher(
        build_teacher("flip-it", "tiny", TINY_CONFIG),
        config.teacher.file_for("M"),
        protocol="M",
        sources=("oulu", "casia", "replay"),
        source_sha256="random",
    )
    teacher = dataclasses.replace(config.teacher, cache_dtype="float16")
    half = dataclasses.replace(config, teacher=teacher)
    (cache, built), *_ = cache_protocol(half, "M", progress=False)
    assert built and cache.meta["dtype"] == "float16" and cache.embeddings.dtype == np.float16
    frames = _frames_of(config, "M")
    sha = sha256_file(config.teacher.file_for("M"))
    with pytest.raises(CheckpointError, match=r"precision \(float16, expected float32"):
        protocol_outputs(config.data.cache_dir, "M", frames.source_train, sha, "float32")
    (cache, built), *_ = cache_protocol(config, "M", progress=False)  # the default: float32
    assert built and cache.meta["dtype"] == "float32"


def test_workers_without_a_cache_build_it_once_under_a_lock(study) -> None:
    """A new server of a multi-server study: its workers find no teacher cache; one builds,
    the others wait and reuse it."""
    from concurrent.futures import ThreadPoolExecutor

    from fasnas.teacher.cache import ensure_protocol_cache
    from fasnas.teacher.configs import TINY_CONFIG
    from fasnas.teacher.flip import build_teacher

    config = load_config(study)
    torch.manual_seed(1)
    save_teacher(
        build_teacher("flip-it", "tiny", TINY_CONFIG),
        config.teacher.file_for("M"),
        protocol="M",
        sources=("oulu", "casia", "replay"),
        source_sha256="random",
    )
    with ThreadPoolExecutor(4) as pool:
        built = list(pool.map(lambda _: ensure_protocol_cache(config, "M"), range(4)))
    assert sorted(built) == [False, False, False, True]
    frames = _frames_of(config, "M")
    sha = sha256_file(config.teacher.file_for("M"))
    assert (
        len(
            protocol_outputs(config.data.cache_dir, "M", frames.source_train, sha).logits(
                np.arange(3)
            )
        )
        == 3
    )


def test_frozen_prefixes_are_checked_and_applied() -> None:
    from fasnas.teacher.configs import TINY_CONFIG
    from fasnas.teacher.flip import build_teacher
    from fasnas.teacher.train import freeze

    teacher = build_teacher("flip-it", "tiny", TINY_CONFIG)
    count = freeze(teacher, ["clip.token_embedding"], "s.yaml")
    assert count == 49408 * 64
    assert not teacher.clip.token_embedding.weight.requires_grad
    assert teacher.clip.visual.conv1.weight.requires_grad
    with pytest.raises(ConfigError, match="'clip.tokn' matches no parameter"):
        freeze(teacher, ["clip.tokn"], "s.yaml")


def _mcl_study(study: Path) -> Path:
    text = study.read_text().replace("variant: flip-it", "variant: flip-mcl")
    study.write_text(
        text.replace("    batch_per_group: 2\n", "    batch_per_group: 2\n    mcl: true\n")
    )
    return study


def test_the_mcl_loss_is_flips_sum_on_a_fixed_batch(study) -> None:
    import torch.nn.functional as F
    from flip_reference import flip_info_nce  # FLIP's code, rewritten (tests/flip_reference.py)

    from fasnas.teacher.mcl import MCL_TEMPERATURE, prompt_consistency_loss
    from fasnas.teacher.train import initial_teacher, teacher_loss
    from fasnas.train import Augment

    config = load_config(_mcl_study(study))
    torch.manual_seed(0)
    teacher, _ = initial_teacher(config)
    teacher.train()
    recipe, norm = config.teacher.train, teacher.preprocess
    frames = _frames_of(config, "M").source_train
    index = np.array([0, 3, 5, 8])
    images = norm.normalize(frames.images(index))
    labels = torch.from_numpy(frames.labels[index])
    got = teacher_loss(teacher, recipe, frames, norm, torch.device("cpu"), seed=5)(
        images, labels, index
    )
    # by hand: the same draws (views: generator [5, 1], prompt subsets: [5, 2]), FLIP's formulas
    augment = Augment(recipe.flip_p, recipe.saturation, recipe.saturation_p)
    views = np.random.default_rng([5, 1])
    v_1, v_2 = (norm.normalize(augment(frames.images(index), views)) for _ in range(2))
    e_1, e_2 = teacher.clip.encode_image(v_1), teacher.clip.encode_image(v_2)
    ce = F.cross_entropy(teacher(images), labels)
    nce = flip_info_nce(teacher.image_mlp(e_1), teacher.image_mlp(e_2), MCL_TEMPERATURE)
    prompts = teacher.prompt_text_embeddings()
    mse = prompt_consistency_loss(e_1, e_2, prompts, labels, np.random.default_rng([5, 2]))
    torch.testing.assert_close(got, ce + nce + mse)  # FLIP: every loss weight is 1
    assert not torch.equal(v_1, v_2)  # two different views of the same frames


@pytest.mark.slow
def test_teacher_train_with_mcl_trains_a_flip_mcl_teacher(study, capsys) -> None:
    study = _mcl_study(study)
    text = study.read_text().replace("iterations: 40", "iterations: 3")
    study.write_text(text)
    assert main(["teacher", "train", str(study), "--quiet"]) == 0
    teacher, info = load_teacher(load_config(study).teacher.file_for("M"))
    assert info.variant == "flip-mcl" and hasattr(teacher, "image_mlp")


def test_mcl_needs_a_flip_mcl_teacher(study) -> None:
    study.write_text(
        study.read_text().replace(
            "    batch_per_group: 2\n", "    batch_per_group: 2\n    mcl: true\n"
        )
    )
    with pytest.raises(ConfigError, match=r"teacher.train.mcl: .* need variant flip-mcl"):
        load_config(study)
