"""Face anti-spoofing metrics: HTER, EER, AUC, TPR@FPR=1%, APCER/BPCER/ACER, video fusion.

Owns every number the project reports about a model's scores. Numpy in, a plain dict of python
floats/ints out. Conventions (docs/flip.md §3):

* label 1 = real (bona fide), 0 = spoof (attack); a score is P(real), so it must lie in [0, 1];
* a unit is predicted real iff ``score >= threshold`` (the same rule as FLIP's ``eval_state``
  and as scikit-learn's ``roc_curve``);
* FAR = FP / (FP + TN) (spoofs accepted), FRR = FN / (FN + TP) (reals rejected),
  HTER = (FAR + FRR) / 2.

**The "test-eer" threshold reproduces FLIP exactly** (``utils/statistic.py`` ``get_EER_states``
and ``get_HTER_at_thr`` in koushiksrivats/FLIP). FLIP does *not* take its candidates from
``roc_curve``: it scans the fixed grid ``i / 10000`` for ``i = 0 .. 10000`` followed by ``1.1``
(10002 candidates, in that order), computes ``|FRR - FAR|`` at each with ``score >= thr``, and
keeps the candidate whose distance is ``<=`` the smallest seen so far, i.e. the *last* (largest)
candidate among those with the minimal distance. EER = (FAR + FRR) / 2 at that threshold, and
FLIP's HTER is the same quantity at the same threshold, so ``hter == eer`` in that mode. Because of
the grid, two scores closer than 1e-4 cannot be separated (as in FLIP). Scores outside [0, 1] are
refused in every mode: the grid spans [0, 1], and a score is a probability.

A float threshold is the honest figure: it is fixed beforehand (e.g. :func:`eer_threshold` on
source-validation scores) and ``hter/far/frr/apcer/bpcer/acer`` are measured at it; ``eer`` is
still the test EER. Any finite threshold is accepted (FLIP's rule may return 1.1).

AUC and the ROC come from scikit-learn with real as the positive class.
``tpr_at_fpr_1pct`` is the largest TPR among the ROC points with FPR <= 0.01 (FLIP's
``tpr[fpr <= 1/100][-1]``; the ROC always contains (0, 0), so it is defined).

ISO/IEC 30107-3 names, for a single attack type (all spoofs pooled as one PAI species):
APCER = attacks accepted as bona fide = FAR, BPCER = bona fide rejected = FRR,
ACER = (APCER + BPCER) / 2 = HTER.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

FLIP_GRID_DENSITY = 10000
#: FLIP's candidate thresholds, bit-identical to ``0.0 + i * 1.0 / float(10000)`` and then 1.1.
FLIP_THRESHOLDS = np.append(np.arange(FLIP_GRID_DENSITY + 1) / float(FLIP_GRID_DENSITY), 1.1)
TEST_EER = "test-eer"

ArrayLike = np.ndarray | Sequence


def _validate(scores: ArrayLike, labels: ArrayLike, video_ids: ArrayLike | None = None):
    """Return (scores float64, labels int64, ids or None), or raise ValueError naming the fault."""
    s = np.asarray(scores)
    y = np.asarray(labels)
    if s.ndim != 1 or y.ndim != 1:
        raise ValueError(f"scores and labels must be 1-D, got shapes {s.shape} and {y.shape}")
    if s.size == 0:
        raise ValueError("empty input: no scores given")
    if len(s) != len(y):
        raise ValueError(f"length mismatch: {len(s)} scores but {len(y)} labels")
    ids = None
    if video_ids is not None:
        ids = np.asarray(video_ids)
        if ids.ndim != 1 or len(ids) != len(s):
            raise ValueError(
                f"length mismatch: {len(s)} scores but video_ids of shape {ids.shape}"
            )
    try:
        s = s.astype(np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"scores must be numeric, got dtype {s.dtype}") from error
    bad = ~np.isfinite(s)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{int(bad.sum())} non-finite score(s), first at index {i}: {s[i]}")
    try:
        valid = np.isin(y.astype(np.float64), (0.0, 1.0))
    except (TypeError, ValueError) as error:
        raise ValueError(f"labels must be 0 (spoof) or 1 (real), got dtype {y.dtype}") from error
    if not valid.all():
        found = sorted({str(v) for v in y[~valid][:5]})
        raise ValueError(f"labels must be 0 (spoof) or 1 (real), found {', '.join(found)}")
    y = y.astype(np.int64)
    out = (s < 0.0) | (s > 1.0)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise ValueError(
            f"scores must be probabilities P(real) in [0, 1]: {int(out.sum())} outside, "
            f"first at index {i}: {s[i]} (range {s.min()} .. {s.max()})"
        )
    return s, y, ids


def _fuse(s: np.ndarray, y: np.ndarray, ids: np.ndarray):
    groups: dict[object, list[int]] = {}
    for i, vid in enumerate(ids.tolist()):
        groups.setdefault(vid, []).append(i)
    fused_s, fused_y = [], []
    for vid, idx in groups.items():  # first-appearance order, as FLIP's dict
        labels = set(y[idx].tolist())
        if len(labels) != 1:
            raise ValueError(f"video {vid!r} mixes labels {sorted(labels)} across its frames")
        fused_s.append(float(np.mean(s[idx])))
        fused_y.append(labels.pop())
    return np.asarray(fused_s), np.asarray(fused_y, dtype=np.int64), np.asarray(list(groups))


def fuse_by_video(scores: ArrayLike, labels: ArrayLike, video_ids: ArrayLike):
    """Average the frame scores of each video; return ``(scores, labels, ids)`` per video.

    Videos come out in order of first appearance. Every frame of a video must carry the same
    label, else ValueError naming the video.
    """
    s, y, ids = _validate(scores, labels, video_ids)
    if ids is None:
        raise ValueError("video_ids is required for fuse_by_video")
    return _fuse(s, y, ids)


def _prepare(scores, labels, video_ids):
    s, y, ids = _validate(scores, labels, video_ids)
    if ids is not None:
        s, y, _ = _fuse(s, y, ids)
    n_real = int(y.sum())
    if n_real == 0 or n_real == len(y):
        only = "real (1)" if n_real else "spoof (0)"
        raise ValueError(f"both classes are needed, but all {len(y)} units are {only}")
    return s, y


def _rates(s: np.ndarray, y: np.ndarray, thresholds: np.ndarray):
    """FAR and FRR at each threshold, predicting real iff score >= threshold."""
    real, spoof = np.sort(s[y == 1]), np.sort(s[y == 0])
    fn = np.searchsorted(real, thresholds, side="left")  # reals with score < thr
    tn = np.searchsorted(spoof, thresholds, side="left")
    far = (len(spoof) - tn) / len(spoof)
    frr = fn / len(real)
    return far, frr


def _flip_eer(s: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    far, frr = _rates(s, y, FLIP_THRESHOLDS)
    dist = np.abs(frr - far)
    i = len(dist) - 1 - int(np.argmin(dist[::-1]))  # last minimum: FLIP updates on `<=`
    return float(FLIP_THRESHOLDS[i]), float((far[i] + frr[i]) / 2.0)


def eer_threshold(scores: ArrayLike, labels: ArrayLike, video_ids: ArrayLike | None = None):
    """FLIP's EER threshold (see the module docstring) on these scores, after video fusion."""
    s, y = _prepare(scores, labels, video_ids)
    return _flip_eer(s, y)[0]


