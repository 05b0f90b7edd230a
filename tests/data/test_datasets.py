"""Tests of fasnas.data.datasets_rules and fasnas.data.datasets, on the datasets' real names.

The naming, label and split rules are tested path by path, then through the folder scan.

The file names come from the datasets' published lists: MSU-MFSD's release lists (mirrored
in bob.db.msu_mfsd_mod), CASIA-FASD's clip table (bob.db.casia_fasd), Replay-Attack's file
lists (bob.db.replay) and OULU-NPU's (bob.db.oulunpu). The expected FLIP names are lines of
FLIP's own list files (koushiksrivats/FLIP, data/MCIO/txt) and its docs/datasets.md; the
expected counts are the table of docs/flip.md §1.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from fasnas.data.datasets import dataset_info, find_videos
from fasnas.data.datasets_rules import (
    Assignment,
    Ignored,
    MsuRules,
    classify_casia,
    classify_oulu,
    classify_replay,
)
from fasnas.errors import ConfigError, DataError

P = PurePosixPath

# MSU-MFSD clients (35) from the release's file lists; devices and attacks from the same lists.
MSU_CLIENTS = [
    1, 2, 3, 5, 6, 7, 8, 9, 11, 12, 13, 14, 21, 22, 23, 24, 26, 28, 29, 30, 32, 33, 34, 35, 36,
    37, 39, 42, 48, 49, 50, 51, 53, 54, 55,
]  # fmt: skip
MSU_EXT = {"android": "mp4", "laptop": "mov"}
MSU_ATTACKS = ("ipad_video", "iphone_video", "printed_photo")


def msu_release_paths() -> list[str]:
    """The 280 MSU-MFSD video paths, as the release names them."""
    paths = []
    for client in MSU_CLIENTS:
        for device, ext in MSU_EXT.items():
            paths.append(f"scene01/real/real_client{client:03d}_{device}_SD_scene01.{ext}")
            paths += [
                f"scene01/attack/attack_client{client:03d}_{device}_SD_{attack}_scene01.{ext}"
                for attack in MSU_ATTACKS
            ]
    return paths


def casia_release_paths() -> list[str]:
    """The 600 CASIA-FASD video paths: 20 train and 30 test subjects, 12 clips each."""
    clips = ["1", "2", "3", "4", "5", "6", "7", "8", "HR_1", "HR_2", "HR_3", "HR_4"]
    return [
        f"{group}_release/{subject}/{clip}.avi"
        for group, subjects in (("train", 20), ("test", 30))
        for subject in range(1, subjects + 1)
        for clip in clips
    ]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # FLIP docs/datasets.md and msu_*_train.txt lines
        (
            "scene01/real/real_client002_android_SD_scene01.mp4",
            Assignment("real_client002_android_SD_scene01", "train", "real"),
        ),
        (
            "scene01/real/real_client033_laptop_SD_scene01.mov",
            Assignment("real_client033_laptop_SD_scene01", "test", "real"),
        ),
        (
            "scene01/attack/attack_client001_android_SD_ipad_video_scene01.mp4",
            Assignment("attack_client001_android_SD_ipad_video_scene01", "test", "fake"),
        ),
        (
            "scene01/attack/attack_client055_laptop_SD_printed_photo_scene01.mov",
            Assignment("attack_client055_laptop_SD_printed_photo_scene01", "train", "fake"),
        ),
        ("MSU-MFSD/README.txt", None),
        ("scene01/other/real_client002_android_SD_scene01.mp4", None),
    ],
)
def test_msu_names_labels_and_splits(path: str, expected: Assignment | None) -> None:
    assert MsuRules()(P(path)) == expected


def test_msu_whole_release_matches_flip_counts() -> None:
    rules = MsuRules()
    verdicts = [rules(P(path)) for path in msu_release_paths()]
    count = {(s, c): 0 for s in ("train", "test") for c in ("real", "fake")}
    for verdict in verdicts:
        count[verdict.split, verdict.label] += 1
    # docs/flip.md §1: msu is 70 real / 210 fake; 15 train clients and 20 test clients.
    assert count["train", "real"] + count["test", "real"] == 70
    assert count["train", "fake"] + count["test", "fake"] == 210
    assert (count["train", "real"], count["train", "fake"]) == (30, 90)
    assert (count["test", "real"], count["test", "fake"]) == (40, 120)


@pytest.mark.parametrize(
    "path",
    [
        "scene01/real/attack_client001_android_SD_ipad_video_scene01.mp4",  # attack in real/
        "scene01/attack/real_client001_android_SD_scene01.mp4",  # real in attack/
        "scene01/real/real_client001_android_SD_scene01.avi",  # wrong container
        "scene01/real/client001.mp4",
    ],
)
def test_msu_misnamed_files_are_errors(path: str) -> None:
    with pytest.raises(DataError, match="expected"):
        MsuRules()(P(path))


def test_msu_client_in_no_subject_list_is_an_error() -> None:
    with pytest.raises(DataError, match="client 004 is in neither"):
        MsuRules()(P("scene01/real/real_client004_android_SD_scene01.mp4"))


def test_msu_overlapping_subject_lists_are_an_error() -> None:
    with pytest.raises(DataError, match=r"clients \[5\]"):
        MsuRules(train_clients={5, 6}, test_clients={5, 7})


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # casia_real_train.txt: casia/train/real/17_HR_1, casia/test/real/29_2, ...
        ("train_release/17/HR_1.avi", Assignment("17_HR_1", "train", "real")),
        ("test_release/29/2.avi", Assignment("29_2", "test", "real")),
        ("test_release/13/1.avi", Assignment("13_1", "test", "real")),
        ("train_release/1/3.avi", Assignment("1_3", "train", "fake")),  # FLIP docs example
        ("test_release/30/HR_4.avi", Assignment("30_HR_4", "test", "fake")),
        ("CASIA/train_release/5/8.avi", Assignment("5_8", "train", "fake")),
        ("train_release/readme/1.avi", None),
    ],
)
def test_casia_names_labels_and_splits(path: str, expected: Assignment | None) -> None:
    assert classify_casia(P(path)) == expected


def test_casia_whole_release_matches_flip_counts() -> None:
    labels = [classify_casia(P(path)).label for path in casia_release_paths()]
    assert (labels.count("real"), labels.count("fake")) == (150, 450)  # docs/flip.md §1


@pytest.mark.parametrize("path", ["train_release/1/9.avi", "test_release/2/HR_5.avi"])
def test_casia_unknown_clips_are_errors(path: str) -> None:
    with pytest.raises(DataError, match="clip in 1..8 or HR_1..HR_4"):
        classify_casia(P(path))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # FLIP docs/datasets.md and replay_*_train.txt lines
        (
            "train/real/client001_session01_webcam_authenticate_adverse_1.mov",
            Assignment("real_client001_session01_webcam_authenticate_adverse_1", "train", "real"),
        ),
        (
            "test/attack/fixed/attack_highdef_client009_session01_highdef_photo_adverse.mov",
            Assignment(
                "fixed_attack_highdef_client009_session01_highdef_photo_adverse", "test", "fake"
            ),
        ),
        (
            "train/attack/hand/attack_print_client001_session01_highdef_photo_adverse.mov",
            Assignment(
                "hand_attack_print_client001_session01_highdef_photo_adverse", "train", "fake"
            ),
        ),
        (
            "replayattack/test/attack/hand/attack_mobile_client117_session01_mobile_video_controlled.mov",
            Assignment(
                "hand_attack_mobile_client117_session01_mobile_video_controlled", "test", "fake"
            ),
        ),
    ],
)
def test_replay_names_labels_and_splits(path: str, expected: Assignment) -> None:
    assert classify_replay(P(path)) == expected


def test_replay_devel_and_enrolment_are_left_out() -> None:
    devel = classify_replay(P("devel/real/client003_session01_webcam_authenticate_adverse_1.mov"))
    enroll = classify_replay(P("enroll/train/client001_session01_enroll_adverse.mov"))
    assert isinstance(devel, Ignored) and "devel" in devel.reason
    assert isinstance(enroll, Ignored)


def test_replay_misnamed_attack_is_an_error() -> None:
    with pytest.raises(DataError, match="attack_<print|mobile|highdef>"):
        classify_replay(
            P("train/attack/fixed/client001_session01_webcam_authenticate_adverse_1.mov")
        )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # FLIP docs/datasets.md and oulu_real_shot.txt lines
        ("Train_files/1_1_01_1.avi", Assignment("1_1_01_1", "train", "real")),
        ("Train_files/1_1_01_2.avi", Assignment("1_1_01_2", "train", "fake")),
        ("Test_files/5_3_49_1.avi", Assignment("5_3_49_1", "test", "real")),
        ("Test_files/1_1_36_5.avi", Assignment("1_1_36_5", "test", "fake")),
        ("Protocols/Protocol_1/Train.txt", None),
    ],
)
def test_oulu_names_labels_and_splits(path: str, expected: Assignment | None) -> None:
    assert classify_oulu(P(path)) == expected


def test_oulu_dev_files_are_left_out_and_bad_names_rejected() -> None:
    assert isinstance(classify_oulu(P("Dev_files/6_3_35_4.avi")), Ignored)
    with pytest.raises(DataError, match="phone 1-6"):
        classify_oulu(P("Train_files/7_1_01_1.avi"))


def test_unknown_dataset_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"--dataset must be one of .* but got 'celeb'"):
        dataset_info("celeb")


def _touch_all(root: Path, paths: list[str]) -> None:
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).touch()


def test_find_videos_on_a_casia_tree(tmp_path: Path) -> None:
    _touch_all(tmp_path / "CASIA_faceAntisp", casia_release_paths())
    _touch_all(tmp_path, [".hidden/1/1.avi", "CASIA_faceAntisp/train_release/1/._1.avi"])
    _touch_all(tmp_path, ["extras/demo.avi", "CASIA_faceAntisp/train_release/1/notes.txt"])
    inventory = find_videos("casia", tmp_path)
    assert len(inventory.videos) == 600
    assert inventory.unrecognised == ["extras/demo.avi"]
    ids = {video.video_id for video in inventory.videos}
    assert "casia/train/real/17_HR_1" in ids and "casia/test/real/17_HR_1" in ids
    first = inventory.videos[0]
    assert first.source == (tmp_path / first.relative).absolute()
    assert first.relative == "CASIA_faceAntisp/test_release/10/3.avi"  # sorted by video id
    assert first.frame_path(1) == f"{first.video_id}_frame1.png"


def test_find_videos_reads_msu_subject_lists(tmp_path: Path) -> None:
    _touch_all(tmp_path, msu_release_paths())
    (tmp_path / "train_sub_list.txt").write_text("01\n02\n")
    (tmp_path / "test_sub_list.txt").write_text(
        "\n".join(f"{c:02d}" for c in MSU_CLIENTS if c not in (1, 2))
    )
    inventory = find_videos("msu", tmp_path)
    train = [v for v in inventory.videos if v.split == "train"]
    assert {v.name for v in train if v.label == "real"} == {
        f"real_client00{c}_{device}_SD_scene01" for c in (1, 2) for device in MSU_EXT
    }
    assert len(train) == 2 * 8


def test_find_videos_counts_replay_devel_as_ignored(tmp_path: Path) -> None:
    stem = "client001_session01_webcam_authenticate_adverse_1.mov"
    _touch_all(tmp_path, [f"train/real/{stem}", f"devel/real/{stem}", f"test/real/{stem}"])
    inventory = find_videos("replay", tmp_path)
    assert [v.split for v in inventory.videos] == ["test", "train"]
    assert [path for path, _ in inventory.ignored] == [f"devel/real/{stem}"]


def test_find_videos_rejects_two_copies_of_a_video(tmp_path: Path) -> None:
    _touch_all(tmp_path, ["a/Train_files/1_1_01_1.avi", "b/Train_files/1_1_01_1.avi"])
    with pytest.raises(DataError, match="both map to oulu/train/real/1_1_01_1"):
        find_videos("oulu", tmp_path)


def test_find_videos_on_the_wrong_folder_names_what_it_expected(tmp_path: Path) -> None:
    _touch_all(tmp_path, ["train_release/1/1.avi"])
    with pytest.raises(
        DataError,
        match=r"no OULU-NPU videos found; expected Train_files.*"
        r"found 1 other video\(s\), e.g. train_release/1/1.avi",
    ):
        find_videos("oulu", tmp_path)


def test_find_videos_on_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="folder not found"):
        find_videos("msu", tmp_path / "nowhere")
