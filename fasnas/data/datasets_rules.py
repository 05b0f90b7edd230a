"""The four MCIO datasets' path rules: a raw video's path to its FLIP name, label and split.

Owns, for MSU-MFSD, CASIA-FASD, Replay-Attack and OULU-NPU, the rules that turn a raw video's
path (relative to the raw folder) into its FLIP name, its label (real/fake) and its train/test
folder (:class:`Assignment`), or say that FLIP leaves the video out (:class:`Ignored`). Each
rule cites its source; :mod:`fasnas.data.datasets` scans a raw folder with them.

The FLIP video names are the ones in FLIP's own lists (``koushiksrivats/FLIP``,
``data/MCIO/txt/*.txt`` and ``docs/datasets.md``), so frames prepared here also match the list
files FLIP publishes:

========  ==========================================  ==========================================
dataset   raw video (relative path)                   FLIP name (``<ds>/<split>/<label>/...``)
========  ==========================================  ==========================================
msu       ``scene01/real/real_client005_android_SD_   ``msu/train/real/real_client005_android_
          scene01.mp4``                               SD_scene01``
casia     ``train_release/17/HR_1.avi``               ``casia/train/real/17_HR_1``
replay    ``train/attack/hand/attack_print_client001  ``replay/train/fake/hand_attack_print_
          _session01_highdef_photo_adverse.mov``      client001_session01_highdef_photo_adverse``
oulu      ``Test_files/1_3_36_1.avi``                 ``oulu/test/real/1_3_36_1``
========  ==========================================  ==========================================

CASIA names are ``<subject>_<clip>`` and Replay names get their folder (``real``, ``fixed``,
``hand``) as a prefix because the bare file names repeat across folders; the train/test folder
keeps the remaining repeats (CASIA subject ``1`` of train and of test) apart.

Which videos FLIP uses (docs/flip.md §1 counts, real / fake): msu 70 / 210 and casia
150 / 450 are the whole datasets; replay 140 / 700 is train (60 / 300) plus test (80 / 400), so
Replay's ``devel`` is left out; oulu 720 / 2880 is Train_files plus Test_files (20 users each,
360 / 1440 apiece), so OULU's ``Dev_files`` is left out. Left-out videos are reported as
ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fasnas.errors import DataError

REAL, FAKE = "real", "fake"
TRAIN, TEST = "train", "test"


@dataclass(frozen=True)
class Assignment:
    """Where one raw video goes: its FLIP name, split folder and label folder."""

    name: str
    split: str
    label: str


@dataclass(frozen=True)
class Ignored:
    """A video of the dataset that FLIP's MCIO lists leave out, and why."""

    reason: str


Verdict = Assignment | Ignored | None
"""A rule's answer for one path: use it, leave it out on purpose, or not the dataset's."""
Classifier = Callable[[PurePosixPath], Verdict]


def _mismatch(path: PurePosixPath, expected: str) -> DataError:
    return DataError(f"{path}: unexpected name in this folder; expected {expected}")


# --- MSU-MFSD ---------------------------------------------------------------------------------
# Source: the MSU-MFSD release README and its file lists, mirrored in the bob.db.msu_mfsd_mod
# package (folds/msu_mfsd_mod_realvids.txt, msu_mfsd_mod_attackvids.txt, train_sub_list.txt,
# test_sub_list.txt): scene01/real/real_client<NNN>_<android|laptop>_SD_scene01.<mp4|mov>,
# scene01/attack/attack_client<NNN>_<device>_SD_<ipad_video|iphone_video|printed_photo>
# _scene01.<mp4|mov>; 35 clients x (2 real + 6 attacks) = 280 videos. The label is the
# real_/attack_ prefix; the split is the client's subject list.
MSU_TRAIN_CLIENTS = frozenset({2, 3, 5, 6, 7, 8, 9, 11, 12, 21, 22, 34, 53, 54, 55})
MSU_TEST_CLIENTS = frozenset(
    {1, 13, 14, 23, 24, 26, 28, 29, 30, 32, 33, 35, 36, 37, 39, 42, 48, 49, 50, 51}
)
_MSU_REAL = re.compile(r"real_client(\d{3})_[a-z]+_(?:SD|HD)_scene01")
_MSU_ATTACK = re.compile(r"attack_client(\d{3})_[a-z]+_(?:SD|HD)_[a-z]+_(?:photo|video)_scene01")
_MSU_EXPECTED = {
    "real": "real_client<NNN>_<device>_<SD|HD>_scene01.<mp4|mov>",
    "attack": "attack_client<NNN>_<device>_<SD|HD>_<instrument>_<photo|video>_scene01.<mp4|mov>",
}


