"""From (instruction, text) pairs to model inputs with an exact pooling boundary.

Instruction and text are tokenised separately and their ids concatenated, so
which tokens belong to the text never depends on the tokenizer's merges across
the boundary. The tokenizer's own special tokens (BOS, EOS...) are found once
by probing, placed around the pair, and never pooled. Truncation cuts the text,
never the instruction.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence, Union

import torch

from .errors import EncoderFormatError, UsageError

Item = Union[str, tuple[str, str], list]


@dataclass
class EncodedText:
    input_ids: list[int]
    pool_mask: list[int]


def special_affixes(tokenizer) -> tuple[list[int], list[int]]:
    """The special ids the tokenizer puts before and after a text (e.g. [BOS], [])."""
    probe = "hello"
    bare = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe, add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(bare) + 1):
        if full[start:start + len(bare)] == bare:
            return list(full[:start]), list(full[start + len(bare):])
    bos = tokenizer.bos_token_id
    return ([bos] if bos is not None else []), []


def split_item(item: Item, default_instruction: str | None = None) -> tuple[str, str]:
    """Accept "text" or (instruction, text); returns (instruction, text)."""
    if isinstance(item, str):
        return (default_instruction or "", item)
    if isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item):
        return (item[0], item[1])
    raise UsageError(f"each input must be a string or an (instruction, text) pair, got {type(item).__name__}")


def pad_id(tokenizer, vocab_size: int | None) -> int:
    """An id for padded positions. They are masked out of attention and pooling, yet still go through the
    embedding table, so the tokenizer's pad id (e.g. a Qwen2-style ``<|endoftext|>`` added past a small
    vocabulary) is used only if the model has a row for it; else EOS, else 0."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None and (vocab_size is None or 0 <= candidate < vocab_size):
            return int(candidate)
    return 0


class InputBuilder:
    """Tokenises items into ``EncodedText`` and collates them into padded tensors."""

    def __init__(self, tokenizer, max_length: int, skip_instruction: bool = True, vocab_size: int | None = None):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.skip_instruction = skip_instruction
        self.vocab_size = vocab_size  # the model's embedding rows: every id fed to it must be below this
        self.prefix, self.suffix = special_affixes(tokenizer)
        self.pad_id = pad_id(tokenizer, vocab_size)
        self._instruction_ids = lru_cache(maxsize=64)(self._tokenize_instruction)

    def _tokenize_instruction(self, instruction: str) -> tuple[int, ...]:
        instruction = instruction.strip()
        if not instruction:
            return ()
        return tuple(self.tokenizer(instruction, add_special_tokens=False)["input_ids"])

    def encode(self, items: Sequence[Item], default_instruction: str | None = None) -> list[EncodedText]:
        pairs = [split_item(item, default_instruction) for item in items]
        # truncating here (never below what _assemble keeps) also avoids the tokenizer's over-length warning
        text_ids = self.tokenizer([text for _, text in pairs], add_special_tokens=False, truncation=True,
                                  max_length=self.max_length)["input_ids"]
        return [self._assemble(instr, ids) for (instr, _), ids in zip(pairs, text_ids)]

    def _assemble(self, instruction: str, text_ids: list[int]) -> EncodedText:
        instr = list(self._instruction_ids(instruction))
        budget = self.max_length - len(self.prefix) - len(self.suffix) - len(instr)
        if budget < 1:
            raise UsageError(
                f"instruction '{instruction[:40]}...' is {len(instr)} tokens, leaving no room for text "
                f"within max_length={self.max_length}; shorten it or raise max_length"
            )
        text_ids = list(text_ids[:budget])
        ids = self.prefix + instr + text_ids + self.suffix
        instr_flag = 0 if self.skip_instruction else 1
        mask = [0] * len(self.prefix) + [instr_flag] * len(instr) + [1] * len(text_ids) + [0] * len(self.suffix)
        if not any(mask):  # empty text: pool every real token rather than return a zero vector
            mask = [1] * len(ids)
        return EncodedText(ids, mask)

    def collate(self, batch: Sequence[EncodedText], padding_side: str = "right") -> dict[str, torch.Tensor]:
        """Pad to the longest sequence of the batch."""
        length = max(len(e.input_ids) for e in batch)
        if self.vocab_size is not None:
            top = max(max(e.input_ids, default=0) for e in batch)
            if top >= self.vocab_size:
                raise EncoderFormatError(f"the tokenizer produced token id {top}, but the model has only "
                                         f"{self.vocab_size} embeddings: tokenizer and model do not match")
        ids, attn, pool = [], [], []
        for e in batch:
            n_pad = length - len(e.input_ids)
            if padding_side == "left":
                ids.append([self.pad_id] * n_pad + e.input_ids)
                attn.append([0] * n_pad + [1] * len(e.input_ids))
                pool.append([0] * n_pad + e.pool_mask)
            else:
                ids.append(e.input_ids + [self.pad_id] * n_pad)
                attn.append([1] * len(e.input_ids) + [0] * n_pad)
                pool.append(e.pool_mask + [0] * n_pad)
        return {
            "input_ids": torch.tensor(ids, dtype=torch.long),
            "attention_mask": torch.tensor(attn, dtype=torch.long),
            "pool_mask": torch.tensor(pool, dtype=torch.long),
        }
