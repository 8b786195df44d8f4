"""Masked next token prediction: token i is predicted from the hidden state at i-1.

Bidirectional attention is on, so the state at i-1 has seen the (masked) token i
and everything after it. The LM head is applied only at the positions that
predict a masked token: full (batch x length x vocab) logits would be ~8 GB for
Llama-3 at 32 x 512.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError
from .data import derived_seed
from .distributed import Ranks

IGNORE = -100


def resolve_mask_token(tokenizer, requested: str | None) -> tuple[str, int]:
    """The tokenizer's mask token, else ``requested`` (default "_" like the reference), else unk/pad."""
    if not requested and tokenizer.mask_token is not None and tokenizer.mask_token_id is not None:
        return tokenizer.mask_token, int(tokenizer.mask_token_id)
    candidate = requested or "_"
    token_id = tokenizer.convert_tokens_to_ids(candidate)
    if token_id is not None and token_id != tokenizer.unk_token_id:
        return candidate, int(token_id)
    if requested:
        raise UsageError(f"--mask-token '{requested}' is not a token of this tokenizer; pick one from its vocabulary")
    for fallback in (tokenizer.unk_token, tokenizer.pad_token):  # tiny/custom vocabularies may lack "_"
        if fallback is not None:
            return fallback, int(tokenizer.convert_tokens_to_ids(fallback))
    raise UsageError("the tokenizer has no mask, '_', unk or pad token; pass --mask-token TOKEN")


def mask_tokens(input_ids: torch.Tensor, special_ids: list[int], mask_id: int, vocab_size: int, prob: float,
                mode: str, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(masked input ids, labels): labels hold the original token at masked positions, -100 elsewhere.

    Special tokens (BOS, EOS, padding) and position 0 (nothing precedes it) are
    never masked. ``mode`` "80-10-10": 80% mask token, 10% random token, 10% kept;
    "all": every chosen token becomes the mask token.
    """
    candidates = ~torch.isin(input_ids, torch.tensor(special_ids, dtype=input_ids.dtype))
    candidates[:, 0] = False
    chosen = (torch.rand(input_ids.shape, generator=generator) < prob) & candidates
    if not chosen.any() and candidates.any():  # a loss needs at least one target
        chosen.view(-1)[candidates.view(-1).nonzero()[0]] = True
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE))
    masked = input_ids.clone()
    if mode == "all":
        masked[chosen] = mask_id
    else:
        draw = torch.rand(input_ids.shape, generator=generator)
        random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator, dtype=input_ids.dtype)
        masked[chosen & (draw < 0.8)] = mask_id
        swap = chosen & (draw >= 0.8) & (draw < 0.9)
        masked[swap] = random_ids[swap]
    return masked, labels


def _capped(logits: torch.Tensor, softcap: float | None) -> torch.Tensor:
    logits = logits.float()
    return torch.tanh(logits / softcap) * softcap if softcap else logits


def mntp_loss(hidden: torch.Tensor, labels: torch.Tensor, head: nn.Module, softcap: float | None = None,
              normalizer: int | None = None) -> torch.Tensor:
    """Mean cross-entropy over masked tokens; the head sees only the states that predict them.

    ``normalizer``: divide the summed loss by this count instead (the global batch's masked tokens
    when each of several ranks holds a slice of it, so the ranks' summed gradients are the mean's).
    """
    targets = labels[:, 1:]
    predicting = targets != IGNORE
    states = hidden[:, :-1][predicting]          # (n_masked, hidden)
    logits = _capped(head(states), softcap)
    if normalizer is None:
        return F.cross_entropy(logits, targets[predicting])
    return F.cross_entropy(logits, targets[predicting], reduction="sum") / normalizer


def full_logits_loss(hidden: torch.Tensor, labels: torch.Tensor, head: nn.Module,
                     softcap: float | None = None) -> torch.Tensor:
    """The naive reference: all logits, then shift. Used by tests and the benchmark only."""
    logits = _capped(head(hidden), softcap)[:, :-1]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=IGNORE)


def hidden_states(encoder, input_ids: torch.Tensor) -> torch.Tensor:
    """Bidirectional token states of full (unpadded) blocks, through the encoder's own forward."""
    return encoder.hidden_states(input_ids, torch.ones_like(input_ids))


class MNTPObjective:
    """One training step of MNTP: mask the step's blocks, forward, loss, backward."""

    def __init__(self, step_model, blocks: list[list[int]], plan, cfg, mask_id: int, seed: int, autocast,
                 scaler=None, ranks: Ranks = Ranks()):
        self.model, self.blocks, self.plan, self.cfg = step_model, blocks, plan, cfg
        tokenizer = step_model.encoder.tokenizer
        self.special = sorted(set(tokenizer.all_special_ids))
        self.vocab_size = len(tokenizer)
        self.mask_id, self.seed, self.autocast, self.scaler, self.ranks = mask_id, seed, autocast, scaler, ranks
        self.loss_fn = mntp_loss  # the benchmark swaps in full_logits_loss to compare

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Masking depends only on (seed, step), so a resumed run masks exactly the same tokens."""
        ids = torch.tensor([self.blocks[i] for i in self.plan.batch(step)], dtype=torch.long)
        generator = torch.Generator().manual_seed(derived_seed(self.seed, step))
        return mask_tokens(ids, self.special, self.mask_id, self.vocab_size, self.cfg.mask_prob,
                           self.cfg.mask_mode, generator)

    def __call__(self, step: int) -> dict:
        masked, labels = self.batch(step)          # the whole global batch: masks agree on every rank
        n_masked = int((labels != IGNORE).sum())
        if self.ranks.distributed:
            mine = self.ranks.shard(range(len(masked)))
            masked, labels = masked[mine[0]:mine[-1] + 1], labels[mine[0]:mine[-1] + 1]
        extra = {"normalizer": n_masked} if self.ranks.distributed else {}
        with self.autocast():
            hidden = hidden_states(self.model.encoder, masked)
            loss = self.loss_fn(hidden, labels.to(hidden.device), self.model.head, self.model.softcap, **extra)
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        return {"loss": self.ranks.total(loss.item()), "tokens": int(self.ranks.total(masked.numel())),
                "masked": n_masked}
