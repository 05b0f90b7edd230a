"""The FLIP teachers (FLIP-V, FLIP-IT, FLIP-MCL) on top of any open_clip CLIP config.

Owns :class:`FlipTeacher` (the three variants' forward passes, embeddings and text-embedding
cache) and its input convention (:class:`Preprocess`). The CLIP configs are
:mod:`fasnas.teacher.configs`', the prompt ensembles :mod:`fasnas.teacher.prompts`', the
FLIP-MCL head and losses :mod:`fasnas.teacher.mcl`'s. Weights come from elsewhere
(:mod:`fasnas.teacher.file`, :mod:`fasnas.teacher.checkpoints`); :func:`build_teacher` is the
only way to ask for a random init, and it says so in its name.

Every formula follows FLIP's own code (koushiksrivats/FLIP, ``fas.py``, ``clip/model.py``,
``prompt_templates.py``, ``utils/dataset.py``), read through the code search:

- **FLIP-V** (``fas.flip_v``): the image tower's ``forward_full`` returns ``ln_post`` of the
  CLS token *before* ``proj`` (768-d for ViT-B/16); ``feature_embedder`` applies
  ``Linear(768, 512)`` (init N(0, 0.005), bias 0.1), ReLU, ``Dropout(0.5)`` and divides the
  feature by ``sqrt(max(||f||, 1e-12)) * sqrt(2)`` (so FLIP's feature is *not* unit-norm, see
  docs/flip.md §4); ``classifier`` is ``Linear(512, 2)`` (init N(0, 0.01), bias 0) whose
  weight is L2-normalised along ``axis=0`` — each input column over the two classes — and FLIP
  writes that normalised weight back into ``weight.data`` at every forward.
- **FLIP-IT** (``fas.flip_it``): each class's six prompts are tokenised and encoded, the raw
  (unnormalised) text embeddings are averaged, the two class means are stacked (spoof, real)
  and L2-normalised; the image embedding (``encode_image``, after ``proj``) is L2-normalised;
  logits = ``logit_scale.exp() * image @ text.T``. Column 0 is spoof, column 1 is real.
- **FLIP-MCL** (``fas.flip_mcl``): FLIP-IT plus ``image_mlp`` =
  ``Sequential(layer1 Linear(512, 4096), bn1, relu1, layer2 Linear(4096, 4096), bn2, relu2,
  layer3 Linear(4096, 256))`` used only by its two training losses (:func:`info_nce_loss`,
  :func:`prompt_consistency_loss`); at inference it is FLIP-IT.
- **Input** (``utils/dataset.py``): RGB in [0, 1] normalised with ImageNet mean/std, not CLIP's.
- **Precision**: FLIP's ``clip/model.py`` ``build_model`` leaves ``convert_weights`` (fp16)
  commented out, so FLIP runs in fp32; so do these teachers (autocast is the caller's choice).

Example::

    teacher = build_teacher("flip-it", "tiny", TINY_CONFIG).eval()
    x = teacher.preprocess.normalize(uint8_frames_nhwc)
    probs_real = teacher(x).softmax(-1)[:, 1]
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fasnas._compat import ensure_torchvision
from fasnas.errors import ConfigError
from fasnas.preprocess import Preprocess
from fasnas.teacher.configs import DEFAULT_MODEL_NAME, create_clip, resolve_model_cfg
from fasnas.teacher.mcl import build_mcl_mlp, info_nce_loss, prompt_consistency_loss, unit
from fasnas.teacher.prompts import REAL_PROMPTS, SPOOF_PROMPTS, tokenize_prompts

ensure_torchvision()

from open_clip.constants import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402  (after the shim)

VARIANTS = ("flip-v", "flip-it", "flip-mcl")
"""The three FLIP teachers."""

BOTTLENECK_DIM = 512  # FLIP-V feature_embedder output
DROPOUT = 0.5  # FLIP-V feature_embedder dropout


class ImageTower(NamedTuple):
    """A teacher's image tower and the linear map from its pooled feature to the embedding.

    Attributes:
        visual: the open_clip image tower (a ``VisionTransformer`` for ViT teachers).
        proj_weight: ``(embed_dim, width)``, as an ``nn.Linear`` weight.
        proj_bias: ``(embed_dim,)``, or None (CLIP's ``proj`` has none).
    """

    visual: nn.Module
    proj_weight: torch.Tensor
    proj_bias: torch.Tensor | None


def _image_size(visual: nn.Module, model_name: str) -> int:
    size = getattr(visual, "image_size", None)
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    if height != width:
        raise ConfigError(f"{model_name!r}: expected a square image size, got {height}x{width}")
    return int(height)


def _version(tensor: torch.Tensor) -> int | None:
    """The in-place version counter (None for inference tensors, which have none)."""
    try:
        return tensor._version
    except RuntimeError:
        return None


class FlipTeacher(nn.Module):
    """A FLIP teacher: ``forward(images) -> (N, 2)`` logits ordered (spoof, real).

    State-dict layout (what teacher files store):

    - ``flip-v``: ``visual.*`` (open_clip/OpenAI image-tower keys), ``bottleneck.*``
      (Linear width -> 512), ``classifier.*`` (Linear 512 -> 2);
    - ``flip-it``: ``clip.*`` (open_clip CLIP keys = OpenAI CLIP keys);
    - ``flip-mcl``: ``clip.*`` and ``image_mlp.*`` (FLIP's names).

    Text embeddings (FLIP-IT/MCL): in training mode the text tower runs at every forward, with
    gradients, as FLIP does. In eval mode the two class embeddings are computed once and
    cached; the cache key is a weights version bumped by :meth:`load_state_dict` and
    :meth:`train`/``eval()``, plus the device, dtype, storage and in-place version counter of
    every text-tower parameter, so an optimiser step, ``.to()`` or a weight copy invalidates
    it too. Eval mode treats the text tower as frozen (no gradient flows into it).

    The constructor initialises every weight randomly (FLIP's own init for the heads); use
    :func:`build_teacher` to say so explicitly, or :mod:`fasnas.teacher.file` to load.

    Args:
        variant: ``"flip-v"``, ``"flip-it"`` or ``"flip-mcl"``.
        model_name: An open_clip config name, or a label when ``model_cfg`` is given.
        model_cfg: A custom open_clip config (``embed_dim``, ``vision_cfg``, ``text_cfg``).

    Raises:
        ConfigError: On an unknown variant or config, or a FLIP-V on a non-ViT image tower.
    """

    def __init__(
        self,
        variant: str,
        model_name: str = DEFAULT_MODEL_NAME,
        model_cfg: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ConfigError(
                f"unknown teacher variant {variant!r}; expected one of {list(VARIANTS)}"
            )
        self.variant = variant
        self.model_name = model_name
        self.model_cfg = copy.deepcopy(dict(model_cfg)) if model_cfg is not None else None
        self._weights_version = 0
        self._text_cache: tuple[tuple, torch.Tensor] | None = None
        clip = create_clip(model_name, self.model_cfg)
        size = _image_size(clip.visual, model_name)
        self.preprocess = Preprocess(size=size, mean=tuple(IMAGENET_MEAN), std=tuple(IMAGENET_STD))
        if variant == "flip-v":
            self._init_flip_v(clip.visual)
        else:
            self.clip = clip
            self.register_buffer(
                "spoof_tokens",
                tokenize_prompts(model_name, model_cfg, SPOOF_PROMPTS),
                persistent=False,
            )
            self.register_buffer(
                "real_tokens",
                tokenize_prompts(model_name, model_cfg, REAL_PROMPTS),
                persistent=False,
            )
            self._embed_dim = int(resolve_model_cfg(model_name, self.model_cfg)["embed_dim"])
            if variant == "flip-mcl":
                self.image_mlp = build_mcl_mlp(self._embed_dim)

    def _init_flip_v(self, visual: nn.Module) -> None:
        ok = all(hasattr(visual, name) for name in ("_embeds", "_pool", "transformer", "ln_post"))
        if not ok or getattr(visual, "attn_pool", None) is not None or visual.pool_type != "tok":
            raise ConfigError(
                f"flip-v on {self.model_name!r}: needs an open_clip VisionTransformer image tower "
                f"pooled by its CLS token (FLIP-V reads ln_post(CLS) before proj)"
            )
        self.visual = visual
        width = int(visual.ln_post.normalized_shape[0])
        self.bottleneck = nn.Linear(width, BOTTLENECK_DIM)
        self.bottleneck.weight.data.normal_(0, 0.005)
        self.bottleneck.bias.data.fill_(0.1)
        self.dropout = nn.Dropout(DROPOUT)
        self.classifier = nn.Linear(BOTTLENECK_DIM, 2)
        self.classifier.weight.data.normal_(0, 0.01)
        self.classifier.bias.data.fill_(0.0)
        self._embed_dim = BOTTLENECK_DIM

    @property
    def embed_dim(self) -> int:
        """Width of :meth:`embed`: 512 for FLIP-V, the CLIP embedding width otherwise."""
        return self._embed_dim

    # ---- FLIP-V -----------------------------------------------------------------------------
    def visual_cls(self, images: torch.Tensor) -> torch.Tensor:
        """FLIP-V's backbone feature: ``ln_post`` of the CLS token, before ``proj``."""
        visual = self.visual
        pooled, _ = visual._pool(visual.transformer(visual._embeds(images)))
        return pooled

    def _bottleneck(self, images: torch.Tensor) -> torch.Tensor:
        return self.dropout(F.relu(self.bottleneck(self.visual_cls(images))))

    def _flip_v_logits(self, images: torch.Tensor) -> torch.Tensor:
        feature = self._bottleneck(images)
        norm = torch.norm(feature, p=2, dim=1, keepdim=True).clamp(min=1e-12) ** 0.5 * 2**0.5
        feature = torch.div(feature, norm)
        weight = self.classifier.weight
        if self.training:
            # FLIP writes the column-normalised weight back before every forward, so the
            # gradient flows to the normalised weight, not through the normalisation.
            with torch.no_grad():
                weight.copy_(torch.div(weight, torch.norm(weight, 2, 0, True)))
            return self.classifier(feature)
        normalised = torch.div(weight, torch.norm(weight, 2, 0, True))
        return F.linear(feature, normalised, self.classifier.bias)

    # ---- FLIP-IT / FLIP-MCL -----------------------------------------------------------------
    def prompt_text_embeddings(self) -> torch.Tensor:
        """Raw text embeddings of every prompt, ``(2, 6, D)`` ordered (spoof, real).

        Runs the text tower (two batches, spoof then real, as FLIP does), with gradients when
        they are enabled. Not cached.
        """
        self._require_text("prompt_text_embeddings")
        spoof = self.clip.encode_text(self.spoof_tokens)
        real = self.clip.encode_text(self.real_tokens)
        return torch.stack([spoof, real], dim=0)

    def class_text_embeddings(self) -> torch.Tensor:
        """The L2-normalised class embeddings ``(2, D)`` (spoof, real): prompt means, normalised.

        Cached in eval mode (see the class docstring); recomputed with gradients in training.
        """
        self._require_text("class_text_embeddings")
        if self.training:
            return unit(self.prompt_text_embeddings().mean(dim=1))
        key = self._text_cache_key()
        if self._text_cache is None or self._text_cache[0] != key:
            with torch.no_grad():
                text = unit(self.prompt_text_embeddings().mean(dim=1)).float()
            self._text_cache = (key, text)
        return self._text_cache[1]

    def _require_text(self, what: str) -> None:
        if self.variant == "flip-v":
            raise ConfigError(f"{what}: a flip-v teacher has no text tower")

    def _text_cache_key(self) -> tuple:
        params = [p for name, p in self.clip.named_parameters() if not name.startswith("visual.")]
        signature = tuple((p.device, p.dtype, p.data_ptr(), _version(p)) for p in params)
        return (self._weights_version, signature)

    def _bump_weights_version(self) -> None:
        self._weights_version += 1
        self._text_cache = None

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ):
        """``nn.Module.load_state_dict``, then invalidate the text-embedding cache."""
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        self._bump_weights_version()
        return result

    def train(self, mode: bool = True) -> FlipTeacher:
        """``nn.Module.train``, then invalidate the text-embedding cache (``eval()`` too)."""
        super().train(mode)
        self._bump_weights_version()
        return self

    # ---- common -----------------------------------------------------------------------------
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 2)``, column 0 spoof, column 1 real, for normalised ``(N, 3, S, S)``."""
        if self.variant == "flip-v":
            return self._flip_v_logits(images)
        image = unit(self.clip.encode_image(images))
        text = self.class_text_embeddings().to(image.dtype)
        return self.clip.logit_scale.exp() * image @ text.t()

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised image embeddings ``(N, embed_dim)``.

        FLIP-V: the 512-d bottleneck feature (after ReLU and dropout) scaled to unit length
        (FLIP's own feature has the same direction, length ``sqrt(||f|| / 2)``).
        FLIP-IT/MCL: the CLIP image embedding (after ``proj``), as FLIP compares it to the text.
        """
        if self.variant == "flip-v":
            return unit(self._bottleneck(images))
        return unit(self.clip.encode_image(images))

    def mcl_losses(
        self,
        view_1: torch.Tensor,
        view_2: torch.Tensor,
        labels: torch.Tensor,
        rng: np.random.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """FLIP-MCL's two extra losses on two augmented views: ``(info_nce, prompt_mse)``.

        FLIP adds both, weight 1, to the cross-entropy of :meth:`forward` on the plain images.

        Args:
            view_1: First views ``(B, 3, S, S)``, normalised.
            view_2: Second views of the same images.
            labels: ``(B,)`` 0 = spoof, 1 = real.
            rng: Draws the prompt subsets (FLIP uses ``np.random``).

        Raises:
            ConfigError: If this is not a flip-mcl teacher.
        """
        if self.variant != "flip-mcl":
            raise ConfigError(f"mcl_losses: needs a flip-mcl teacher, this one is {self.variant}")
        image_1 = self.clip.encode_image(view_1)
        image_2 = self.clip.encode_image(view_2)
        nce = info_nce_loss(self.image_mlp(image_1), self.image_mlp(image_2))
        mse = prompt_consistency_loss(image_1, image_2, self.prompt_text_embeddings(), labels, rng)
        return nce, mse

    def image_tower(self) -> ImageTower:
        """The image tower and the projection into :meth:`embed`'s space, for a student that
        inherits from it (:mod:`fasnas.students.inherit`): ``proj`` for FLIP-IT/MCL, the
        bottleneck for FLIP-V (whose ReLU and dropout follow)."""
        if self.variant == "flip-v":
            bottleneck = self.bottleneck
            return ImageTower(self.visual, bottleneck.weight.detach(), bottleneck.bias.detach())
        visual = self.clip.visual
        proj = getattr(visual, "proj", None)
        if proj is None:  # a ModifiedResNet: attention pooling, no proj (inherit refuses it)
            return ImageTower(visual, torch.empty(0, 0), None)
        return ImageTower(visual, proj.detach().t(), None)

    def extra_repr(self) -> str:
        return (
            f"variant={self.variant!r}, model_name={self.model_name!r}, embed_dim={self.embed_dim}"
        )


def build_teacher(
    variant: str,
    model_name: str = DEFAULT_MODEL_NAME,
    model_cfg: Mapping[str, Any] | None = None,
) -> FlipTeacher:
    """A RANDOMLY initialised teacher: no weights are loaded, ever (explicit by name).

    Load trained weights with :func:`fasnas.teacher.file.load_teacher` or
    :func:`fasnas.teacher.checkpoints.read_checkpoint` instead.
    """
    return FlipTeacher(variant, model_name, model_cfg)
