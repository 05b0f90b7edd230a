"""Tests of fasnas.metrics: golden values derived by hand, brute-force cross-check, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fasnas import metrics
from fasnas.metrics import eer_threshold, evaluate, fuse_by_video

KEYS = {
    "hter",
    "eer",
    "auc",
    "tpr_at_fpr_1pct",
    "threshold",
    "far",
    "frr",
    "apcer",
    "bpcer",
    "acer",
    "n_videos",
}

# Example A: 4 real, 4 spoof.
#   real  0.9 0.8 0.6 0.3      spoof 0.7 0.4 0.2 0.1
# With "real iff score >= t": FAR = #(spoof >= t)/4, FRR = #(real < t)/4.
#   t in (0.3, 0.4]: FAR 2/4, FRR 1/4 -> |d| = 1/4
#   t in (0.4, 0.6]: FAR 1/4, FRR 1/4 -> |d| = 0     <- minimum
#   t in (0.6, 0.7]: FAR 1/4, FRR 2/4 -> |d| = 1/4
# FLIP keeps the LAST grid point of the minimum, 0.6 (0.6 >= 0.6 keeps that real accepted; with
# ">" it would be 0.5999). EER = HTER = (1/4 + 1/4)/2 = 0.25.
# AUC: real > spoof pairs: 0.9 -> 4, 0.8 -> 4, 0.6 -> 3, 0.3 -> 2; 13/16 = 0.8125.
# TPR@FPR<=1% with 4 spoofs means FPR = 0: t > 0.7 accepts 0.9, 0.8 -> TPR = 0.5.
A_REAL = [0.9, 0.8, 0.6, 0.3]
A_SPOOF = [0.7, 0.4, 0.2, 0.1]


def _example(real, spoof):
    return np.array(real + spoof), np.array([1] * len(real) + [0] * len(spoof))


def test_golden_test_eer_example_a() -> None:
    s, y = _example(A_REAL, A_SPOOF)
    m = evaluate(s, y)
    assert set(m) == KEYS
    assert all(type(v) is float for k, v in m.items() if k != "n_videos")
    assert type(m["n_videos"]) is int and m["n_videos"] == 8
    assert m["threshold"] == 0.6
    assert m["far"] == 0.25 and m["frr"] == 0.25
    assert m["eer"] == 0.25 and m["hter"] == 0.25
    assert m["apcer"] == 0.25 and m["bpcer"] == 0.25 and m["acer"] == 0.25
    assert m["auc"] == pytest.approx(13 / 16)
    assert m["tpr_at_fpr_1pct"] == 0.5
    assert eer_threshold(s, y) == 0.6


@pytest.mark.parametrize(
    ("thr", "far", "frr"),
    [
        # 0.5: spoof >= 0.5 is {0.7}; real < 0.5 is {0.3}
        (0.5, 1 / 4, 1 / 4),
        # 0.75: no spoof accepted; reals 0.6, 0.3 rejected
        (0.75, 0.0, 2 / 4),
        # 0.35: spoofs 0.7, 0.4 accepted; real 0.3 rejected
        (0.35, 2 / 4, 1 / 4),
        # 0.7 exactly: the spoof at 0.7 is accepted (>=); reals 0.6, 0.3 rejected
        (0.7, 1 / 4, 2 / 4),
        # 1.1 (FLIP's last candidate): everything rejected
        (1.1, 0.0, 1.0),
    ],
)
def test_golden_fixed_thresholds_example_a(thr: float, far: float, frr: float) -> None:
    s, y = _example(A_REAL, A_SPOOF)
    m = evaluate(s, y, threshold=thr)
    assert m["threshold"] == thr
    assert m["far"] == pytest.approx(far) and m["frr"] == pytest.approx(frr)
    assert m["hter"] == pytest.approx((far + frr) / 2)
    assert m["acer"] == m["hter"] and m["apcer"] == m["far"] and m["bpcer"] == m["frr"]
    assert m["eer"] == 0.25  # the EER does not depend on the chosen threshold


def test_golden_unbalanced_eer() -> None:
    # real 0.8 0.6 0.3 (3), spoof 0.7 0.5 0.4 0.2 (4); FAR = #(spoof>=t)/4, FRR = #(real<t)/3
    #   (0.4, 0.5]: FAR 2/4, FRR 1/3 -> 1/6
    #   (0.5, 0.6]: FAR 1/4, FRR 1/3 -> 1/12   <- minimum, last grid point 0.6
    #   (0.6, 0.7]: FAR 1/4, FRR 2/3 -> 5/12
    # EER = (1/4 + 1/3) / 2 = 7/24
    s, y = _example([0.8, 0.6, 0.3], [0.7, 0.5, 0.4, 0.2])
    m = evaluate(s, y)
    assert m["threshold"] == 0.6
    assert m["far"] == pytest.approx(1 / 4) and m["frr"] == pytest.approx(1 / 3)
    assert m["eer"] == pytest.approx(7 / 24) and m["hter"] == m["eer"]
    # AUC: 0.8 > 4, 0.6 > 3, 0.3 > 1 -> 8/12
    assert m["auc"] == pytest.approx(8 / 12)


# Video fusion (dyadic values, so the means are exact):
#   v1 real 0.875, 0.375 -> 0.625     v3 spoof 0.25, 0.5 -> 0.375
#   v2 real 0.5,   0.75  -> 0.625     v4 spoof 0.125     -> 0.125
# Fused: perfectly separated, |d| = 0 on (0.375, 0.625], last grid point 0.625; EER 0; AUC 1.
# Frames instead: real .875 .375 .5 .75, spoof .25 .5 .125 -> 12 pairs:
#   .875 -> 3, .375 -> 2, .5 -> 2 + 0.5 (tie with .5), .75 -> 3 = 10.5 / 12.
V_SCORES = [0.875, 0.25, 0.375, 0.5, 0.5, 0.125, 0.75]
V_LABELS = [1, 0, 1, 1, 0, 0, 1]
V_IDS = ["v1", "v3", "v1", "v2", "v3", "v4", "v2"]


def test_fuse_by_video_by_hand() -> None:
    s, y, ids = fuse_by_video(V_SCORES, V_LABELS, V_IDS)
    assert list(ids) == ["v1", "v3", "v2", "v4"]  # first-appearance order
    assert list(s) == [0.625, 0.375, 0.625, 0.125]
    assert list(y) == [1, 0, 1, 0]


def test_evaluate_fuses_videos_first() -> None:
    m = evaluate(V_SCORES, V_LABELS, video_ids=V_IDS)
    assert m["n_videos"] == 4
    assert m["eer"] == 0.0 and m["hter"] == 0.0 and m["auc"] == 1.0
    assert m["threshold"] == 0.625
    assert m["tpr_at_fpr_1pct"] == 1.0
    fixed = evaluate(V_SCORES, V_LABELS, video_ids=V_IDS, threshold=0.5)
    assert fixed["far"] == 0.0 and fixed["frr"] == 0.0 and fixed["n_videos"] == 4
    frames = evaluate(V_SCORES, V_LABELS)
    assert frames["n_videos"] == 7
    assert frames["auc"] == pytest.approx(10.5 / 12)


def test_video_with_mixed_labels_is_named() -> None:
    with pytest.raises(ValueError, match="'clip7'"):
        evaluate([0.2, 0.3, 0.9], [1, 0, 0], video_ids=["clip7", "clip7", "x"])
    with pytest.raises(ValueError, match="'clip7'"):
        fuse_by_video([0.2, 0.3], [1, 0], ["clip7", "clip7"])


def test_auc_equals_hand_count_of_concordant_pairs() -> None:
    # real 0.8 0.5 0.5, spoof 0.5 0.3: pairs 0.8 -> 2, 0.5 -> 1 + 0.5 tie (twice) = 2 + 1.5*2 = 5
    s, y = _example([0.8, 0.5, 0.5], [0.5, 0.3])
    assert evaluate(s, y)["auc"] == pytest.approx(5 / 6)


def test_tpr_at_fpr_1pct_by_hand() -> None:
    # 100 spoofs: 99 at 0.1, 1 at 0.85; 10 reals: 4 at 0.9, 3 at 0.8, 3 at 0.05.
    # ROC points: t>0.9 (0,0); t=0.9 (0, .4); t=0.85 (.01, .4); t=0.8 (.01, .7); t=0.1 (1, .7) ...
    # FPR <= 0.01 allows exactly one accepted spoof, so the largest TPR is 0.7.
    real = [0.9] * 4 + [0.8] * 3 + [0.05] * 3
    s, y = _example(real, [0.1] * 99 + [0.85])
    assert evaluate(s, y)["tpr_at_fpr_1pct"] == pytest.approx(0.7)
    # With 50 spoofs one false accept is 2% > 1%, so only FPR = 0 counts: TPR = 0.4.
    s, y = _example(real, [0.1] * 49 + [0.85])
    assert evaluate(s, y)["tpr_at_fpr_1pct"] == pytest.approx(0.4)


def test_eer_threshold_is_the_honest_threshold_rule() -> None:
    s, y = _example(A_REAL, A_SPOOF)
    thr = eer_threshold(s, y)
    fixed = evaluate(s, y, threshold=thr)
    assert fixed["hter"] == fixed["eer"] == 0.25


def test_flip_candidate_grid_is_bit_identical() -> None:
    grid = metrics.FLIP_THRESHOLDS
    assert len(grid) == 10002 and grid[-1] == 1.1
    assert all(grid[i] == 0.0 + i * 1.0 / float(10000) for i in range(0, 10001, 7))


# --- brute force ------------------------------------------------------------------------------


def _brute_force(s: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Independent, deliberately naive re-implementation (loops over every candidate)."""
    real, spoof = s[y == 1], s[y == 0]
    best_d, best = math.inf, None
    for thr in [i / 10000 for i in range(10001)] + [1.1]:
        far = sum(1 for v in spoof if v >= thr) / len(spoof)
        frr = sum(1 for v in real if v < thr) / len(real)
        d = abs(frr - far)
        if d <= best_d:
            best_d, best = d, (thr, far, frr)
    thr, far, frr = best
    concordant = sum(1.0 if r > f else 0.5 if r == f else 0.0 for r in real for f in spoof)
    tpr_best = 0.0
    for c in sorted(set(s.tolist())) + [math.inf]:
        fp = sum(1 for v in spoof if v >= c)
        if fp / len(spoof) <= 0.01:
            tpr_best = max(tpr_best, sum(1 for v in real if v >= c) / len(real))
    return {
        "threshold": thr,
        "eer": (far + frr) / 2,
        "auc": concordant / (len(real) * len(spoof)),
        "tpr_at_fpr_1pct": tpr_best,
    }


