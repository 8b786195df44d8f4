"""Validation perplexity of a causal LM on a held-out text file.

Token-level perplexity depends on the tokenizer; word-level perplexity
(``exp(total NLL / whitespace words)``) does not, so models with different vocabularies
can be compared on WikiText-2 test.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from ..precision import autocast
from .data import documents, pack_blocks, read_text, token_stream


@torch.no_grad()
def perplexity(model: torch.nn.Module, tokenizer, path: Path, seq_len: int, dtype: str = "bfloat16",
               device: str = "cpu", batch_size: int = 8, max_blocks: int | None = None) -> dict:
    """NLL over non-overlapping ``seq_len`` windows of the file's token stream.

    Every token but the first of each window is predicted (``1/seq_len`` of tokens go
    unscored; the words count covers the scored fraction so word ppl stays unbiased).
    """
    text = read_text(path)
    blocks = pack_blocks(token_stream(tokenizer, documents(text)), seq_len)
    total_blocks = blocks.shape[0]
    if max_blocks is not None:
        blocks = blocks[:max_blocks]
    was_training = model.training
    model.eval()
    nll, count = 0.0, 0
    for start in range(0, blocks.shape[0], batch_size):
        ids = blocks[start:start + batch_size].long().to(device)
        with autocast(dtype, device):
            logits = model(input_ids=ids).logits
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                                                 ids[:, 1:].reshape(-1), reduction="sum")
        nll += float(loss)
        count += ids[:, 1:].numel()
    model.train(was_training)
    words = len(text.split()) * blocks.shape[0] / total_blocks
    return {"file": str(path), "tokens_scored": count, "words": round(words, 1), "nll_sum": nll,
            "token_ppl": math.exp(nll / count), "word_ppl": math.exp(nll / words), "blocks": int(blocks.shape[0])}
