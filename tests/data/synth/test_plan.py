"""Tests of fasnas.data.synth.plan: the full-scale catalogue, its names, counts and subjects."""

from __future__ import annotations

import re

from fasnas.data.synth.plan import Plan, _enumerate, plan_videos

MCIO = ("msu", "casia", "replay", "oulu")


def test_full_scale_plan_has_the_real_counts_and_names() -> None:
    plan: Plan = plan_videos(scale=1.0, seed=0, celeb_scale=1.0)
    real_train = {"msu": (70, 210), "casia": (150, 450), "replay": (140, 700), "oulu": (720, 2880)}
    real_test = {"msu": (60, 200), "casia": (140, 440), "replay": (130, 690), "oulu": (710, 2870)}
    for domain in MCIO:
        for i, label in enumerate(("real", "fake")):
            train = plan.lists[f"{domain}_{label}_train.txt"]
            assert len(train) == len(set(train)) == real_train[domain][i]
            assert len(plan.lists[f"{domain}_{label}_test.txt"]) == real_test[domain][i]
            assert len(plan.lists[f"{domain}_{label}_shot.txt"]) == 10
            in_train_folder = sum("/train/" in line for line in train) / len(train)
            assert 0.4 <= in_train_folder <= 0.6  # both folders are mixed into each list
    for label in ("real", "fake"):
        assert len(set(plan.lists[f"celeb_{label}_train.txt"])) == 40000
    patterns = {
        ("msu", "real"): r"real_client\d{3}_(android|laptop)_SD_scene01",
        ("msu", "fake"): r"attack_client\d{3}_(android|laptop)_SD_(ipad|iphone)_video_scene01"
        r"|attack_client\d{3}_(android|laptop)_SD_printed_photo_scene01",
        ("casia", "real"): r"\d{1,2}_(1|2|HR_1)",
        ("casia", "fake"): r"\d{1,2}_([3-8]|HR_[234])",
        (
            "replay",
            "real",
        ): r"real_client\d{3}_session01_webcam_authenticate_(adverse|controlled)_[12]",
        ("replay", "fake"): r"(fixed|hand)_attack_(print|highdef|mobile)_client\d{3}_session01_"
        r"(highdef|mobile)_(photo|video)_(adverse|controlled)",
        ("oulu", "real"): r"[1-6]_[1-3]_\d{2}_1",
        ("oulu", "fake"): r"[1-6]_[1-3]_\d{2}_[2-5]",
    }
    for (domain, label), pattern in patterns.items():
        for video in _enumerate(domain, label):
            assert re.fullmatch(pattern, video.name), video.name


def test_attacks_show_the_subjects_of_the_real_videos() -> None:
    real_clients = {re.search(r"client(\d+)", v.name)[1] for v in _enumerate("msu", "real")}
    fake_clients = {re.search(r"client(\d+)", v.name)[1] for v in _enumerate("msu", "fake")}
    assert fake_clients == real_clients and len(real_clients) == 35
    real = next(v for v in _enumerate("msu", "real") if v.subject == 33)
    fake = next(v for v in _enumerate("msu", "fake") if v.subject == 33)
    assert "client033" in real.name and "client033" in fake.name
