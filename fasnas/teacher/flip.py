"""The FLIP teachers (FLIP-V, FLIP-IT, FLIP-MCL) on top of any open_clip CLIP config.

Owns :class:`FlipTeacher`, its input convention (:class:`Preprocess`), the prompt ensembles,
the tiny CPU config :data:`TINY_CONFIG` and the FLIP-MCL losses. Weights come from elsewhere
(:mod:`fasnas.teacher.checkpoints`); :func:`build_teacher` is the only way to ask for a random
init, and it says so in its name.

Every formula follows FLIP's own code (koushiksrivats/FLIP, ``fas.py``, ``clip/model.py``,
``prompt_templates.py``, ``utils/dataset.py``), read through the code search:

- **FLIP-V** (``fas.flip_v``): the image tower's ``forward_full`` returns ``ln_post`` of the
  CLS token *before* ``proj`` (768-d for ViT-B/16); ``feature_embedder`` applies
  ``Linear(768, 512)`` (init N(0, 0.005), bias 0.1), ReLU, ``Dropout(0.5)`` and divides the
  feature by ``sqrt(max(||f||, 1e-12)) * sqrt(2)`` (so FLIP's feature is *not* unit-norm, despite
  FACTS' "L2-normalised"); ``classifier`` is ``Linear(512, 2)`` (init N(0, 0.01), bias 0) whose
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
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fasnas._compat import ensure_torchvision
from fasnas.errors import ConfigError
from fasnas.preprocess import Preprocess

ensure_torchvision()

import open_clip  # noqa: E402  (must follow the torchvision shim)
from open_clip.constants import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402

VARIANTS = ("flip-v", "flip-it", "flip-mcl")
"""The three FLIP teachers."""
DEFAULT_MODEL_NAME = "ViT-B-16-quickgelu"
"""CLIP ViT-B/16 with OpenAI's key names and QuickGELU, as FLIP uses (FACTS §1)."""

SPOOF_PROMPTS = (
    "This is an example of a spoof face",
    "This is an example of an attack face",
    "This is not a real face",
    "This is how a spoof face looks like",
    "a photo of a spoof face",
    "a printout shown to be a spoof face",
)
"""FLIP's spoof prompt ensemble (``prompt_templates.spoof_templates``), verbatim."""
REAL_PROMPTS = (
    "This is an example of a real face",
    "This is a bonafide face",
    "This is a real face",
    "This is how a real face looks like",
    "a photo of a real face",
    "This is not a spoof face",
)
"""FLIP's real prompt ensemble (``prompt_templates.real_templates``), verbatim."""

BOTTLENECK_DIM = 512  # FLIP-V feature_embedder output
DROPOUT = 0.5  # FLIP-V feature_embedder dropout
MCL_HIDDEN_DIM = 4096  # FLIP-MCL image_mlp hidden width (train_flip_mcl.py: ssl_mlp_dim)
MCL_OUT_DIM = 256  # FLIP-MCL image_mlp output width (ssl_emb_dim)
MCL_TEMPERATURE = 0.1  # FLIP-MCL SimCLR temperature

TINY_CONFIG: dict[str, Any] = {
    "embed_dim": 64,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
"""A two-layer CLIP ViT for tests: 32 px input, 64-d everywhere, real tokenizer."""

TINY_RN_CONFIG: dict[str, Any] = {
    "embed_dim": 64,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16, "head_width": 32},
    "text_cfg": TINY_CONFIG["text_cfg"],
}
"""The CPU demo's teacher: a CLIP whose image tower is a one-block-per-stage ModifiedResNet
(open_clip's RN layout, attention pooling) at 64 px, with :data:`TINY_CONFIG`'s text tower.

Trained from random init, a ViT has no inductive bias to find the synthetic attack textures
(halftone dots, sub-pixel moire): the two-layer ViT at 32 px reached 23.5% test-EER HTER on M
and a four-layer, 128-wide one at 64 px 24.5% in 2.7x the time, below the demo's CNN students;
this tower reaches 12.3% in 65 s. FLIP's ViT-B/16 gets that strength from CLIP pre-training,
which the demo does not have."""

BUILTIN_CONFIGS: dict[str, dict[str, Any]] = {"tiny": TINY_CONFIG, "tiny-rn": TINY_RN_CONFIG}
"""Config names that open_clip does not know: the test and demo teachers."""


