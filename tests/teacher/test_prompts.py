"""Tests of fasnas.teacher.prompts: FLIP's prompt ensembles, their tokens, and the class text
embeddings a FLIP-IT teacher averages from them."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fasnas._compat import ensure_torchvision
from fasnas.teacher.configs import TINY_CONFIG
from fasnas.teacher.flip import build_teacher
from fasnas.teacher.prompts import REAL_PROMPTS, SPOOF_PROMPTS, tokenize_prompts

ensure_torchvision()
import open_clip  # noqa: E402


def _teacher(variant: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_teacher(variant, "tiny", TINY_CONFIG).eval()


def test_class_text_embeddings_are_normalised_prompt_means() -> None:
    teacher = _teacher("flip-it")
    tokenizer = open_clip.get_tokenizer("ViT-B-16-quickgelu")
    with torch.no_grad():
        means = [
            teacher.clip.encode_text(tokenizer(list(p))).mean(0)
            for p in (SPOOF_PROMPTS, REAL_PROMPTS)
        ]
        expected = F.normalize(torch.stack(means), dim=-1)
        torch.testing.assert_close(teacher.class_text_embeddings(), expected)
    assert len(SPOOF_PROMPTS) == len(REAL_PROMPTS) == 6
    assert "a printout shown to be a spoof face" in SPOOF_PROMPTS
    assert "This is a bonafide face" in REAL_PROMPTS


def test_tokens_are_open_clips_for_the_configs_context_length() -> None:
    tokens = tokenize_prompts("tiny", TINY_CONFIG, SPOOF_PROMPTS)
    assert tokens.shape == (6, 77)
    expected = open_clip.get_tokenizer("ViT-B-16-quickgelu")(list(SPOOF_PROMPTS))
    assert torch.equal(tokens, expected)
    short = {**TINY_CONFIG, "text_cfg": {**TINY_CONFIG["text_cfg"], "context_length": 16}}
    assert tokenize_prompts("short", short, REAL_PROMPTS).shape == (6, 16)


def test_all_twelve_prompts_are_flips_in_flips_order() -> None:
    # FLIP's code (../shared/design/FACTS.md §1), copied here by hand: order and class matter,
    # swapping a spoof and a real prompt must fail
    assert SPOOF_PROMPTS == (
        "This is an example of a spoof face",
        "This is an example of an attack face",
        "This is not a real face",
        "This is how a spoof face looks like",
        "a photo of a spoof face",
        "a printout shown to be a spoof face",
    )
    assert REAL_PROMPTS == (
        "This is an example of a real face",
        "This is a bonafide face",
        "This is a real face",
        "This is how a real face looks like",
        "a photo of a real face",
        "This is not a spoof face",
    )