def evaluate(
    scores: ArrayLike,
    labels: ArrayLike,
    video_ids: ArrayLike | None = None,
    threshold: str | float = TEST_EER,
) -> dict[str, float | int]:
    """All metrics, over videos when ``video_ids`` is given (frames otherwise).

    ``threshold="test-eer"`` gives FLIP's paper-comparable figure (threshold picked on these very
    scores); a float gives the honest figure at that fixed threshold (real iff score >= it).
    Keys: hter, eer, auc, tpr_at_fpr_1pct, threshold, far, frr, apcer, bpcer, acer, n_videos.
    """
    if isinstance(threshold, str):
        if threshold != TEST_EER:
            raise ValueError(f"threshold must be {TEST_EER!r} or a float, got {threshold!r}")
    elif isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)):
        raise ValueError(f"threshold must be {TEST_EER!r} or a float, got {threshold!r}")
    elif not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    s, y = _prepare(scores, labels, video_ids)
    eer_thr, eer = _flip_eer(s, y)
    thr = eer_thr if isinstance(threshold, str) else float(threshold)
    far_a, frr_a = _rates(s, y, np.asarray([thr]))
    far, frr = float(far_a[0]), float(frr_a[0])
    fpr, tpr, _ = roc_curve(y, s, pos_label=1)
    hter = (far + frr) / 2.0
    return {
        "hter": hter,
        "eer": eer,
        "auc": float(roc_auc_score(y, s)),
        "tpr_at_fpr_1pct": float(tpr[fpr <= 0.01].max()),
        "threshold": thr,
        "far": far,
        "frr": frr,
        "apcer": far,
        "bpcer": frr,
        "acer": hter,
        "n_videos": int(len(s)),
    }