@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(6, 40)) if seed % 2 else int(rng.integers(120, 220))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0.0, 1.0)
    if seed % 3 == 0:
        s = np.round(s, 4)  # land exactly on FLIP's grid points, and create ties
    if seed % 3 == 1:
        s = np.round(s, 1)  # heavy ties
    expected = _brute_force(s, y)
    m = evaluate(s, y)
    assert m["threshold"] == expected["threshold"]
    assert m["eer"] == pytest.approx(expected["eer"], abs=1e-12)
    assert m["hter"] == m["eer"]
    assert m["auc"] == pytest.approx(expected["auc"], abs=1e-12)
    assert m["tpr_at_fpr_1pct"] == pytest.approx(expected["tpr_at_fpr_1pct"], abs=1e-12)


def test_video_fusion_matches_manual_mean_on_random_data() -> None:
    rng = np.random.default_rng(0)
    vids = rng.integers(0, 25, 200)
    y_vid = rng.integers(0, 2, 25)
    y_vid[:2] = [0, 1]
    vids[:25] = np.arange(25)  # every video present
    y = y_vid[vids]
    s = rng.random(200)
    fused_s, fused_y, ids = fuse_by_video(s, y, vids)
    for v, fs, fy in zip(ids, fused_s, fused_y, strict=True):
        assert fs == pytest.approx(s[vids == v].mean()) and fy == y_vid[v]
    expected = _brute_force(fused_s, fused_y)
    m = evaluate(s, y, video_ids=vids)
    assert m["n_videos"] == 25 and m["threshold"] == expected["threshold"]


