"""MNTP masking and loss, gradient caching, batch plans and LoRA targeting on tiny random models."""
from __future__ import annotations

import pytest
import torch

from adaptation import Encoder
from adaptation.training.config import DEFAULT_TARGETS, step_defaults
from adaptation.training.contrastive import backward_contrastive
from adaptation.training.data import BatchPlan
from adaptation.training.mntp import IGNORE, full_logits_loss, hidden_states, mask_tokens, mntp_loss, resolve_mask_token
from adaptation.training.model import add_lora, load_head, lora_targets, set_attention_dropout
from adaptation.training.simcse import simcse_loss
from adaptation.training.supervised import supervised_loss, supervised_rows
from adaptation.training.data import Triple
from test_training_support import one_thread  # noqa: F401 (autouse fixture)

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Rivers flow from the mountains to the sea.",
    "Paris is the capital of France.",
    "Neural networks learn representations from text.",
    "The library opens at nine in the morning.",
    "Scientists measured the temperature of the ocean.",
    "Search engines rank documents by similarity.",
]


def make_lora_encoder(model_dir, lora_dropout: float = 0.05) -> Encoder:
    """A fresh tiny encoder with a trainable LoRA adapter (seeded)."""
    torch.manual_seed(0)
    encoder = Encoder.from_pretrained(model_dir)
    step = step_defaults("simcse")
    step.lora_dropout = lora_dropout
    add_lora(encoder, step)
    with torch.no_grad():  # LoRA B starts at zero; make the adapter matter for gradients
        for name, param in encoder.model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.05)
    return encoder


@pytest.fixture()
def lora_encoder(tiny_model_dir):
    return make_lora_encoder(tiny_model_dir("llama"))


def test_masked_only_loss_equals_full_logits_loss_and_grads(lora_encoder):
    head, softcap = load_head(lora_encoder)
    tokenizer = lora_encoder.tokenizer
    ids = torch.randint(5, len(tokenizer), (3, 40), generator=torch.Generator().manual_seed(1))
    masked, labels = mask_tokens(ids, tokenizer.all_special_ids, tokenizer.mask_token_id, len(tokenizer), 0.3,
                                 "80-10-10", torch.Generator().manual_seed(2))
    lora_encoder.model.eval()
    losses, grads = [], []
    for loss_fn in (mntp_loss, full_logits_loss):
        lora_encoder.model.zero_grad()
        loss = loss_fn(hidden_states(lora_encoder, masked), labels, head, softcap)
        loss.backward()
        losses.append(loss.item())
        grads.append(torch.cat([p.grad.flatten() for p in lora_encoder.model.parameters() if p.requires_grad]))
    assert losses[0] == pytest.approx(losses[1], abs=1e-5)
    assert torch.allclose(grads[0], grads[1], atol=1e-5)
    assert grads[0].abs().sum() > 0


def test_masking_never_touches_specials_or_first_position_and_follows_80_10_10():
    special = [0, 1, 2, 3]
    ids = torch.randint(4, 1000, (64, 256), generator=torch.Generator().manual_seed(0))
    ids[:, 0] = 1          # BOS
    ids[:, 100:110] = 3    # padding
    masked, labels = mask_tokens(ids, special, mask_id=999, vocab_size=1000, prob=0.2, mode="80-10-10",
                                 generator=torch.Generator().manual_seed(5))
    chosen = labels != IGNORE
    assert not chosen[:, 0].any() and not chosen[:, 100:110].any()
    assert (masked[~chosen] == ids[~chosen]).all()
    rate = chosen.float().mean().item()
    assert 0.17 < rate < 0.2
    as_mask = (masked[chosen] == 999).float().mean().item()
    kept = (masked[chosen] == ids[chosen]).float().mean().item()
    assert 0.77 < as_mask < 0.83 and 0.08 < kept < 0.13
    masked_all, labels_all = mask_tokens(ids, special, 999, 1000, 0.2, "all", torch.Generator().manual_seed(5))
    assert (masked_all[labels_all != IGNORE] == 999).all()
    again, _ = mask_tokens(ids, special, 999, 1000, 0.2, "80-10-10", torch.Generator().manual_seed(5))
    assert torch.equal(again, masked)


def test_mask_token_resolution(lora_encoder):
    tokenizer = lora_encoder.tokenizer
    assert resolve_mask_token(tokenizer, None) == (tokenizer.mask_token, tokenizer.mask_token_id)
    token, token_id = resolve_mask_token(tokenizer, tokenizer.eos_token)
    assert token_id == tokenizer.eos_token_id
    from adaptation.errors import UsageError
    with pytest.raises(UsageError, match="--mask-token"):
        resolve_mask_token(tokenizer, "definitely-not-a-token")


