"""Embeddings equal the released llm2vec 0.2.3 on identical weights (fixtures recorded from it)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from adaptation import Encoder

REFERENCE = Path(__file__).resolve().parent / "fixtures" / "reference"


def items():
    texts = json.loads((REFERENCE / "texts.json").read_text())
    return [tuple(t) if isinstance(t, list) else t for t in texts]


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
@pytest.mark.parametrize("family", ["llama", "mistral", "gemma"])
def test_embeddings_match_reference(family, attn):
    recorded = json.loads((REFERENCE / f"{family}.json").read_text())
    assert recorded["settings"]["bidirectional_effective"] and recorded["settings"]["pooling"] == "mean"
    encoder = Encoder.from_pretrained(REFERENCE / family, attn=attn)
    ours = encoder.encode(items(), batch_size=4)
    np.testing.assert_allclose(ours, np.array(recorded["embeddings"]), atol=1e-5)


@pytest.mark.parametrize("family", ["llama", "gemma"])
def test_input_ids_and_pooled_tokens_match_reference(family):
    recorded = json.loads((REFERENCE / f"{family}.json").read_text())
    encoder = Encoder.from_pretrained(REFERENCE / family)
    for item, features in zip(items(), recorded["features"]):
        row = encoder.inputs.encode([item])[0]
        assert row.input_ids == features["input_ids"]
        assert row.pool_mask == features["embed_mask"]


def test_published_layout_matches_reference(published):
    recorded = json.loads((REFERENCE / "llama_published.json").read_text())
    encoder = Encoder.from_pretrained(published["llama-mntp"], adapters=[published["llama-simcse"]])
    np.testing.assert_allclose(encoder.encode(items()), np.array(recorded["embeddings"]), atol=1e-5)
