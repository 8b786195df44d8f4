"""GPU paths: flash-attention (packed varlen) and bf16 agree with fp32 (skipped without CUDA)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

TEXTS = ["the quick brown fox jumps over the lazy dog", "Paris",
         ("Retrieve semantically similar text:", "a cat sat on the mat")] * 4


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("family", ["llama", "mistral", "qwen2", "gemma"])
def test_bf16_and_flash_attention_match_fp32(tiny_model_dir, family):
    from adaptation import Encoder

    reference = Encoder.from_pretrained(tiny_model_dir(family), dtype="float32", attn="eager", device="cuda")
    expected = reference.encode(TEXTS)
    bf16 = Encoder.from_pretrained(tiny_model_dir(family), dtype="bfloat16", attn="sdpa", device="cuda")
    assert cosine(bf16.encode(TEXTS), expected).min() >= 0.999
    pytest.importorskip("flash_attn")
    flash = Encoder.from_pretrained(tiny_model_dir(family), dtype="bfloat16", attn="flash_attention_2", device="cuda")
    assert flash.attn == "flash_attention_2" and flash.pack
    assert cosine(flash.encode(TEXTS), expected).min() >= 0.999
    padded = Encoder(flash.model, flash.tokenizer, flash.config, device="cuda", pack=False)
    assert cosine(padded.encode(TEXTS), expected).min() >= 0.999