class MsuRules:
    """MSU-MFSD rules, with the subject lists that decide train and test.

    Args:
        train_clients: Client numbers of ``train_sub_list.txt``.
        test_clients: Client numbers of ``test_sub_list.txt``.
    """

    def __init__(
        self,
        train_clients: Iterable[int] = MSU_TRAIN_CLIENTS,
        test_clients: Iterable[int] = MSU_TEST_CLIENTS,
    ) -> None:
        self.train_clients = frozenset(train_clients)
        self.test_clients = frozenset(test_clients)
        both = sorted(self.train_clients & self.test_clients)
        if both:
            raise DataError(f"MSU subject lists overlap: clients {both} are in train and test")

    def __call__(self, path: PurePosixPath) -> Verdict:
        parts = path.parts
        if len(parts) < 3 or parts[-3] != "scene01" or parts[-2] not in ("real", "attack"):
            return None
        folder = parts[-2]
        pattern = _MSU_REAL if folder == "real" else _MSU_ATTACK
        match = pattern.fullmatch(path.stem)
        if match is None or path.suffix.lower() not in (".mp4", ".mov"):
            raise _mismatch(path, _MSU_EXPECTED[folder])
        client = int(match.group(1))
        if client in self.train_clients:
            split = TRAIN
        elif client in self.test_clients:
            split = TEST
        else:
            raise DataError(
                f"{path}: client {client:03d} is in neither the train nor the test subject "
                f"list (train_sub_list.txt / test_sub_list.txt)"
            )
        return Assignment(path.stem, split, REAL if folder == "real" else FAKE)


def read_subject_list(path: Path) -> frozenset[int]:
    """Client numbers in an MSU ``*_sub_list.txt`` (one number per line, e.g. ``02``).

    Raises:
        DataError: If the file cannot be read or holds something other than integers.
    """
    try:
        tokens = path.read_text(encoding="utf-8").split()
        return frozenset(int(token) for token in tokens)
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read subject list ({error})") from None
    except ValueError:
        raise DataError(f"{path}: expected one client number per line") from None


# --- CASIA-FASD -------------------------------------------------------------------------------
# Source: Zhang et al., "A Face Antispoofing Database with Diverse Attacks", ICB 2012, and the
# bob.db.casia_fasd package (Database.objects: db_mappings, <group>_release/<subject>/<clip>):
# train_release/<1..20>/ and test_release/<1..30>/ hold 12 clips each: 1, 2, HR_1 are real
# (normal, low, high quality); 3, 4, HR_2 warped photo; 5, 6, HR_3 cut photo; 7, 8, HR_4 video.
CASIA_REAL_CLIPS = frozenset({"1", "2", "HR_1"})
CASIA_ATTACK_CLIPS = frozenset({"3", "4", "5", "6", "7", "8", "HR_2", "HR_3", "HR_4"})
_CASIA_SPLITS = {"train_release": TRAIN, "test_release": TEST}


def classify_casia(path: PurePosixPath) -> Verdict:
    """CASIA-FASD: ``<train|test>_release/<subject>/<clip>.avi``."""
    parts = path.parts
    if len(parts) < 3 or parts[-3] not in _CASIA_SPLITS or not parts[-2].isdigit():
        return None
    clip = path.stem
    if clip not in CASIA_REAL_CLIPS | CASIA_ATTACK_CLIPS or path.suffix.lower() != ".avi":
        raise _mismatch(path, "<clip>.avi with clip in 1..8 or HR_1..HR_4")
    label = REAL if clip in CASIA_REAL_CLIPS else FAKE
    return Assignment(f"{int(parts[-2])}_{clip}", _CASIA_SPLITS[parts[-3]], label)


