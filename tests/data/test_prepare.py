"""Tests of ``fasnas data prepare``: end to end on real MSU videos, resumption, errors.

The real-video tests read the two MSU-MFSD videos of ``../shared/data/msu_real/`` (or
``$FASNAS_SHARED_DATA/msu_real``) through symlinks in a temporary raw folder laid out as MSU
names it, and skip with the reason when the folder is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from msu import iou, read_frame, shared_msu_real  # tests/msu.py

import fasnas.data.prepare as prepare_module
from fasnas.cli import main
from fasnas.data.faces import Box
from fasnas.data.prepare import prepare, split_lists
from fasnas.errors import ConfigError, DataError

HAAR = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
REAL_NAMES = ("real_client005_android_SD_scene01", "real_client022_android_SD_scene01")
ATTACK_NAMES = {  # the same videos under attack names, to exercise the fake lists
    "real_client005_android_SD_scene01": "attack_client005_android_SD_printed_photo_scene01",
    "real_client022_android_SD_scene01": "attack_client022_laptop_SD_ipad_video_scene01",
}


@pytest.fixture
def msu_raw(tmp_path: Path) -> Path:
    """A raw MSU folder: the two real videos, plus the same files under attack names."""
    shared = shared_msu_real()
    raw = tmp_path / "MSU-MFSD"
    (raw / "scene01" / "real").mkdir(parents=True)
    (raw / "scene01" / "attack").mkdir(parents=True)
    for name in REAL_NAMES:
        (raw / "scene01" / "real" / f"{name}.mp4").symlink_to(shared / f"{name}.mp4")
        (raw / "scene01" / "attack" / f"{ATTACK_NAMES[name]}.mp4").symlink_to(
            shared / f"{name}.mp4"
        )
    return raw


def largest_haar_face(image: np.ndarray) -> Box | None:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    faces = cv2.CascadeClassifier(HAAR).detectMultiScale(grey, 1.1, 5)
    if len(faces) == 0:
        return None
    return Box(*(float(v) for v in max(faces, key=lambda f: f[2] * f[3])))


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def write_video(path: Path, n_frames: int, size: tuple[int, int] = (64, 48)) -> None:
    """A small synthetic video (noise frames) in the container its suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, 25, size)
    assert writer.isOpened()
    rng = np.random.default_rng(0)
    for _ in range(n_frames):
        writer.write(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    writer.release()


@pytest.mark.slow
def test_real_msu_videos_end_to_end(msu_raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = prepare(dataset="msu", videos=msu_raw, out=out, progress=False)
    assert (report.found, report.prepared, report.done) == (4, 4, 4)
    assert report.skipped == [] and report.errors == [] and report.fallbacks == []

    saved = json.loads((out / "prepare_report.json").read_text())["datasets"]["msu"]
    frame_dir = out / "MCIO" / "frame"
    for name in REAL_NAMES:
        video = f"msu/train/real/{name}"  # clients 05 and 22 are in MSU's train list
        record = saved["videos"][video]
        assert record["status"] == "done" and record["used"] == record["wanted"]
        assert record["wanted"] == [6, 6 + record["n_frames"] // 2]
        for k, used in enumerate(record["used"]):
            crop = cv2.imread(str(frame_dir / f"{video}_frame{k}.png"))
            assert crop.shape == (224, 224, 3)
            # the box used is the face OpenCV finds on the full-resolution frame ...
            reference = largest_haar_face(read_frame(msu_raw / record["source"], used))
            assert reference is not None and iou(Box(*record["boxes"][k]), reference) > 0.7
            # ... and the crop holds that face, centred and filling much of it
            face = largest_haar_face(crop)
            assert face is not None and face.w > 0.5 * 224
            assert abs(face.x + face.w / 2 - 112) < 30 and abs(face.y + face.h / 2 - 112) < 30

    txt = out / "MCIO" / "txt"
    for label in ("real", "fake"):
        train, test, shot = (
            lines(txt / f"msu_{label}_{s}.txt") for s in ("train", "test", "shot")
        )
        assert len(train) == 2 and len(shot) == 1 and sorted(test + shot) == train
        for line in train:
            assert line.startswith(f"msu/train/{label}/") and line.endswith("_frame0.png")
            assert (frame_dir / line).is_file()
            assert (frame_dir / line.replace("_frame0", "_frame1")).is_file()

    from fasnas.data.check import check_layout

    assert check_layout(out, size=224).problems == []


@pytest.mark.slow
def test_rerun_is_idempotent_and_resumes(msu_raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    prepare(dataset="msu", videos=msu_raw, out=out, progress=False)
    frames = sorted((out / "MCIO" / "frame").rglob("*.png"))
    stamps = {path: path.stat().st_mtime_ns for path in frames}
    lists_before = {p.name: p.read_text() for p in (out / "MCIO" / "txt").iterdir()}

    again = prepare(dataset="msu", videos=msu_raw, out=out, progress=False)
    assert (again.prepared, again.resumed, again.done) == (0, 4, 4)
    assert {path: path.stat().st_mtime_ns for path in frames} == stamps
    assert {p.name: p.read_text() for p in (out / "MCIO" / "txt").iterdir()} == lists_before

    frames[0].unlink()  # a lost frame makes its video unfinished again
    third = prepare(dataset="msu", videos=msu_raw, out=out, progress=False)
    assert (third.prepared, third.resumed) == (1, 3) and frames[0].is_file()


@pytest.mark.slow
def test_parallel_workers_give_the_same_crops(msu_raw: Path, tmp_path: Path) -> None:
    prepare(dataset="msu", videos=msu_raw, out=tmp_path / "one", progress=False)
    report = prepare(dataset="msu", videos=msu_raw, out=tmp_path / "two", workers=2)
    assert report.prepared == 4
    one = sorted((tmp_path / "one" / "MCIO").rglob("*.*"))
    two = sorted((tmp_path / "two" / "MCIO").rglob("*.*"))
    assert [p.relative_to(tmp_path / "one") for p in one] == [
        p.relative_to(tmp_path / "two") for p in two
    ]
    for a, b in zip(one, two, strict=True):
        assert a.read_bytes() == b.read_bytes()


@pytest.mark.slow
def test_interrupt_leaves_no_partial_image_or_list(msu_raw, tmp_path, monkeypatch) -> None:
    out = tmp_path / "out"
    real = prepare_module.prepare_video
    calls = []

    def interrupted_after_one(task, detector):
        calls.append(task.video)
        if len(calls) == 2:  # stopped after writing one of its two frames
            task.outputs[0].write_bytes(b"a complete PNG of a video left unfinished")
            raise KeyboardInterrupt
        return real(task, detector)

    monkeypatch.setattr(prepare_module, "prepare_video", interrupted_after_one)
    with pytest.raises(KeyboardInterrupt):
        prepare(dataset="msu", videos=msu_raw, out=out, progress=False)
    assert not (out / "MCIO" / "txt").exists() or not any((out / "MCIO" / "txt").iterdir())
    assert not list(out.rglob("*.tmp"))
    assert len(list(out.rglob("*.png"))) == 2  # the first video, complete; no lone frame
    saved = json.loads((out / "prepare_report.json").read_text())["datasets"]["msu"]
    assert list(saved["videos"]) == [calls[0]]

    monkeypatch.setattr(prepare_module, "prepare_video", real)
    resumed = prepare(dataset="msu", videos=msu_raw, out=out, progress=False)
    assert (resumed.prepared, resumed.resumed, resumed.done) == (3, 1, 4)


def test_interrupt_during_an_image_write_leaves_nothing(tmp_path, monkeypatch) -> None:
    raw = tmp_path / "raw"
    write_video(raw / "Train_files" / "1_1_01_1.avi", 20)
    boxes = tmp_path / "boxes"
    (boxes / "Train_files").mkdir(parents=True)
    (boxes / "Train_files" / "1_1_01_1.face").write_text(
        "".join(f"{i} 8 8 32 32\n" for i in range(20))
    )

    def replace_interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr("fasnas._io.os.replace", replace_interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare(
            dataset="oulu",
            videos=raw,
            out=tmp_path / "out",
            detector="boxes",
            boxes=boxes,
            progress=False,
        )
    assert [p.name for p in (tmp_path / "out").rglob("*") if p.is_file()] == []


def test_box_files_drive_fallbacks_and_skips_through_the_cli(tmp_path, capsys) -> None:
    raw, boxes, out = tmp_path / "raw", tmp_path / "boxes", tmp_path / "out"
    write_video(raw / "Train_files" / "1_1_01_1.avi", 30)  # frames 6 and 21
    write_video(raw / "Test_files" / "1_1_36_2.avi", 30)
    write_video(raw / "Test_files" / "1_1_36_1.avi", 30)
    (boxes / "Train_files").mkdir(parents=True)
    (boxes / "Test_files").mkdir(parents=True)
    everywhere_but_6 = "".join(f"{i} 8 8 32 32\n" for i in range(30) if i != 6)
    (boxes / "Train_files" / "1_1_01_1.face").write_text(everywhere_but_6)
    (boxes / "Test_files" / "1_1_36_2.face").write_text(
        "".join(f"{i} 8 8 32 32\n" for i in range(30))
    )
    (boxes / "Test_files" / "1_1_36_1.face").write_text("25 8 8 32 32\n")  # nothing near 6

    code = main(
        ["data", "prepare", "--dataset", "oulu", "--videos", str(raw), "--out", str(out),
         "--detector", "boxes", "--boxes", str(boxes)]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "skipped oulu/test/real/1_1_36_1: no face in frames 0-16 around frame 6" in printed
    assert "fallback oulu/train/real/1_1_01_1 frame0: wanted 6, used 5" in printed

    saved = json.loads((out / "prepare_report.json").read_text())["datasets"]["oulu"]
    assert saved["fallbacks"] == [
        {"video": "oulu/train/real/1_1_01_1", "frame": 0, "wanted": 6, "used": 5}
    ]
    assert saved["skipped"][0]["video"] == "oulu/test/real/1_1_36_1"
    assert saved["videos"]["oulu/train/real/1_1_01_1"]["used"] == [5, 21]
    txt = out / "MCIO" / "txt"
    assert lines(txt / "oulu_real_train.txt") == ["oulu/train/real/1_1_01_1_frame0.png"]
    assert lines(txt / "oulu_fake_train.txt") == ["oulu/test/fake/1_1_36_2_frame0.png"]
    crop = cv2.imread(str(out / "MCIO" / "frame" / "oulu/train/real/1_1_01_1_frame0.png"))
    assert crop.shape == (224, 224, 3)


def _cli_error(capsys, *args: str) -> str:
    code = main(["data", "prepare", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    errors = [line for line in err if not line.startswith("prepare ")]  # not the progress bar
    assert len(errors) == 1 and errors[0].startswith("error: "), err
    return errors[0]


def test_empty_folder_is_exit_2(tmp_path, capsys) -> None:
    (tmp_path / "raw").mkdir()
    message = _cli_error(
        capsys,
        "--dataset",
        "msu",
        "--videos",
        str(tmp_path / "raw"),
        "--out",
        str(tmp_path / "out"),
    )
    assert "no MSU-MFSD videos found; expected scene01/real/" in message


def test_unreadable_video_is_exit_2(tmp_path, capsys) -> None:
    bad = tmp_path / "raw" / "scene01" / "real" / "real_client005_android_SD_scene01.mp4"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a video" * 100)
    message = _cli_error(
        capsys,
        "--dataset",
        "msu",
        "--videos",
        str(tmp_path / "raw"),
        "--out",
        str(tmp_path / "out"),
    )
    assert "1 of 1 video(s) could not be prepared" in message
    assert "scene01/real/real_client005_android_SD_scene01.mp4 (OpenCV cannot open" in message
    saved = json.loads((tmp_path / "out" / "prepare_report.json").read_text())["datasets"]
    assert saved["msu"]["errors"][0]["video"] == "msu/train/real/real_client005_android_SD_scene01"


def test_video_shorter_than_7_frames_is_exit_2(tmp_path, capsys) -> None:
    write_video(tmp_path / "raw" / "train_release" / "3" / "HR_1.avi", 5)
    message = _cli_error(
        capsys,
        "--dataset",
        "casia",
        "--videos",
        str(tmp_path / "raw"),
        "--out",
        str(tmp_path / "out"),
    )
    assert "train_release/3/HR_1.avi (video has 5 frame(s)" in message
    assert "at least 7 are needed" in message


def test_unknown_dataset_is_exit_2(tmp_path, capsys) -> None:
    message = _cli_error(
        capsys, "--dataset", "celeb", "--videos", str(tmp_path), "--out", str(tmp_path / "out")
    )
    assert (
        "--dataset must be one of ['casia', 'msu', 'oulu', 'replay'], but got 'celeb'" in message
    )


def test_output_folder_that_is_a_file_is_exit_2(tmp_path, capsys) -> None:
    write_video(tmp_path / "raw" / "Train_files" / "1_1_01_1.avi", 10)
    (tmp_path / "out").write_text("not a folder")
    message = _cli_error(
        capsys,
        "--dataset",
        "oulu",
        "--videos",
        str(tmp_path / "raw"),
        "--out",
        str(tmp_path / "out"),
    )
    assert f"--out {tmp_path / 'out'}: {tmp_path / 'out'} is a file; expected a folder" in message


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"workers": 0}, r"`--workers >= 1` must hold, but got \(workers=0\)"),
        ({"margin": -0.1}, r"`--margin >= 0` must hold"),
        ({"detector": "boxes"}, "needs --boxes"),
        ({"detector": "retina"}, "--detector must be one of"),
    ],
)
def test_bad_options_are_config_errors(tmp_path, options, match) -> None:
    with pytest.raises(ConfigError, match=match):
        prepare(dataset="msu", videos=tmp_path, out=tmp_path / "out", **options)


def test_other_settings_on_a_prepared_root_are_refused(tmp_path) -> None:
    raw, boxes = tmp_path / "raw", tmp_path / "boxes"
    write_video(raw / "Train_files" / "1_1_01_1.avi", 10)
    (boxes / "Train_files").mkdir(parents=True)
    (boxes / "Train_files" / "1_1_01_1.face").write_text("6 8 8 32 32\n8 8 8 32 32\n9 8 8 32 32\n")
    options = {
        "dataset": "oulu",
        "videos": raw,
        "out": tmp_path / "out",
        "detector": "boxes",
        "boxes": boxes,
        "progress": False,
    }
    assert prepare(**options).done == 1
    assert not (tmp_path / "out" / "MCIO" / "txt" / "oulu_fake_train.txt").exists()
    with pytest.raises(ConfigError, match=r"other settings \(margin: 0.25 -> 0.5\)"):
        prepare(**options, margin=0.5)


def test_report_keeps_other_datasets_sections(tmp_path) -> None:
    raw, boxes, out = tmp_path / "raw", tmp_path / "boxes", tmp_path / "out"
    write_video(raw / "Train_files" / "1_1_01_1.avi", 10)
    (boxes / "Train_files").mkdir(parents=True)
    (boxes / "Train_files" / "1_1_01_1.face").write_text("6 8 8 32 32\n9 8 8 32 32\n")
    out.mkdir()
    (out / "prepare_report.json").write_text(
        json.dumps({"format": 1, "datasets": {"casia": {"videos": {}, "note": "kept"}}})
    )
    prepare(dataset="oulu", videos=raw, out=out, detector="boxes", boxes=boxes, progress=False)
    saved = json.loads((out / "prepare_report.json").read_text())["datasets"]
    assert saved["casia"]["note"] == "kept" and "oulu" in saved


def test_corrupt_report_is_a_data_error(tmp_path) -> None:
    write_video(tmp_path / "raw" / "Train_files" / "1_1_01_1.avi", 10)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "prepare_report.json").write_text("{half")
    with pytest.raises(DataError, match="cannot read the previous report"):
        prepare(dataset="oulu", videos=tmp_path / "raw", out=tmp_path / "out")


def test_split_lists_follow_flip_counts() -> None:
    paths = [f"msu/train/real/video{i:02d}_frame0.png" for i in range(70)]
    lists = split_lists(list(reversed(paths)))
    assert lists["train"] == paths  # docs/flip.md §1: msu real train 70, test 60, shot 10
    assert len(lists["shot"]) == 10 and len(lists["test"]) == 60
    assert sorted(lists["test"] + lists["shot"]) == paths
    assert split_lists(paths[::2] + paths[1::2])["shot"] == lists["shot"]  # order-free
    assert len(split_lists(paths[:3])["shot"]) == 1 and split_lists(paths[:1])["shot"] == []


@pytest.mark.slow
def test_a_detector_failing_in_the_workers_is_a_config_error(tmp_path, monkeypatch) -> None:
    raw = tmp_path / "raw"
    write_video(raw / "Train_files" / "1_1_01_1.avi", 10)
    write_video(raw / "Train_files" / "1_1_01_2.avi", 10)
    (tmp_path / "broken_detectors.py").write_text(
        "class NoWeights:\n"
        "    def __init__(self):\n"
        "        raise RuntimeError('no weights here')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="failed to start in a worker.*no weights here"):
        prepare(
            dataset="oulu",
            videos=raw,
            out=tmp_path / "out",
            detector="broken_detectors:NoWeights",
            workers=2,
            progress=False,
        )