# --- bad inputs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scores": [0.1, 0.9], "labels": [1, 1]}, "both classes"),
        ({"scores": [0.1, 0.9], "labels": [0, 0]}, "both classes"),
        ({"scores": [0.1, float("nan")], "labels": [0, 1]}, "non-finite.*nan"),
        ({"scores": [0.1, float("inf")], "labels": [0, 1]}, "non-finite.*inf"),
        ({"scores": [0.1, 0.9, 0.5], "labels": [0, 1]}, "3 scores but 2 labels"),
        ({"scores": [0.1, 0.9], "labels": [0, 1], "video_ids": ["a"]}, "video_ids"),
        ({"scores": [0.1, 1.5], "labels": [0, 1]}, r"\[0, 1\].*1\.5"),
        ({"scores": [-0.2, 0.5], "labels": [0, 1], "threshold": 0.5}, r"\[0, 1\].*-0\.2"),
        ({"scores": [0.1, 0.9], "labels": [0, 2]}, "labels must be 0.*found 2"),
        ({"scores": [0.1, 0.9], "labels": [0, float("nan")]}, "labels must be 0"),
        ({"scores": [], "labels": []}, "empty"),
        ({"scores": [[0.1, 0.9]], "labels": [[0, 1]]}, "1-D"),
        ({"scores": ["a", "b"], "labels": [0, 1]}, "numeric"),
        ({"scores": [0.1, 0.9], "labels": [0, 1], "threshold": "eer"}, "test-eer"),
        ({"scores": [0.1, 0.9], "labels": [0, 1], "threshold": float("nan")}, "finite"),
        ({"scores": [0.1, 0.9], "labels": [0, 1], "threshold": True}, "test-eer"),
    ],
)
def test_bad_inputs_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate(**kwargs)


def test_eer_threshold_and_fuse_validate_too() -> None:
    with pytest.raises(ValueError, match="both classes"):
        eer_threshold([0.2, 0.4], [1, 1])
    with pytest.raises(ValueError, match="non-finite"):
        fuse_by_video([float("nan")], [1], ["a"])
    with pytest.raises(ValueError, match="video_ids is required"):
        fuse_by_video([0.5], [1], None)
