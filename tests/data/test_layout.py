"""Tests of the FLIP layout reader (fasnas/data/layout.py) on hand-written layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from fasnas.data.layout import (
    REAL,
    SPOOF,
    FrameRecord,
    Layout,
    expand_test_frames,
    label_from_path,
    video_id_of,
)
from fasnas.errors import DataError


def _write_lists(root: Path, lists: dict[str, list[str]], benchmark: str = "MCIO") -> Layout:
    txt = root / benchmark / "txt"
    txt.mkdir(parents=True)
    for name, lines in lists.items():
        (txt / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Layout(root, benchmark)


@pytest.mark.parametrize(
    ("line", "video"),
    [
        (
            "msu/test/real/real_client033_android_SD_scene01_frame0.png",
            "msu/test/real/real_client033_android_SD_scene01",
        ),
        (
            "replay/train/real/real_client001_session01_webcam_authenticate_controlled_2_frame0.png",
            "replay/train/real/real_client001_session01_webcam_authenticate_controlled_2",
        ),
        ("casia/train/fake/12_HR_1_frame1.png", "casia/train/fake/12_HR_1"),
        ("oulu/test/real/1_1_01_1_frame0.png", "oulu/test/real/1_1_01_1"),
        ("celeb/fake/563_spoof_348234.jpg", "celeb/fake/563_spoof_348234"),
        # A celeb name ending in two digits is one image, not a WCS frame number.
        ("celeb/real/10_live_12.jpg", "celeb/real/10_live_12"),
        ("wmca/train/real/100_03_01_02.jpg", "wmca/train/real/100_03_01"),
        ("cefa/test/fake/3_001_2_1_4_09.jpg", "cefa/test/fake/3_001_2_1_4"),
    ],
)
def test_video_id_strips_only_the_frame_suffix(line: str, video: str) -> None:
    assert video_id_of(line) == video


def test_expand_test_frames_adds_frame1_only_for_frame0() -> None:
    assert expand_test_frames("msu/test/real/a_frame0.png") == [
        "msu/test/real/a_frame0.png",
        "msu/test/real/a_frame1.png",
    ]
    assert expand_test_frames("celeb/real/1_live_2.jpg") == ["celeb/real/1_live_2.jpg"]
    assert expand_test_frames("wmca/test/real/v_00.jpg") == ["wmca/test/real/v_00.jpg"]


def test_label_from_path_reads_the_folders_not_the_file_name() -> None:
    assert label_from_path("msu/train/real/attack_x_frame0.png") == REAL
    assert label_from_path("msu/train/fake/real_x_frame0.png") == SPOOF
    assert label_from_path("celeb/fake/563_spoof_348234.jpg") == SPOOF
    assert label_from_path("somewhere/real_x.png") is None


def test_labels_come_from_list_names(tmp_path: Path) -> None:
    # Folders deliberately say nothing about the label: only the list name decides.
    layout = _write_lists(
        tmp_path,
        {
            "msu_real_train.txt": ["msu/a/v1_frame0.png", "msu/a/v2_frame0.png"],
            "msu_fake_train.txt": ["msu/a/v3_frame0.png"],
        },
    )
    records = layout.records("msu", "train")
    assert [(r.path.name, r.label) for r in records] == [
        ("v1_frame0.png", 1),
        ("v2_frame0.png", 1),
        ("v3_frame0.png", 0),
    ]
    assert records[0] == FrameRecord(
        path=tmp_path / "MCIO" / "frame" / "msu/a/v1_frame0.png",
        label=1,
        domain="msu",
        video_id="msu/a/v1",
        split="train",
    )


def test_frame1_expansion_for_test_only(make_layout, tmp_path: Path) -> None:
    # 3 videos per class, 1 shot: train 3 lines, shot 1, test 2 lines (-> 4 frames).
    layout = make_layout(tmp_path, domains=("casia",), videos_per_class=3, shot_videos=1)
    train = layout.records("casia", "train")
    shot = layout.records("casia", "shot")
    test = layout.records("casia", "test")
    assert len(train) == 6 and len(shot) == 2 and len(test) == 8
    assert all(r.path.name.endswith("_frame0.png") for r in train + shot)
    assert [r.path.name for r in test[:2]] == [
        "real_client001_frame0.png",
        "real_client001_frame1.png",
    ]
    assert test[0].video_id == test[1].video_id == "casia/test/real/real_client001"
    assert [r.label for r in test] == [1, 1, 1, 1, 0, 0, 0, 0]
    assert {r.split for r in test} == {"test"}
    # The default can be overridden both ways.
    assert len(layout.records("casia", "test", expand_frames=False)) == 4
    assert len(layout.records("casia", "train", expand_frames=True)) == 12
    assert all(r.path.is_file() for r in test + train)


def test_celeb_records(make_layout, tmp_path: Path) -> None:
    layout = make_layout(tmp_path, domains=("msu",), celeb_videos=2)
    records = layout.records("celeb", "train")
    assert [(r.video_id, r.label) for r in records] == [
        ("celeb/real/0_live_0", 1),
        ("celeb/real/1_live_1", 1),
        ("celeb/fake/0_spoof_0", 0),
        ("celeb/fake/1_spoof_1", 0),
    ]
    assert all(r.path.is_file() and r.path.suffix == ".jpg" for r in records)


def test_wcs_frames_group_into_videos(make_layout, tmp_path: Path) -> None:
    layout = make_layout(
        tmp_path, benchmark="WCS", domains=("wmca",), videos_per_class=2, frames_per_video=3
    )
    test = layout.records("wmca", "test")
    # shot takes video 0 of each class, so test is video 1: 3 listed frames each, no expansion.
    assert [r.path.name for r in test[:3]] == [
        "real_client001_00.jpg",
        "real_client001_01.jpg",
        "real_client001_02.jpg",
    ]
    assert {r.video_id for r in test} == {
        "wmca/test/real/real_client001",
        "wmca/test/fake/attack_client001",
    }
    assert layout.frame_dir == tmp_path / "WCS" / "frame"


def test_blank_lines_and_crlf_are_ignored(tmp_path: Path) -> None:
    txt = tmp_path / "MCIO" / "txt"
    txt.mkdir(parents=True)
    (txt / "oulu_real_test.txt").write_bytes(b"oulu/a_frame0.png\r\n\r\n  oulu/b_frame0.png  \r\n")
    assert Layout(tmp_path).read_lines("oulu", "real", "test") == [
        "oulu/a_frame0.png",
        "oulu/b_frame0.png",
    ]


def test_missing_list_is_a_data_error_naming_the_file(tmp_path: Path) -> None:
    layout = _write_lists(tmp_path, {"msu_real_train.txt": ["msu/a_frame0.png"]})
    with pytest.raises(DataError, match=r"msu_fake_train\.txt: list file not found"):
        layout.records("msu", "train")
    assert layout.has_split("msu", "train") is False


def test_bad_names_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown benchmark 'XYZ'"):
        Layout(tmp_path, "XYZ")
    layout = Layout(tmp_path)
    with pytest.raises(DataError, match="list class"):
        layout.list_path("msu", "live", "train")
    with pytest.raises(DataError, match="split"):
        layout.list_path("msu", "real", "val")


def test_a_byte_order_mark_does_not_corrupt_the_first_path(tmp_path) -> None:
    txt = tmp_path / "MCIO" / "txt"
    txt.mkdir(parents=True)
    (txt / "msu_real_test.txt").write_bytes(b"\xef\xbb\xbfmsu/a_frame0.png\n")
    assert Layout(tmp_path).read_lines("msu", "real", "test") == ["msu/a_frame0.png"]