def _grads(encoder) -> torch.Tensor:
    grads = torch.cat([p.grad.flatten() for p in encoder.model.parameters() if p.requires_grad])
    encoder.model.zero_grad(set_to_none=True)
    return grads


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_grad_cache_equals_plain_gradients(tiny_model_dir, dropout):
    lora_encoder = make_lora_encoder(tiny_model_dir("llama"), lora_dropout=dropout / 3)
    set_attention_dropout(lora_encoder.model, dropout)
    lora_encoder.model.train()
    rows = lora_encoder.inputs.encode(SENTENCES)
    rows = rows + rows
    chunk = 3

    def embed(part):
        return lora_encoder.embed_batch(lora_encoder.inputs.collate(part))

    def loss_fn(e):  # pairs sentence i with sentence i+1: a hard loss, so gradients are far from zero
        n = len(e) // 2
        return simcse_loss(torch.cat([e[:n], e[n:].roll(1, 0)]), 20.0, symmetric=True)

    torch.manual_seed(7)
    cached_loss, _ = backward_contrastive(embed, rows, loss_fn, chunk=chunk)
    cached = _grads(lora_encoder)
    torch.manual_seed(7)
    if dropout == 0:  # plain: the whole batch in one forward
        plain_loss, _ = backward_contrastive(embed, rows, loss_fn, chunk=0)
    else:  # same dropout draws: the same chunks, embedded with a graph, one loss, one backward
        plain_loss = loss_fn(torch.cat([embed(rows[i:i + chunk]) for i in range(0, len(rows), chunk)]))
        plain_loss.backward()
    plain = _grads(lora_encoder)
    assert cached_loss.item() == pytest.approx(plain_loss.item(), abs=1e-5)
    assert plain.abs().max() > 1e-2
    assert torch.allclose(cached, plain, atol=1e-5), (cached - plain).abs().max()
    if dropout > 0:  # dropout really acts: other draws give other gradients
        torch.manual_seed(8)
        backward_contrastive(embed, rows, loss_fn, chunk=chunk)
        assert not torch.allclose(_grads(lora_encoder), cached, atol=1e-5)


def test_supervised_rows_put_the_instruction_on_queries_only(lora_encoder):
    triples = [Triple("what is a fox", "The fox jumps.", "The sea.", "Retrieve passages"),
               Triple("capital of france", "Paris is the capital.", None, "Retrieve passages")]
    rows, segments = supervised_rows(triples, lora_encoder.inputs)
    assert segments == [2, 2, 1] and len(rows) == 5
    n = segments[0]
    instruction_ids = lora_encoder.tokenizer("Retrieve passages", add_special_tokens=False)["input_ids"]
    assert rows[0].input_ids[1:1 + len(instruction_ids)] == instruction_ids
    assert sum(rows[0].pool_mask) < len(rows[0].input_ids) - len(instruction_ids)  # instruction not pooled
    assert all(instruction_ids[0] not in r.input_ids[:2] for r in rows[2:])
    embeddings = torch.nn.functional.normalize(torch.randn(5, 8), dim=-1)
    perfect = torch.cat([embeddings[:2], embeddings[:2], -embeddings[:1]])
    assert supervised_loss(perfect, 2, 50.0) < supervised_loss(embeddings, 2, 50.0)


def test_batch_plan_is_deterministic_covers_items_and_never_mixes_groups():
    groups = ["a"] * 10 + ["b"] * 7 + ["c"] * 2
    plan = BatchPlan(len(groups), 3, seed=4, groups=groups)
    again = BatchPlan(len(groups), 3, seed=4, groups=groups)
    epoch = [plan.batch(s) for s in range(plan.batches_per_epoch)]
    assert epoch == [again.batch(s) for s in range(plan.batches_per_epoch)]
    assert all(len({groups[i] for i in b}) == 1 for b in epoch)
    assert plan.batches_per_epoch == 3 + 2 + 1
    assert plan.batch(plan.batches_per_epoch) != epoch[0] or plan.batch(plan.batches_per_epoch + 1) != epoch[1]
    flat = BatchPlan(10, 4, seed=0)
    seen = [i for s in range(flat.batches_per_epoch) for i in flat.batch(s)]
    assert len(seen) == len(set(seen)) == 8  # one epoch: each item at most once, partial batch dropped


@pytest.mark.parametrize("family,expected", [("llama", {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                         "up_proj", "down_proj"}),
                                              ("phi3", {"qkv_proj", "o_proj", "gate_up_proj", "down_proj"})])
def test_lora_targets_are_discovered_not_named(tiny_model_dir, family, expected):
    encoder = Encoder.from_pretrained(tiny_model_dir(family))
    assert set(lora_targets(encoder.model, list(DEFAULT_TARGETS))) == expected
    add_lora(encoder, step_defaults("mntp"))
    keys = [n for n, p in encoder.model.named_parameters() if p.requires_grad]
    assert keys and all(".layers." in k and "lora_" in k for k in keys)


def test_gradient_checkpointing_gives_the_same_gradients(tiny_model_dir):
    grads, model_dir = [], tiny_model_dir("llama")  # built before seeding: building draws random numbers
    for checkpointing in (False, True):
        torch.manual_seed(0)
        encoder = Encoder.from_pretrained(model_dir)
        step = step_defaults("mntp")
        step.lora_dropout = 0.0
        add_lora(encoder, step, gradient_checkpointing=checkpointing)
        with torch.no_grad():
            for name, param in encoder.model.named_parameters():
                if "lora_B" in name:
                    param.normal_(0, 0.05, generator=torch.Generator().manual_seed(len(name)))
        encoder.model.train()
        head, softcap = load_head(encoder)
        ids = torch.randint(5, len(encoder.tokenizer), (2, 24), generator=torch.Generator().manual_seed(1))
        labels = torch.where(torch.rand(ids.shape, generator=torch.Generator().manual_seed(2)) < 0.3, ids, IGNORE)
        mntp_loss(hidden_states(encoder, ids), labels, head, softcap).backward()
        grads.append(_grads(encoder))
    assert grads[0].abs().sum() > 0 and torch.allclose(grads[0], grads[1], atol=1e-6)
