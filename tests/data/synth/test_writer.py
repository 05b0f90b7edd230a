"""Tests of fasnas.data.synth.writer: FLIP layout, counts, determinism, safety, arguments.

Expected counts are computed by hand from the table of docs/flip.md §1 and the documented rule
``n = max(4, round(R * scale))``, shot ``min(10, max(2, round(10 * scale)))``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from fasnas.data.layout import Layout, label_from_path
from fasnas.data.synth import synthesize
from fasnas.errors import ConfigError, DataError

MCIO = ("msu", "casia", "replay", "oulu")
SCALE, SIZE, CELEB_SCALE = 0.02, 32, 0.0005
# hand-computed: R * 0.02 -> msu 1.4/4.2, casia 3/9, replay 2.8/14, oulu 14.4/57.6; min 4
EXPECTED_TRAIN = {"msu": (4, 4), "casia": (4, 9), "replay": (4, 14), "oulu": (14, 58)}
EXPECTED_CELEB = (20, 20)  # 40000 * 0.0005
EXPECTED_SHOT = 2  # round(10 * 0.02) = 0 -> at least 2


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    synthesize(out, scale=SCALE, size=SIZE, seed=0, celeb_scale=CELEB_SCALE)
    return out


def _lines(root: Path, name: str) -> list[str]:
    return (root / "MCIO" / "txt" / name).read_text(encoding="utf-8").splitlines()


def test_list_files_and_counts_follow_the_scaled_rule(synth_root: Path) -> None:
    names = sorted(p.name for p in (synth_root / "MCIO" / "txt").iterdir())
    expected = sorted(
        [
            f"{d}_{c}_{s}.txt"
            for d in MCIO
            for c in ("real", "fake")
            for s in ("train", "test", "shot")
        ]
        + ["celeb_real_train.txt", "celeb_fake_train.txt"]
    )
    assert names == expected
    for domain, (n_real, n_fake) in EXPECTED_TRAIN.items():
        for label, n in (("real", n_real), ("fake", n_fake)):
            train = _lines(synth_root, f"{domain}_{label}_train.txt")
            shot = _lines(synth_root, f"{domain}_{label}_shot.txt")
            test = _lines(synth_root, f"{domain}_{label}_test.txt")
            assert len(train) == len(set(train)) == n
            assert len(shot) == EXPECTED_SHOT
            assert set(shot) <= set(train)
            assert test == [line for line in train if line not in shot]
    assert len(_lines(synth_root, "celeb_real_train.txt")) == EXPECTED_CELEB[0]
    assert len(_lines(synth_root, "celeb_fake_train.txt")) == EXPECTED_CELEB[1]


def test_every_listed_frame_exists_with_its_frame1_label_folder_and_size(synth_root: Path) -> None:
    frame_dir = synth_root / "MCIO" / "frame"
    for path in (synth_root / "MCIO" / "txt").iterdir():
        label = "real" if "_real_" in path.name else "fake"
        for line in _lines(synth_root, path.name):
            assert label_from_path(line) == (1 if label == "real" else 0)
            frames = [line]
            if line.startswith("celeb/"):
                assert re.fullmatch(rf"celeb/{label}/\d+_(live|spoof)_\d{{6}}\.jpg", line)
                assert ("_live_" in line) == (label == "real")
            else:
                assert re.fullmatch(rf"[a-z]+/(train|test)/{label}/[\w]+_frame0\.png", line)
                frames.append(line.replace("_frame0.png", "_frame1.png"))
            for frame in frames:
                image = cv2.imread(str(frame_dir / frame), cv2.IMREAD_UNCHANGED)
                assert image is not None and image.shape == (SIZE, SIZE, 3), frame
                assert image.dtype == np.uint8


def test_no_stray_files_besides_the_listed_frames(synth_root: Path) -> None:
    frame_dir = synth_root / "MCIO" / "frame"
    listed = set()
    for path in (synth_root / "MCIO" / "txt").iterdir():
        for line in _lines(synth_root, path.name):
            listed.add(line)
            listed.add(line.replace("_frame0.png", "_frame1.png"))
    on_disk = {str(p.relative_to(frame_dir)) for p in frame_dir.rglob("*") if p.is_file()}
    assert on_disk == listed
    assert sorted(p.name for p in synth_root.iterdir()) == ["MCIO"]  # no temp folder left


def test_layout_reader_reads_it(synth_root: Path) -> None:
    layout = Layout(synth_root)
    for domain, (n_real, n_fake) in EXPECTED_TRAIN.items():
        train = layout.records(domain, "train")
        assert [r.label for r in train] == [1] * n_real + [0] * n_fake
        test = layout.records(domain, "test")  # frame1 added by FLIP's reader
        assert len(test) == 2 * (n_real + n_fake - 2 * EXPECTED_SHOT)
        assert all(r.path.is_file() for r in train + test)
        assert len({r.video_id for r in test}) == len(test) // 2
    celeb = layout.records("celeb", "train")
    assert len(celeb) == sum(EXPECTED_CELEB) and all(r.path.is_file() for r in celeb)


def test_two_frames_show_the_same_scene_with_a_small_change(synth_root: Path) -> None:
    frame_dir = synth_root / "MCIO" / "frame"
    lines = _lines(synth_root, "oulu_real_train.txt")
    first = [cv2.imread(str(frame_dir / line)).astype(float) for line in lines]
    second = [
        cv2.imread(str(frame_dir / line.replace("_frame0", "_frame1"))).astype(float)
        for line in lines
    ]
    within = [np.abs(a - b).mean() for a, b in zip(first, second, strict=True)]
    across = [np.abs(a - b).mean() for a, b in zip(first, first[1:] + first[:1], strict=True)]
    assert all(d > 0 for d in within)  # the frames are not copies
    assert np.mean(within) < 0.6 * np.mean(across)  # but closer than two different videos


@pytest.mark.slow
def test_same_seed_same_bytes_any_workers_and_other_seed_differs(
    synth_root: Path, tmp_path: Path
) -> None:
    reference = _tree_digest(synth_root / "MCIO")
    synthesize(tmp_path / "again", scale=SCALE, size=SIZE, seed=0, celeb_scale=CELEB_SCALE)
    assert _tree_digest(tmp_path / "again" / "MCIO") == reference
    synthesize(
        tmp_path / "parallel", scale=SCALE, size=SIZE, seed=0, celeb_scale=CELEB_SCALE, workers=2
    )
    assert _tree_digest(tmp_path / "parallel" / "MCIO") == reference
    synthesize(tmp_path / "other", scale=SCALE, size=SIZE, seed=1, celeb_scale=CELEB_SCALE)
    other = _tree_digest(tmp_path / "other" / "MCIO")
    shared_images = [k for k in other.keys() & reference.keys() if not k.endswith(".txt")]
    assert shared_images, "some video names are chosen by both seeds"
    assert all(other[k] != reference[k] for k in shared_images)


def test_refuses_a_file_as_output(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("mine")
    with pytest.raises(DataError, match="is a file") as error:
        synthesize(target, scale=SCALE, size=SIZE)
    assert "\n" not in str(error.value)
    assert target.read_text() == "mine"


def test_refuses_a_non_empty_mcio_and_leaves_it_alone(tmp_path: Path) -> None:
    (tmp_path / "MCIO").mkdir()
    (tmp_path / "MCIO" / "keep.txt").write_text("user data")
    with pytest.raises(DataError, match="not empty") as error:
        synthesize(tmp_path, scale=SCALE, size=SIZE)
    assert "\n" not in str(error.value) and "MCIO" in str(error.value)
    assert [p.name for p in (tmp_path / "MCIO").iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MCIO"]


def test_an_empty_mcio_folder_is_filled(tmp_path: Path) -> None:
    (tmp_path / "MCIO").mkdir()
    synthesize(tmp_path, scale=SCALE, size=SIZE, celeb_scale=0.0001)
    assert (tmp_path / "MCIO" / "txt" / "msu_real_train.txt").is_file()


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"scale": 0}, "scale"),
        ({"scale": -0.5}, "scale"),
        ({"scale": 1.5}, "scale"),
        ({"size": 31}, "size"),
        ({"size": 16}, "size"),
        ({"workers": 0}, "workers"),
        ({"seed": -1}, "seed"),
        ({"celeb_scale": 0.0}, "celeb_scale"),
    ],
)
def test_bad_arguments_are_one_line_config_errors(tmp_path: Path, kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"but got {key}=") as error:
        synthesize(tmp_path / "out", **kwargs)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()  # nothing is created before the checks pass


def test_a_failure_midway_leaves_no_partial_output(tmp_path: Path, monkeypatch) -> None:
    import fasnas.data.synth.writer as writer

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(writer, "_write_lists", broken)
    with pytest.raises(OSError, match="disk full"):
        synthesize(tmp_path, scale=SCALE, size=SIZE, celeb_scale=0.0001)
    assert list(tmp_path.iterdir()) == []
