"""The generic bidirectional mechanism, family by family."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from adaptation.bidirectional import encoder_attention_mask, position_ids_from_mask
from adaptation.tiny import FAMILIES

# longer than the tiny Mistral/Gemma2 sliding window (16): bidirectional means the whole sequence
LONG = "the cat sat on the mat while the dog slept near the door and rivers flow from the mountains to the sea"
TEXTS = ["the quick brown fox jumps over the lazy dog",
         "Paris",
         "Rivers flow from the mountains to the sea through valleys and plains."]


def first_token_state(encoder, ids: list[int]) -> torch.Tensor:
    batch = torch.tensor([ids])
    mask = torch.ones_like(batch)
    with torch.inference_mode():
        out = encoder.model(input_ids=batch,
                            attention_mask=encoder_attention_mask(mask, encoder.model.dtype, encoder.config.bidirectional),
                            position_ids=position_ids_from_mask(mask))
    return out[0][0, 0]


@pytest.mark.parametrize("family", FAMILIES)
def test_last_token_changes_first_token_state(tiny_encoder, family):
    encoder = tiny_encoder(family)
    ids = encoder.inputs.encode([LONG])[0].input_ids
    assert len(ids) > 20
    changed = ids[:-1] + [(ids[-1] + 7) % len(encoder.tokenizer)]
    delta = (first_token_state(encoder, ids) - first_token_state(encoder, changed)).abs().max()
    assert delta > 1e-4, f"{family}: first token did not see the last one"


@pytest.mark.parametrize("family", ["llama", "qwen2", "gemma2"])
def test_causal_mode_keeps_first_token_blind(tiny_encoder, family):
    encoder = tiny_encoder(family, bidirectional=False)
    ids = encoder.inputs.encode(["the cat sat on the mat"])[0].input_ids
    changed = ids[:-1] + [(ids[-1] + 7) % len(encoder.tokenizer)]
    delta = (first_token_state(encoder, ids) - first_token_state(encoder, changed)).abs().max()
    assert delta == 0.0


@pytest.mark.parametrize("family", FAMILIES)
def test_padding_invariance_left_right_and_kernels(tiny_encoder, family):
    """Alone == in a padded batch (right and left padding) == other kernel, to 1e-5."""
    eager, sdpa = tiny_encoder(family, attn="eager"), tiny_encoder(family, attn="sdpa")
    alone = np.stack([eager.encode([t])[0] for t in TEXTS])
    encoded = eager.inputs.encode(TEXTS)
    for side in ("right", "left"):
        with torch.inference_mode():
            padded = eager.embed_batch(eager.inputs.collate(encoded, padding_side=side)).numpy()
        np.testing.assert_allclose(padded, alone, atol=1e-5, err_msg=f"{family} {side} padding")
    np.testing.assert_allclose(sdpa.encode(TEXTS, batch_size=3), alone, atol=1e-5, err_msg=f"{family} sdpa vs eager")


@pytest.mark.parametrize("family", ["llama", "qwen3", "phi3"])
def test_packed_sequences_equal_padded_batch(tiny_model_dir, family):
    """The CPU twin of varlen flash attention: one packed row with a block-diagonal mask."""
    from adaptation import Encoder

    padded = Encoder.from_pretrained(tiny_model_dir(family))
    packed = Encoder(padded.model, padded.tokenizer, padded.config, pack=True)
    np.testing.assert_allclose(packed.encode(TEXTS, batch_size=3), padded.encode(TEXTS, batch_size=3), atol=1e-5)


def test_mask_hides_padding_and_other_segments():
    attention = torch.tensor([[1, 1, 1, 0]])
    mask = encoder_attention_mask(attention, torch.float32)
    assert (mask[0, 0, :, :3] == 0).all() and (mask[0, 0, :, 3] < -1e30).all()
    segments = torch.tensor([[0, 0, 1, 1]])
    block = encoder_attention_mask(torch.ones(1, 4, dtype=torch.long), torch.float32, segment_ids=segments)
    assert (block[0, 0, :2, 2:] < -1e30).all() and (block[0, 0, 2:, 2:] == 0).all()


def test_position_ids_ignore_padding_side():
    assert position_ids_from_mask(torch.tensor([[0, 0, 1, 1, 1]])).tolist() == [[0, 0, 0, 1, 2]]
    assert position_ids_from_mask(torch.tensor([[1, 1, 1, 0, 0]])).tolist() == [[0, 1, 2, 2, 2]]
