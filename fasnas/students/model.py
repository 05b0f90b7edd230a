"""Students as modules: :class:`Student`, :class:`DeployedStudent`, :func:`create_student`.

Owns building a spec into a timm backbone (``pretrained=False``, ``num_classes=0``: pooled
features) plus a 2-class head and a projection to the teacher's embedding space, loading a
local backbone weights file (:func:`load_backbone_weights`; nothing is ever downloaded) and
reparameterisation for inference. timm is imported only when a model is built.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fasnas._compat import ensure_torchvision
from fasnas.errors import CheckpointError, ConfigError
from fasnas.students.registry import get_family, resolve_recipe
from fasnas.students.spec import StudentSpec


class Student(nn.Module):
    """A timm backbone with a 2-class head and a projection to the teacher's embedding space.

    Attributes:
        spec: the spec it was built from.
        backbone: the timm model, ``num_classes=0`` (it returns pooled features).
        head: ``Linear(num_features, 2)``; logits ordered (spoof, real), so index 1 is "real".
        projection: ``Linear(num_features, embed_dim)``, for feature and text distillation.
    """

    def __init__(
        self, spec: StudentSpec, backbone: nn.Module, num_features: int, embed_dim: int
    ) -> None:
        super().__init__()
        self.spec = spec
        self.backbone = backbone
        self.num_features = num_features
        self.embed_dim = embed_dim
        self.head = nn.Linear(num_features, 2)
        self.projection = nn.Linear(num_features, embed_dim)
        self._reparameterized = False

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (B, 3, S, S) -> (logits (B, 2), projected embedding (B, embed_dim))."""
        features = self.backbone(x)
        return self.head(features), self.projection(features)

    @property
    def is_reparameterizable(self) -> bool:
        """Whether the family fuses branches for inference (fastvit, repvit, mobileone)."""
        return get_family(self.spec.family).reparameterizable

    @property
    def is_reparameterized(self) -> bool:
        """Whether :meth:`reparameterize` has already fused this student."""
        return self._reparameterized

    def reparameterize(self, inplace: bool = False) -> Student:
        """The inference form of this student (fused branches), for costing and export.

        A no-op returning ``self`` for families without reparameterisation and for students
        already reparameterised (so it is idempotent). Otherwise fuses a deep copy, or ``self``
        when ``inplace``. The fused student is for inference only; do not train it.
        """
        if not self.is_reparameterizable or self._reparameterized:
            return self
        ensure_torchvision()
        from timm.utils import reparameterize_model

        target = self if inplace else copy.deepcopy(self)
        reparameterize_model(target.backbone, inplace=True)
        target._reparameterized = True
        return target


def _feature_dim(backbone: nn.Module) -> int:
    """Width of the pooled features a ``num_classes=0`` timm model returns."""
    hidden = getattr(backbone, "head_hidden_size", None)
    return int(hidden if hidden else backbone.num_features)


def _weights_path(spec: StudentSpec) -> str:
    path = Path(spec.weights).expanduser()
    if not path.is_file():
        raise ConfigError(f"{spec.weights}: student weights file not found (StudentSpec.weights)")
    return str(path)


def _classifier_prefixes(backbone: nn.Module) -> tuple[str, ...]:
    names = getattr(backbone, "pretrained_cfg", {}).get("classifier") or ()
    names = (names,) if isinstance(names, str) else tuple(names)
    return tuple(f"{name}." for name in (*names, "head_dist", "head", "fc", "classifier"))


def load_backbone_weights(backbone: nn.Module, path: str) -> None:
    """Load a local weights file into a ``num_classes=0`` timm backbone, strictly.

    The file may be a state dict, a checkpoint dict holding one (``state_dict``, ``model``,
    EMA), or safetensors. The model module's ``checkpoint_filter_fn`` adapts it as timm does
    for pretrained weights (e.g. resizing a ViT position embedding); classifier weights are
    dropped. Every remaining backbone parameter must be in the file.

    Raises:
        CheckpointError: if the file cannot be read or does not match the backbone.
    """
    from timm.models import load_state_dict

    try:
        state = load_state_dict(path)
        filter_fn = getattr(sys.modules[type(backbone).__module__], "checkpoint_filter_fn", None)
        if filter_fn is not None:
            state = filter_fn(state, backbone)
    except Exception as error:  # any reader failure means a bad file for the user
        raise CheckpointError(
            f"{path}: cannot read student weights: {type(error).__name__}: {error}"
        ) from error
    own = backbone.state_dict()
    prefixes = _classifier_prefixes(backbone)
    state = {k: v for k, v in state.items() if k in own or not k.startswith(prefixes)}
    try:
        missing, unexpected = backbone.load_state_dict(state, strict=False)
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        raise CheckpointError(
            f"{path}: does not fit {type(backbone).__name__}: {' '.join(first[:3])}"
        ) from error
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: does not fit {type(backbone).__name__}: {len(missing)} missing keys "
            f"(first: {missing[:3]}), {len(unexpected)} unexpected keys "
            f"(first: {unexpected[:3]})"
        )


def create_student(spec: StudentSpec, embed_dim: int) -> Student:
    """Build the student described by ``spec``; ``embed_dim`` is the teacher's embedding width.

    The backbone starts from random weights (seed torch first for reproducibility), or from
    ``spec.weights`` when set (see :func:`load_backbone_weights`).

    Raises:
        StudentBuildError: if the family cannot build ``spec`` (the message names family and
            size).
        ConfigError: if ``spec.weights`` names a missing file.
        CheckpointError: if that file cannot be loaded into the backbone.
    """
    if isinstance(embed_dim, bool) or not isinstance(embed_dim, int) or embed_dim < 1:
        raise ValueError(f"`embed_dim >= 1` must hold, but got {embed_dim!r}")
    recipe = resolve_recipe(spec)
    weights = _weights_path(spec) if spec.weights is not None else None
    ensure_torchvision()
    import timm

    kwargs: dict[str, Any] = {"num_classes": 0, **recipe.kwargs}
    if recipe.generator is not None:
        backbone = recipe.generator(recipe.name, pretrained=False, **kwargs)
    else:
        backbone = timm.create_model(recipe.name, pretrained=False, **kwargs)
    if weights is not None:
        load_backbone_weights(backbone, weights)
    return Student(spec, backbone, _feature_dim(backbone), embed_dim)


class DeployedStudent(nn.Module):
    """The student as deployed: backbone and 2-class head, logits only (what cost and export
    see; the projection head serves distillation during training only)."""

    def __init__(self, student: Student) -> None:
        super().__init__()
        self.student = student

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.student(x)[0]