def resolve_model_cfg(model_name: str, model_cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    """The open_clip config dict to build: ``model_cfg`` when given, else the named built-in.

    Raises:
        ConfigError: If the name is unknown, or the config lacks ``embed_dim``, ``vision_cfg``
            or ``text_cfg``, or needs a download (Hugging Face text tower or tokenizer) or is a
            CoCa config.
    """
    if model_cfg is not None:
        cfg = copy.deepcopy(dict(model_cfg))
        where = f"model_cfg of {model_name!r}"
    else:
        cfg = open_clip.get_model_config(model_name)
        if cfg is None:
            raise ConfigError(
                f"unknown open_clip model config {model_name!r}; expected a name from "
                f"open_clip.list_models() (e.g. {DEFAULT_MODEL_NAME!r}) or a model_cfg"
            )
        where = f"open_clip config {model_name!r}"
    missing = [key for key in ("embed_dim", "vision_cfg", "text_cfg") if key not in cfg]
    if missing:
        raise ConfigError(
            f"{where}: missing keys {missing}; expected embed_dim, vision_cfg, text_cfg"
        )
    text_cfg = cfg["text_cfg"]
    if "hf_model_name" in text_cfg or "hf_tokenizer_name" in text_cfg or "multimodal_cfg" in cfg:
        raise ConfigError(
            f"{where}: Hugging Face text towers/tokenizers and CoCa are not supported "
            f"(they need a download); use a CLIP config such as {DEFAULT_MODEL_NAME!r}"
        )
    return cfg


def create_clip(model_name: str, model_cfg: Mapping[str, Any] | None = None) -> nn.Module:
    """A randomly initialised open_clip CLIP (fp32) for ``model_name`` or ``model_cfg``.

    Built from the config dict directly (``open_clip.model.CLIP(**cfg)``, or ``CustomTextCLIP``
    when the config says ``custom_text``), as ``open_clip.create_model(name, pretrained=None)``
    does, without its "initialized randomly" warning: weights are loaded by our callers.
    Works under ``with torch.device("meta")`` for shape-only references.
    """
    cfg = resolve_model_cfg(model_name, model_cfg)
    custom_text = bool(cfg.pop("custom_text", False))
    model_class = open_clip.model.CustomTextCLIP if custom_text else open_clip.model.CLIP
    try:
        return model_class(**cfg)
    except (TypeError, ValueError, AssertionError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ConfigError(f"open_clip config of {model_name!r} is invalid: {message}") from error


def _tokenize(model_name: str, model_cfg: Mapping[str, Any] | None, prompts: tuple[str, ...]):
    text_cfg = resolve_model_cfg(model_name, model_cfg)["text_cfg"]
    tokenizer = open_clip.tokenizer.SimpleTokenizer(
        context_length=text_cfg.get("context_length", 77), **text_cfg.get("tokenizer_kwargs", {})
    )
    return tokenizer(list(prompts))


def _image_size(visual: nn.Module, model_name: str) -> int:
    size = getattr(visual, "image_size", None)
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    if height != width:
        raise ConfigError(f"{model_name!r}: expected a square image size, got {height}x{width}")
    return int(height)


def build_mcl_mlp(in_dim: int) -> nn.Sequential:
    """FLIP-MCL's ``image_mlp`` with FLIP's module names (``fas.flip_mcl._build_mlp``)."""
    return nn.Sequential(
        OrderedDict(
            [
                ("layer1", nn.Linear(in_dim, MCL_HIDDEN_DIM)),
                ("bn1", nn.BatchNorm1d(MCL_HIDDEN_DIM)),
                ("relu1", nn.ReLU(inplace=True)),
                ("layer2", nn.Linear(MCL_HIDDEN_DIM, MCL_HIDDEN_DIM)),
                ("bn2", nn.BatchNorm1d(MCL_HIDDEN_DIM)),
                ("relu2", nn.ReLU(inplace=True)),
                ("layer3", nn.Linear(MCL_HIDDEN_DIM, MCL_OUT_DIM)),
            ]
        )
    )


def _version(tensor: torch.Tensor) -> int | None:
    """The in-place version counter (None for inference tensors, which have none)."""
    try:
        return tensor._version
    except RuntimeError:
        return None


def _unit(x: torch.Tensor) -> torch.Tensor:
    """FLIP's normalisation: ``x / x.norm(dim=-1, keepdim=True)``."""
    return x / x.norm(dim=-1, keepdim=True)


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
    :func:`build_teacher` to say so explicitly, or :mod:`fasnas.teacher.checkpoints` to load.

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
                "spoof_tokens", _tokenize(model_name, model_cfg, SPOOF_PROMPTS), persistent=False
            )
            self.register_buffer(
                "real_tokens", _tokenize(model_name, model_cfg, REAL_PROMPTS), persistent=False
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
            return _unit(self.prompt_text_embeddings().mean(dim=1))
        key = self._text_cache_key()
        if self._text_cache is None or self._text_cache[0] != key:
            with torch.no_grad():
                text = _unit(self.prompt_text_embeddings().mean(dim=1)).float()
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
        image = _unit(self.clip.encode_image(images))
        text = self.class_text_embeddings().to(image.dtype)
        return self.clip.logit_scale.exp() * image @ text.t()

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised image embeddings ``(N, embed_dim)``.

        FLIP-V: the 512-d bottleneck feature (after ReLU and dropout) scaled to unit length
        (FLIP's own feature has the same direction, length ``sqrt(||f|| / 2)``).
        FLIP-IT/MCL: the CLIP image embedding (after ``proj``), as FLIP compares it to the text.
        """
        if self.variant == "flip-v":
            return _unit(self._bottleneck(images))
        return _unit(self.clip.encode_image(images))

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

    def extra_repr(self) -> str:
        return (
            f"variant={self.variant!r}, model_name={self.model_name!r}, embed_dim={self.embed_dim}"
        )


def info_nce_loss(
    z_1: torch.Tensor, z_2: torch.Tensor, temperature: float = MCL_TEMPERATURE
) -> torch.Tensor:
    """SimCLR's NT-Xent on two views (``fas.flip_mcl.info_nce_loss`` + cross-entropy).

    Row ``i`` of the ``2B`` normalised embeddings has its other view as the positive and the
    ``2B - 2`` other samples as negatives; the diagonal is excluded; logits are cosine / T.
    """
    features = F.normalize(torch.cat([z_1, z_2], dim=0), dim=1)
    n = z_1.shape[0]
    similarity = features @ features.t() / temperature
    eye = torch.eye(2 * n, dtype=torch.bool, device=similarity.device)
    similarity = similarity.masked_fill(eye, float("-inf"))
    targets = (torch.arange(2 * n, device=similarity.device) + n) % (2 * n)
    return F.cross_entropy(similarity, targets)


def prompt_consistency_loss(
    image_1: torch.Tensor,
    image_2: torch.Tensor,
    prompts: torch.Tensor,
    labels: torch.Tensor,
    rng: np.random.Generator,
) -> torch.Tensor:
    """FLIP-MCL's MSE between two views' cosine similarities to two disjoint prompt subsets.

    For each sample FLIP draws ``P // 2`` prompt indices of its class *with replacement*
    (``np.random.choice``), takes the rest as the second subset (``np.setdiff1d``), averages
    each subset's raw text embeddings, and compares ``cos(view_1, subset_1)`` with
    ``cos(view_2, subset_2)`` by MSE.

    Args:
        image_1: Raw image embeddings of the first views ``(B, D)``.
        image_2: Raw image embeddings of the second views ``(B, D)``.
        prompts: Raw prompt embeddings ``(2, P, D)`` (spoof, real).
        labels: ``(B,)`` 0 = spoof, 1 = real.
        rng: The generator that draws the subsets.
    """
    n_prompts = prompts.shape[1]
    available = np.arange(n_prompts)
    text_1, text_2 = [], []
    for label in labels.tolist():
        first = rng.choice(available, n_prompts // 2)
        second = np.setdiff1d(available, first)
        class_prompts = prompts[int(label)]
        text_1.append(class_prompts[torch.as_tensor(first, device=prompts.device)].mean(dim=0))
        text_2.append(class_prompts[torch.as_tensor(second, device=prompts.device)].mean(dim=0))
    cos_1 = F.cosine_similarity(_unit(image_1), _unit(torch.stack(text_1)))
    cos_2 = F.cosine_similarity(_unit(image_2), _unit(torch.stack(text_2)))
    return F.mse_loss(cos_1, cos_2)


def build_teacher(
    variant: str,
    model_name: str = DEFAULT_MODEL_NAME,
    model_cfg: Mapping[str, Any] | None = None,
) -> FlipTeacher:
    """A RANDOMLY initialised teacher: no weights are loaded, ever (explicit by name).

    Load trained weights with :func:`fasnas.teacher.checkpoints.load_teacher` or
    :func:`fasnas.teacher.checkpoints.read_checkpoint` instead.
    """
    return FlipTeacher(variant, model_name, model_cfg)
