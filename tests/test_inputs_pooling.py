"""Instruction boundary, truncation and pooling semantics."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from adaptation.errors import UsageError
from adaptation.inputs import special_affixes
from adaptation.pooling import pool

INSTRUCTION = "Retrieve semantically similar text:"


@pytest.mark.parametrize("family", ["llama", "qwen2"])  # BOS-prepending metaspace, and byte-level without BOS
def test_instruction_and_text_ids_are_concatenated_exactly(tiny_encoder, family):
    encoder = tiny_encoder(family)
    tok = encoder.tokenizer
    prefix, suffix = special_affixes(tok)
    assert prefix == ([] if family == "qwen2" else [tok.bos_token_id]) and suffix == []
    text = "a cat sat on the mat"
    row = encoder.inputs.encode([(INSTRUCTION, text)])[0]
    instr_ids = tok(INSTRUCTION, add_special_tokens=False)["input_ids"]
    text_ids = tok(text, add_special_tokens=False)["input_ids"]
    assert row.input_ids == prefix + instr_ids + text_ids
    assert row.pool_mask == [0] * (len(prefix) + len(instr_ids)) + [1] * len(text_ids)


def test_instruction_is_attended_but_not_pooled(tiny_encoder):
    encoder = tiny_encoder("llama")
    text = "a cat sat on the mat"
    plain, with_instr = encoder.encode([text, (INSTRUCTION, text)])
    assert np.abs(plain - with_instr).max() > 1e-4, "instruction must change the embedding (it is attended to)"
    # pooled exactly over the text tokens: recompute by hand from the token states
    row = encoder.inputs.encode([(INSTRUCTION, text)])[0]
    batch = encoder.inputs.collate([row])
    with torch.inference_mode():
        hidden = encoder.hidden_states(batch["input_ids"], batch["attention_mask"])[0]
    text_positions = [i for i, m in enumerate(row.pool_mask) if m]
    np.testing.assert_allclose(hidden[text_positions].mean(0).numpy(), with_instr, atol=1e-6)
    pooled_all = tiny_encoder("llama", skip_instruction=False).encode([(INSTRUCTION, text)])[0]
    np.testing.assert_allclose(hidden[1:].mean(0).numpy(), pooled_all, atol=1e-6)


def test_truncation_cuts_text_never_instruction(tiny_encoder):
    encoder = tiny_encoder("llama", max_length=24)
    long_text = " ".join(["mountains rivers and plains"] * 40)
    row = encoder.inputs.encode([(INSTRUCTION, long_text)])[0]
    instr_ids = encoder.tokenizer(INSTRUCTION, add_special_tokens=False)["input_ids"]
    assert len(row.input_ids) == 24
    assert row.input_ids[1:1 + len(instr_ids)] == instr_ids
    assert sum(row.pool_mask) == 24 - 1 - len(instr_ids)
    with pytest.raises(UsageError, match="instruction"):
        tiny_encoder("llama", max_length=5).encode([(INSTRUCTION, "x")])


def test_pooling_modes_on_known_states():
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).reshape(2, 4, 1)  # states 0..3 and 4..7
    attention = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    pool_mask = torch.tensor([[0, 1, 1, 0], [0, 0, 1, 1]])
    assert pool(hidden, pool_mask, attention, "mean").flatten().tolist() == [1.5, 6.5]
    assert pool(hidden, pool_mask, attention, "weighted_mean").flatten().tolist() == pytest.approx([(1 + 2 * 2) / 3, (6 + 2 * 7) / 3])
    assert pool(hidden, pool_mask, attention, "last_token").flatten().tolist() == [2.0, 7.0]
    assert pool(hidden, pool_mask, attention, "bos").flatten().tolist() == [0.0, 4.0]
    left = torch.tensor([[0, 1, 1, 1]])
    assert pool(hidden[:1], left, left, "bos").item() == 1.0 and pool(hidden[:1], left, left, "last_token").item() == 3.0


@pytest.mark.parametrize("mode", ["mean", "weighted_mean", "last_token", "bos"])
def test_every_pooling_is_padding_invariant(tiny_encoder, mode):
    encoder = tiny_encoder("mistral", pooling=mode)
    texts = ["a cat sat on the mat", "Paris", "the summit is the highest point of a mountain"]
    alone = np.stack([encoder.encode([t])[0] for t in texts])
    np.testing.assert_allclose(encoder.encode(texts, batch_size=3), alone, atol=1e-5)


def test_bad_pooling_name_is_a_clear_error(tiny_encoder):
    with pytest.raises(UsageError, match="unknown pooling 'max'.*mean"):
        tiny_encoder("llama", pooling="max")


def test_output_order_normalisation_and_empty_text(tiny_encoder):
    encoder = tiny_encoder("llama")
    texts = ["short", "a much longer text about mountains and rivers and the sea", "mid length text"]
    batched = encoder.encode(texts, batch_size=2)
    one_by_one = np.stack([encoder.encode([t])[0] for t in texts])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    normed = encoder.encode(texts, normalize=True)
    np.testing.assert_allclose(np.linalg.norm(normed, axis=1), 1.0, atol=1e-5)
    assert normed.dtype == np.float32
    assert np.isfinite(encoder.encode([""], normalize=True)).all()
    with pytest.raises(UsageError):
        encoder.encode("not a list")


def test_out_of_memory_splits_the_batch(tiny_model_dir):
    """A batch that does not fit is halved until it does, and results stay identical."""
    from adaptation import Encoder

    class SmallMemoryEncoder(Encoder):  # a device that only fits 2 sequences per forward
        def embed_batch(self, batch):
            if batch["input_ids"].shape[0] > 2:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return super().embed_batch(batch)

    base = Encoder.from_pretrained(tiny_model_dir("llama"))
    small = SmallMemoryEncoder(base.model, base.tokenizer, base.config)
    texts = [f"text number {i} about rivers" for i in range(7)]
    np.testing.assert_allclose(small.encode(texts, batch_size=7), base.encode(texts, batch_size=7), atol=1e-5)


def test_cpu_forward_passes_are_capped_by_padded_tokens(tiny_model_dir):
    """A batch is split so each forward pass holds at most ``tokens_per_forward`` padded tokens."""
    from adaptation import Encoder

    encoder = Encoder.from_pretrained(tiny_model_dir("llama"))
    assert encoder.tokens_per_forward is not None and encoder.tokens_per_forward >= 512  # on by default on CPU
    texts = [" ".join(["river"] * n) for n in (3, 40, 9, 25, 2, 31, 17, 5)]
    whole = encoder.encode(texts, batch_size=8)
    shapes: list[tuple[int, int]] = []
    hook = encoder.model.register_forward_hook(lambda _m, args, kwargs, _out: shapes.append(tuple(kwargs["input_ids"].shape)),
                                               with_kwargs=True)
    try:
        encoder.tokens_per_forward = 64
        capped = encoder.encode(texts, batch_size=8)
    finally:
        hook.remove()
        encoder.tokens_per_forward = None
    np.testing.assert_allclose(capped, whole, atol=1e-5)
    assert len(shapes) > 1 and sum(rows for rows, _ in shapes) == len(texts)
    # every pass fits the budget, except a single text longer than the budget on its own
    assert all(rows * length <= 64 or rows == 1 for rows, length in shapes), shapes


def test_a_pad_id_beyond_the_vocabulary_never_reaches_the_embedding(tiny_model_dir, tmp_path):
    """A Qwen2-style tokenizer whose pad token was added past a small vocabulary: padded positions are
    masked out, but their id still goes through the embedding table (IndexError before)."""
    import shutil

    from transformers import AutoTokenizer

    from adaptation import Encoder

    model = shutil.copytree(tiny_model_dir("qwen2"), tmp_path / "qwen2-big-pad")
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.add_special_tokens({"pad_token": "<|endoftext-pad|>"})
    tokenizer.save_pretrained(model)
    encoder = Encoder.from_pretrained(model)
    vocab = encoder.model.get_input_embeddings().num_embeddings
    assert encoder.tokenizer.pad_token_id >= vocab and encoder.inputs.pad_id < vocab
    texts = ["short", "a much longer text about mountains and rivers and the sea"]
    np.testing.assert_allclose(encoder.encode(texts), np.stack([encoder.encode([t])[0] for t in texts]), atol=1e-5)
