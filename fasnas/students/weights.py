"""Pre-trained (ImageNet) student weights, offline: where they are found, and how they get there.

Owns ``init: pretrained``. The weights of a timm model resolve in a fixed order:

1. ``students.weights_dir``: a folder of ``<timm model name>.safetensors`` or ``.pth`` files;
2. the Hugging Face cache that timm downloads into (``HF_HUB_CACHE``, else
   ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``), under the model's ``hf_hub_id``; this
   reads the cache only, so ``HF_HUB_OFFLINE=1`` is always respected;
3. otherwise a one-line :class:`~fasnas.students.registry.StudentBuildError` naming the model
   and both places.

Loading goes through :func:`load_backbone_weights` (also used for a spec's own ``weights``
file): timm's own ``checkpoint_filter_fn`` adapts the file (e.g. resampling a ViT position
embedding to another
input size) and classifier heads are dropped. :func:`pull_weights` (``fasnas weights pull``)
fills ``weights_dir`` through timm on a machine with network access.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fasnas._io import atomic_write, check_writable_dir
from fasnas.errors import CheckpointError, FasnasError
from fasnas.students.registry import StudentBuildError

if TYPE_CHECKING:
    from torch import nn

SUFFIXES = (".safetensors", ".pth")
HF_FILES = ("model.safetensors", "pytorch_model.bin")


class NoNetworkError(FasnasError):
    """``fasnas weights pull`` could not fetch weights (no network, or the hub refused)."""


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache timm downloads into, read from the environment now."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / (
        "huggingface"
    )
    return Path(home).expanduser() / "hub"


def _hf_cached(hf_hub_id: str | None, cache: Path) -> Path | None:
    if not hf_hub_id:
        return None
    from huggingface_hub import try_to_load_from_cache

    repo = hf_hub_id.split("@", 1)[0]
    for filename in HF_FILES:
        found = try_to_load_from_cache(repo, filename, cache_dir=str(cache))
        if isinstance(found, str):
            return Path(found)
    return None


def find_weights(name: str, hf_hub_id: str | None, weights_dir: Path | None) -> Path:
    """The local file of timm model ``name``'s pre-trained weights.

    Args:
        name: the timm model name (architecture, without a pretrained tag).
        hf_hub_id: its Hugging Face repository (timm's ``pretrained_cfg["hf_hub_id"]``), if any.
        weights_dir: the ``students.weights_dir`` folder, looked at first.

    Raises:
        StudentBuildError: if neither place holds them; one line naming the model and both.
    """
    if weights_dir is not None:
        for suffix in SUFFIXES:
            file = Path(weights_dir) / f"{name}{suffix}"
            if file.is_file():
                return file
    cache = hf_cache_dir()
    found = _hf_cached(hf_hub_id, cache)
    if found is not None:
        return found
    where = hf_hub_id or "no hf_hub_id: timm has no pre-trained weights for it"
    raise StudentBuildError(
        f"init pretrained: no weights for timm model {name!r}: not in students.weights_dir "
        f"({weights_dir}/{name}.safetensors|.pth) nor in the Hugging Face cache ({cache}, "
        f"{where}); run `fasnas weights pull {name}` on a machine with network access"
    )


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


def load_pretrained(backbone: nn.Module, name: str, weights_dir: Path | None) -> Path:
    """Load timm model ``name``'s pre-trained weights into ``backbone``; returns the file.

    Raises:
        StudentBuildError: no weights found, or weights that do not fit this backbone (another
            width or depth than the pre-trained model's).
    """
    hf_hub_id = (getattr(backbone, "pretrained_cfg", None) or {}).get("hf_hub_id")
    file = find_weights(name, hf_hub_id, weights_dir)
    try:
        load_backbone_weights(backbone, str(file))
    except CheckpointError as error:
        raise StudentBuildError(f"init pretrained: weights of {name!r} ({error})") from None
    return file


def pull_weights(names: Sequence[str], weights_dir: Path) -> list[Path]:
    """Download timm models' pre-trained weights through timm into ``weights_dir``.

    Every name is checked, and the folder probed, before anything is fetched or written. Each
    model's full state dict is saved as ``<name>.safetensors`` (the pretrained tag, if any,
    dropped from the file name).

    Raises:
        ConfigError: an unknown timm model name.
        OutputError: a folder that cannot be written.
        NoNetworkError: the weights could not be fetched (no network, offline mode).
    """
    from fasnas._compat import ensure_torchvision
    from fasnas.errors import ConfigError

    ensure_torchvision()
    import timm
    from safetensors.torch import save

    if not names:
        raise ConfigError("weights pull: name at least one timm model")
    for name in names:
        if not timm.is_model(name.split(".", 1)[0]):
            raise ConfigError(f"weights pull: unknown timm model {name!r} (see timm.list_models)")
    check_writable_dir(weights_dir)
    written = []
    for name in names:
        try:
            model = timm.create_model(name, pretrained=True)
        except Exception as error:  # noqa: BLE001 - any fetch failure is the network's
            offline = os.environ.get("HF_HUB_OFFLINE", "0")
            first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            raise NoNetworkError(
                f"weights pull {name}: cannot fetch the weights (no network access to "
                f"huggingface.co?, HF_HUB_OFFLINE={offline}): {type(error).__name__}: {first}"
            ) from None
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        file = Path(weights_dir) / f"{name.split('.', 1)[0]}.safetensors"
        written.append(atomic_write(file, save(state)))
    return written
