"""Leave-one-source-out: the inner domain-generalisation folds of one protocol.

Owns how ``objective.select_on: leave-one-source-out`` (:mod:`fasnas.selection`) scores a
student without the target. For each source domain ``d`` of the protocol (the target never
takes part, even when its shots are in the training set):

- train a fresh student on the source-train frames of every other domain (with the teacher
  outputs of exactly those frames);
- fix a threshold at the EER of the other domains' source-validation videos;
- score every frame of ``d`` (its train and validation videos), fused per video, at that
  threshold: the fold's HTER, EER and AUC.

The selection value is the mean fold HTER. Each fold costs one training run, so a protocol with
three sources costs four runs in all (the outer run is the one reported on the target).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fasnas.data.frameset import FrameSet, ProtocolFrames
from fasnas.metrics import eer_threshold, evaluate

Fit = Callable[[FrameSet, Any], Callable[[FrameSet], np.ndarray]]


class SubsetOutputs:
    """Teacher outputs of a subset of a frame set: index ``i`` of the subset is row
    ``positions[i]`` of the full set's outputs."""

    def __init__(self, outputs: Any, positions: np.ndarray) -> None:
        self.outputs = outputs
        self.positions = positions
        self.text = outputs.text

    def logits(self, index: np.ndarray) -> np.ndarray:
        return self.outputs.logits(self.positions[index])

    def embeddings(self, index: np.ndarray) -> np.ndarray:
        return self.outputs.embeddings(self.positions[index])


def fold_domains(frames: ProtocolFrames) -> list[str]:
    """The source domains held out in turn (sorted; never the target)."""
    target = frames.protocol.target
    return sorted({str(d) for d in np.unique(frames.source_train.domains)} - {target})


def inner_folds(frames: ProtocolFrames, outputs: Any, fit: Fit) -> dict[str, dict[str, Any]]:
    """Every fold's metrics on its held-out source, ``{domain: metrics}``.

    Args:
        frames: The protocol's frame sets (the target test set is not read).
        outputs: The cached teacher outputs of ``frames.source_train`` (None when the teacher
            runs online).
        fit: ``fit(train_frames, train_outputs) -> score`` trains a fresh student on those
            frames and returns its scorer (frames -> P(real) per frame).
    """
    train, val = frames.source_train, frames.source_val
    folds = {}
    for domain in fold_domains(frames):
        keep = train.domains != domain
        fold_outputs = None if outputs is None else SubsetOutputs(outputs, np.flatnonzero(keep))
        score = fit(train.subset(keep), fold_outputs)
        fold_val = val.subset(val.domains != domain)
        held_out = train.subset(~keep).concat(val.subset(val.domains == domain))
        threshold = eer_threshold(score(fold_val), fold_val.labels, fold_val.video_ids)
        folds[domain] = evaluate(
            score(held_out), held_out.labels, held_out.video_ids, threshold=threshold
        )
    return folds
