"""Tests of ``fasnas data check`` (fasnas/data/check.py) on tiny hand-made layouts."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from fasnas.cli import main
from fasnas.data.check import check_layout
from fasnas.data.check_report import MAX_EXAMPLES
from fasnas.data.layout import Layout
from fasnas.errors import ConfigError

FRAME = "MCIO/frame"
TXT = "MCIO/txt"


def _small(make_layout: Callable[..., Layout], root: Path, **kwargs: object) -> Layout:
    """msu and casia, 3 videos per class (video 0 is the shot), 32x32 frames."""
    options: dict[str, object] = {"domains": ("msu", "casia"), "videos_per_class": 3}
    options.update(kwargs)
    return make_layout(root, **options)


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        for p in sorted(root.rglob("*"))
    }


def test_valid_layout_has_hand_counts(make_layout, tmp_path: Path, capsys) -> None:
    make_layout(tmp_path, videos_per_class=3, shot_videos=1, celeb_videos=2)
    report = check_layout(tmp_path)
    assert report.problems == [] and report.warnings == []
    assert report.frame_size == 32
    # Listed images per domain and class: frame0 of videos 0-2 (train) and frame1 of the test
    # videos 1-2 (video 0 is the shot; its frame1 is never listed): 5. 4 x 2 x 5 + 2 + 2 celeb.
    assert report.images_checked == 44
    pivot = report.pivot()
    for domain in ("msu", "casia", "replay", "oulu"):
        # train: 3 videos, 3 listed frame0; test: 2 videos, frame0 + frame1; shot: 1 video.
        assert pivot.loc[(domain, "train")].tolist() == [3, 3, 3, 3]
        assert pivot.loc[(domain, "test")].tolist() == [2, 4, 2, 4]
        assert pivot.loc[(domain, "shot")].tolist() == [1, 1, 1, 1]
    assert pivot.loc[("celeb", "train")].tolist() == [2, 2, 2, 2]
    assert len(pivot) == 13 and report.absent == []
    assert list(pivot.columns) == ["real videos", "real frames", "fake videos", "fake frames"]

    assert main(["data", "check", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert "ok:" in out.out and "msu" in out.out and "real videos" in out.out
    assert out.err == ""


def test_absent_datasets_are_listed_not_problems(make_layout, tmp_path: Path) -> None:
    make_layout(tmp_path, domains=("msu",), shot_videos=0)
    report = check_layout(tmp_path)
    assert report.problems == []
    assert report.absent == ["casia", "replay", "oulu", "celeb"]
    table = report.table()
    assert "absent" in table and "oulu" in table
    assert report.pivot().loc[("msu", "test")].tolist() == [3, 6, 3, 6]


def test_wcs_layout_counts(make_layout, tmp_path: Path) -> None:
    make_layout(tmp_path, benchmark="WCS", videos_per_class=2, frames_per_video=10)
    report = check_layout(tmp_path, benchmark="WCS", size=32)
    assert report.problems == []
    # WCS lists name every frame: train has 2 videos x 10 frames per class.
    assert report.pivot().loc[("surf", "train")].tolist() == [2, 20, 2, 20]
    assert report.pivot().loc[("wmca", "test")].tolist() == [1, 10, 1, 10]


def _delete_test_frame1(layout: Layout) -> str:
    path = layout.frame_dir / "msu/test/real/real_client001_frame1.png"
    path.unlink()
    return f"{layout.txt_dir / 'msu_real_test.txt'}: 1 of 4 listed image(s) missing"


def _delete_frame0(layout: Layout) -> str:
    path = layout.frame_dir / "casia/train/fake/attack_client000_frame0.png"
    path.unlink()
    return str(path)


def _empty_list(layout: Layout) -> str:
    path = layout.txt_dir / "casia_fake_shot.txt"
    path.write_text("\n  \n", encoding="utf-8")
    return f"{path}: list file is empty"


def _duplicate_line(layout: Layout) -> str:
    path = layout.txt_dir / "msu_fake_train.txt"
    _append(path, "msu/train/fake/attack_client002_frame0.png")
    return f"{path}: 1 duplicate line(s); expected each path once: line 4 repeats line 3"


def _real_and_fake(layout: Layout) -> str:
    _append(layout.txt_dir / "casia_fake_train.txt", "casia/train/real/real_client002_frame0.png")
    return "casia video(s) are in both a real and a fake list"


def _label_contradicts_path(layout: Layout) -> str:
    path = layout.txt_dir / "msu_real_train.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[1] = "msu/test/fake/attack_client001_frame0.png"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f"{path}: 1 line(s) in a real list have 'fake' in their folders: line 2"


def _corrupt_image(layout: Layout) -> str:
    path = layout.frame_dir / "msu/train/real/real_client002_frame0.png"
    path.write_bytes(b"this is not a png at all")
    return f"cannot be decoded by cv2.imread: {path}"


def _wrong_size(layout: Layout) -> str:
    path = layout.frame_dir / "casia/test/real/real_client001_frame1.png"
    cv2.imwrite(str(path), np.zeros((40, 40, 3), np.uint8))
    return f"image(s) are not 32x32 (HxW): {path} (40x40)"


def _not_square(layout: Layout) -> str:
    path = layout.frame_dir / "msu/train/fake/attack_client002_frame0.png"
    cv2.imwrite(str(path), np.zeros((32, 24, 3), np.uint8))
    return f"{path} (32x24)"


def _missing_required_list(layout: Layout) -> str:
    path = layout.txt_dir / "casia_fake_test.txt"
    path.unlink()
    return f"{path}: list file not found; casia has other lists"


def _half_optional_pair(layout: Layout) -> str:
    path = layout.txt_dir / "msu_real_shot.txt"
    path.unlink()
    return f"{path}: list file not found, but msu_fake_shot.txt exists"


def _shot_not_in_train(layout: Layout) -> str:
    path = layout.txt_dir / "msu_real_shot.txt"
    _append(path, "msu/test/real/real_client009_frame0.png")
    return f"{path}: 1 line(s) not in msu_real_train.txt"


def _test_line_in_shot(layout: Layout) -> str:
    path = layout.txt_dir / "casia_real_test.txt"
    _append(path, "casia/train/real/real_client000_frame0.png")
    return f"{path}: 1 line(s) also in casia_real_shot.txt"


def _bom(layout: Layout) -> str:
    path = layout.txt_dir / "msu_real_train.txt"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    return f"{path}: starts with a UTF-8 byte-order mark"


def _not_utf8(layout: Layout) -> str:
    path = layout.txt_dir / "casia_real_train.txt"
    path.write_bytes(b"casia/train/real/\xff\xfe_frame0.png\n")
    return f"{path}: cannot read list file as UTF-8 text"


def _path_outside(layout: Layout) -> str:
    path = layout.txt_dir / "msu_fake_train.txt"
    _append(path, "../../secret_frame0.png")
    return f"{path}: 1 line(s) point outside the frame folder"


def _no_frame_folder(layout: Layout) -> str:
    for path in sorted(layout.frame_dir.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    layout.frame_dir.rmdir()
    return f"{layout.frame_dir}: folder not found"


@pytest.mark.parametrize(
    "break_layout",
    [
        _delete_test_frame1,
        _delete_frame0,
        _empty_list,
        _duplicate_line,
        _real_and_fake,
        _label_contradicts_path,
        _corrupt_image,
        _wrong_size,
        _not_square,
        _missing_required_list,
        _half_optional_pair,
        _shot_not_in_train,
        _test_line_in_shot,
        _bom,
        _not_utf8,
        _path_outside,
        _no_frame_folder,
    ],
)
def test_each_problem_is_named_and_exits_2(
    make_layout, tmp_path: Path, capsys, break_layout: Callable[[Layout], str]
) -> None:
    layout = _small(make_layout, tmp_path)
    expected = break_layout(layout)
    problems = check_layout(tmp_path).problems
    assert any(expected in problem for problem in problems), problems
    assert all("\n" not in problem for problem in problems)

    assert main(["data", "check", str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("error: ") and expected in line for line in err)


def test_unreadable_list_is_one_problem(make_layout, tmp_path: Path) -> None:
    layout = _small(make_layout, tmp_path)
    expected = _not_utf8(layout)
    problems = check_layout(tmp_path).problems
    # Not also "empty", and the shot list is not compared with a list that could not be read.
    assert len(problems) == 1 and expected in problems[0]


def test_missing_frame0_is_reported_in_every_list_naming_it(make_layout, tmp_path: Path) -> None:
    layout = _small(make_layout, tmp_path)
    missing = _delete_frame0(layout)  # casia fake video 0: in the train and the shot list
    problems = [p for p in check_layout(tmp_path).problems if missing in p]
    assert [p.split(":")[0] for p in problems] == [
        str(layout.txt_dir / "casia_fake_train.txt"),
        str(layout.txt_dir / "casia_fake_shot.txt"),
    ]


def test_every_problem_is_collected(make_layout, tmp_path: Path) -> None:
    layout = _small(make_layout, tmp_path)
    expected = [
        _empty_list(layout),
        _duplicate_line(layout),
        _corrupt_image(layout),
        _wrong_size(layout),
        _test_line_in_shot(layout),
    ]
    problems = check_layout(tmp_path).problems
    # The corrupt frame0 is in msu_real_train and msu_real_test: one problem line for each list.
    assert len(problems) == len(expected) + 1
    for text in expected:
        assert any(text in problem for problem in problems), (text, problems)


def test_many_missing_files_are_summarised(make_layout, tmp_path: Path) -> None:
    layout = make_layout(tmp_path, domains=("oulu",), videos_per_class=10, shot_videos=0)
    for path in (layout.frame_dir / "oulu").rglob("*_frame1.png"):
        path.unlink()
    problems = check_layout(tmp_path).problems
    # Test lists (all 10 videos per class) miss every _frame1; train lists need only frame0.
    assert len(problems) == 2
    for problem in problems:
        assert ": 10 of 20 listed image(s) missing (test lists also need each _frame1)" in problem
        assert problem.endswith(f"and {10 - MAX_EXAMPLES} more")
        assert problem.count("_frame1.png") == MAX_EXAMPLES


def test_root_missing(tmp_path: Path, capsys) -> None:
    root = tmp_path / "nowhere"
    report = check_layout(root)
    assert report.problems == [
        f"{root}: root folder not found; expected a folder holding MCIO/txt and MCIO/frame"
    ]
    assert main(["data", "check", str(root)]) == 2
    assert f"error: {root}: root folder not found" in capsys.readouterr().err


def test_root_without_benchmark_folders(tmp_path: Path) -> None:
    problems = check_layout(tmp_path, benchmark="WCS").problems
    assert problems == [
        f"{tmp_path / 'WCS/txt'}: folder not found; expected FLIP's txt/ folder",
        f"{tmp_path / 'WCS/frame'}: folder not found; expected FLIP's frame/ folder",
    ]


def test_no_lists_at_all(tmp_path: Path) -> None:
    (tmp_path / TXT).mkdir(parents=True)
    (tmp_path / FRAME).mkdir(parents=True)
    report = check_layout(tmp_path)
    assert len(report.problems) == 1 and "no list files found" in report.problems[0]
    assert report.absent == ["msu", "casia", "replay", "oulu", "celeb"]


def test_expected_size_is_the_given_one_or_the_most_common(make_layout, tmp_path: Path) -> None:
    layout = _small(make_layout, tmp_path)
    # 24 frames at 32x32; give one 40x40: the mode stays 32.
    _wrong_size(layout)
    report = check_layout(tmp_path)
    assert report.frame_size == 32 and len(report.problems) == 1
    # With size=40 every other image is wrong. Each domain has 16 (list, image) pairs per hand
    # count: per class train 3 + shot 1 + test 4 (two videos x frame0/frame1); the 40x40 image is
    # listed once (casia_real_test), so 32 - 1 = 31 wrong pairs spread over all 12 lists.
    report = check_layout(tmp_path, size=40)
    assert report.frame_size == 40 and len(report.problems) == 12
    assert all("are not 40x40" in p for p in report.problems)
    assert sum(int(p.split(": ")[1].split()[0]) for p in report.problems) == 31


def test_size_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="size"):
        check_layout(tmp_path, size=0)


def test_warnings_do_not_fail(make_layout, tmp_path: Path, capsys) -> None:
    layout = _small(make_layout, tmp_path)
    test_list = layout.txt_dir / "msu_fake_test.txt"
    lines = test_list.read_text(encoding="utf-8").splitlines()
    test_list.write_text(lines[0] + "\n", encoding="utf-8")  # drops video 2 of train - shot
    (layout.txt_dir / "notes.txt").write_text("hello\n", encoding="utf-8")
    report = check_layout(tmp_path)
    assert report.problems == []
    assert len(report.warnings) == 2
    assert (
        f"{test_list}: not FLIP's train minus shot (2 lines): 1 such line(s) missing"
        in (report.warnings[1])
    )
    assert "notes.txt" in report.warnings[0]
    assert main(["data", "check", str(tmp_path)]) == 0


def test_check_changes_nothing_on_disk(make_layout, tmp_path: Path) -> None:
    layout = _small(make_layout, tmp_path, celeb_videos=2)
    _corrupt_image(layout)
    _delete_frame0(layout)
    _duplicate_line(layout)
    before = _tree_digest(tmp_path)
    check_layout(tmp_path)
    assert main(["data", "check", str(tmp_path)]) == 2
    assert _tree_digest(tmp_path) == before


def test_thread_count_does_not_change_the_report(make_layout, tmp_path: Path) -> None:
    layout = _small(make_layout, tmp_path)
    _corrupt_image(layout)
    _not_square(layout)
    one = check_layout(tmp_path, workers=1)
    many = check_layout(tmp_path, workers=4)
    assert one.problems == many.problems and one.counts.equals(many.counts)