# --- Replay-Attack ----------------------------------------------------------------------------
# Source: Chingovska et al., "On the Effectiveness of Local Binary Patterns in Face
# Anti-spoofing", BIOSIG 2012, and the bob.db.replay package (create.py parses
# client<NNN>_session01_webcam_authenticate_<light>_<take> for real accesses and
# attack_<print|mobile|highdef>_client<NNN>_session01_<highdef|mobile>_<photo|video>_<light>
# for attacks under attack/<fixed|hand>/): {train,devel,test}/real/*.mov,
# {train,devel,test}/attack/{fixed,hand}/*.mov; enroll/ holds enrolment videos for
# verification. FLIP uses train and test only (see the module docstring).
_REPLAY_REAL = re.compile(
    r"client\d{3}_session\d{2}_webcam_authenticate_(?:adverse|controlled)_\d"
)
_REPLAY_ATTACK = re.compile(
    r"attack_(?:print|mobile|highdef)_client\d{3}_session\d{2}_(?:highdef|mobile)_"
    r"(?:photo|video)_(?:adverse|controlled)"
)
_REPLAY_GROUPS = {"train": TRAIN, "test": TEST, "devel": None}


def classify_replay(path: PurePosixPath) -> Verdict:
    """Replay-Attack: ``<group>/real/<f>.mov`` and ``<group>/attack/<fixed|hand>/<f>.mov``."""
    parts = path.parts
    if "enroll" in parts[:-1]:
        return Ignored("enrolment video (face verification only)")
    if len(parts) >= 3 and parts[-2] == "real" and parts[-3] in _REPLAY_GROUPS:
        group, support, pattern = parts[-3], "real", _REPLAY_REAL
        expected = "client<NNN>_session01_webcam_authenticate_<adverse|controlled>_<take>.mov"
    elif (
        len(parts) >= 4
        and parts[-2] in ("fixed", "hand")
        and parts[-3] == "attack"
        and parts[-4] in _REPLAY_GROUPS
    ):
        group, support, pattern = parts[-4], parts[-2], _REPLAY_ATTACK
        expected = (
            "attack_<print|mobile|highdef>_client<NNN>_session01_<highdef|mobile>_"
            "<photo|video>_<adverse|controlled>.mov"
        )
    else:
        return None
    if pattern.fullmatch(path.stem) is None or path.suffix.lower() != ".mov":
        raise _mismatch(path, expected)
    split = _REPLAY_GROUPS[group]
    if split is None:
        return Ignored("Replay-Attack devel set (not in FLIP's MCIO lists)")
    return Assignment(f"{support}_{path.stem}", split, REAL if support == "real" else FAKE)


# --- OULU-NPU ---------------------------------------------------------------------------------
# Source: Boulkenafet et al., "OULU-NPU: A mobile face presentation attack database with
# real-world variations", FG 2017, and the bob.db.oulunpu file lists: Train_files/ (users
# 1-20), Dev_files/ (21-35), Test_files/ (36-55) hold <phone 1-6>_<session 1-3>_<user>_<file
# 1-5>.avi; file 1 is real, 2-3 print attacks, 4-5 video-replay attacks.
_OULU_NAME = re.compile(r"[1-6]_[1-3]_\d{2}_([1-5])")
_OULU_SPLITS = {"Train_files": TRAIN, "Test_files": TEST, "Dev_files": None}


def classify_oulu(path: PurePosixPath) -> Verdict:
    """OULU-NPU: ``<Train|Dev|Test>_files/<phone>_<session>_<user>_<file>.avi``."""
    parts = path.parts
    if len(parts) < 2 or parts[-2] not in _OULU_SPLITS:
        return None
    match = _OULU_NAME.fullmatch(path.stem)
    if match is None or path.suffix.lower() != ".avi":
        raise _mismatch(path, "<phone 1-6>_<session 1-3>_<user NN>_<file 1-5>.avi")
    split = _OULU_SPLITS[parts[-2]]
    if split is None:
        return Ignored("OULU-NPU Dev_files (not in FLIP's MCIO lists)")
    return Assignment(path.stem, split, REAL if match.group(1) == "1" else FAKE)
