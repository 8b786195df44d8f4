"""Tiny randomly initialised decoders of every supported family, built offline.

For tests, benchmarks and demos where no real weights can be downloaded. The
weights are random but deterministic (seeded); ``init_range`` is larger than the
usual 0.02 so attention is far from uniform and bidirectionality shows.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .tokenizer_training import train_bpe_tokenizer

BUILTIN_CORPUS = """
The quick brown fox jumps over the lazy dog.
A decoder-only language model can be turned into a text encoder.
Bidirectional attention lets every token attend to every other token.
Masked next token prediction trains the model to fill in hidden words.
Contrastive learning pulls matching sentences together and pushes others apart.
Search engines rank documents by their similarity to a query.
How much protein should a female eat per day?
The summit is the highest point of a mountain.
Rivers flow from the mountains to the sea through valleys and plains.
Scientists measured the temperature of the ocean at many depths.
The library opens at nine in the morning and closes at six in the evening.
Paris is the capital of France and Berlin is the capital of Germany.
Neural networks learn representations from large amounts of text.
Retrieve semantically similar text.
Given a web search query, retrieve relevant passages that answer the query.
Embeddings are vectors that capture the meaning of sentences and documents.
The cat sat on the mat while the dog slept near the door.
Numbers such as 1, 2, 3, 42 and 2024 also appear in ordinary text.
""".strip().splitlines()

FAMILIES = ("llama", "llama3", "sheared-llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3")


def tiny_config(family: str, vocab_size: int, hidden: int = 64, layers: int = 2, heads: int = 4,
                kv_heads: int = 2, init_range: float = 0.1, bos_token_id: int | None = 1):
    """A transformers config of ``family`` at toy size (dropout 0, untied head)."""
    import transformers as tf

    common = dict(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=hidden * 2,
                  num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                  max_position_embeddings=1024, initializer_range=init_range, bos_token_id=bos_token_id,
                  eos_token_id=2, pad_token_id=3, tie_word_embeddings=False)
    if family == "llama":
        return tf.LlamaConfig(**common)
    if family == "llama3":  # Llama-3 shape: larger rope theta and llama3 rope scaling
        return tf.LlamaConfig(**common, rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                                         "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                                         "original_max_position_embeddings": 256})
    if family == "sheared-llama":  # Sheared-LLaMA: plain multi-head attention (no GQA)
        return tf.LlamaConfig(**{**common, "num_key_value_heads": heads})
    if family == "mistral":
        return tf.MistralConfig(**common, sliding_window=16)
    if family == "qwen2":
        return tf.Qwen2Config(**common, use_sliding_window=False)
    if family == "qwen3":
        return tf.Qwen3Config(**common, head_dim=hidden // heads)
    if family == "gemma":
        return tf.GemmaConfig(**common, head_dim=hidden // heads, hidden_activation="gelu_pytorch_tanh")
    if family == "gemma2":
        return tf.Gemma2Config(**common, head_dim=hidden // heads, sliding_window=16, query_pre_attn_scalar=hidden // heads)
    if family == "phi3":
        return tf.Phi3Config(**common, sliding_window=None)
    raise ValueError(f"unknown tiny family {family!r}; choose one of {FAMILIES}")


def build_tiny_decoder(out_dir: str | Path, family: str = "llama", *, hidden: int = 64, layers: int = 2,
                       heads: int = 4, kv_heads: int = 2, vocab_size: int = 512, seed: int = 0,
                       init_range: float = 0.1, corpus: list[str] | None = None) -> Path:
    """Write a random ``family`` CausalLM + trained BPE tokenizer to ``out_dir``; returns it."""
    from transformers import AutoModelForCausalLM

    byte_level = family in ("llama3", "qwen2", "qwen3")
    add_bos = family not in ("qwen2", "qwen3")  # Qwen tokenizers add no BOS
    tokenizer = train_bpe_tokenizer(corpus or BUILTIN_CORPUS, vocab_size,
                                    style="bytelevel" if byte_level else "metaspace", add_bos=add_bos)
    config = tiny_config(family, len(tokenizer), hidden, layers, heads, kv_heads, init_range,
                         bos_token_id=1 if add_bos else None)
    with torch.random.fork_rng():  # deterministic weights without disturbing the caller's RNG
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
