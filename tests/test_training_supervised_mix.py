"""Issue 19's training pieces: supervised TSV sources, length-sorted contrastive passes, top-N-layer LoRA."""
from __future__ import annotations

import json
from contextlib import nullcontext
from types import SimpleNamespace

import pytest
import torch

from adaptation import Encoder
from adaptation.training.config import step_defaults
from adaptation.training.contrastive import ContrastiveObjective
from adaptation.training.data import BatchPlan, TrainingDataError, triples, tsv_triples
from adaptation.training.model import add_lora
from test_training_support import one_thread  # noqa: F401 (autouse fixture)

SHORT_AND_LONG = ["a cat", "The quick brown fox jumps over the lazy dog while the farmer watches from the porch "
                  "and the sun sets slowly behind the distant hills of the valley.", "rivers", "Paris is in France."]


def test_the_shared_triplet_files_load_with_instruction_dataset_and_seeded_subsets(shared_data):
    nli = tsv_triples(shared_data / "nli-triplets" / "train.tsv", "Retrieve semantically similar text:", "nli")
    assert len(nli) == 7880 and all(t.negative for t in nli) and {t.dataset for t in nli} == {"nli"}
    assert nli[0].instruction == "Retrieve semantically similar text:" and nli[0].query.startswith("A man wearing")
    squad = tsv_triples(shared_data / "squad-pairs" / "train.tsv", limit=300, seed=1)
    assert len(squad) == 300 and squad == tsv_triples(shared_data / "squad-pairs" / "train.tsv", limit=300, seed=1)
    assert squad != tsv_triples(shared_data / "squad-pairs" / "train.tsv", limit=300, seed=2)
    assert {t.dataset for t in squad} == {"squad-pairs"}              # the folder names the dataset
    assert all(t.query.endswith("?") or len(t.query) < 300 for t in squad) and all(len(t.positive) > 100 for t in squad)


def test_triples_read_tsv_and_jsonl_and_reject_bad_rows_naming_the_line(tmp_path):
    tsv = tmp_path / "pairs" / "train.tsv"
    tsv.parent.mkdir()
    tsv.write_text("anchor\tpositive\tnegative\nq1\tp1\tn1\nq2\tp2\n")
    rows = triples(str(tsv))
    assert [(t.query, t.positive, t.negative, t.dataset) for t in rows] == [("q1", "p1", "n1", "pairs"),
                                                                            ("q2", "p2", None, "pairs")]
    tsv.write_text("q1\tp1\tn1\nonly one column\n")
    with pytest.raises(TrainingDataError, match=r"train.tsv:2: expected 2 or 3 tab-separated columns"):
        triples(str(tsv))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"query": "q", "positive": "p"}) + "\n" + json.dumps({"query": 3, "positive": "p"}) + "\n")
    with pytest.raises(TrainingDataError, match=r"bad.jsonl:2: bad row .*string"):   # issue 21: no silent str(3)
        triples(str(bad))


def test_contrastive_embed_sorts_by_length_yet_returns_input_order_and_the_same_vectors(tiny_model_dir):
    """Sorting rows into bounded passes must not change any embedding nor its position (padding is masked)."""
    encoder = Encoder.from_pretrained(tiny_model_dir("llama"))
    encoder.tokens_per_forward = 40            # force several passes even for this tiny batch
    step = step_defaults("supervised")
    inputs = encoder.input_builder(64)
    rows = inputs.encode(SHORT_AND_LONG * 2)
    objective = ContrastiveObjective(SimpleNamespace(encoder=encoder), [], None, step, inputs, autocast=nullcontext)
    with torch.no_grad():
        sorted_passes = objective.embed(rows)
        whole = encoder.embed_batch(inputs.collate(rows))
    assert len(encoder.forward_groups(sorted(range(len(rows)), key=lambda i: -len(rows[i].input_ids)), rows)) > 1
    assert torch.allclose(sorted_passes, whole, atol=1e-5)


def test_lora_on_the_top_layers_only_adapts_those_and_cuts_backward(tiny_model_dir):
    encoder = Encoder.from_pretrained(tiny_model_dir("llama"))
    layers = encoder.model.config.num_hidden_layers
    step = step_defaults("supervised")
    step.lora_layers = 1
    add_lora(encoder, step)
    adapted = {name.split("layers.")[1].split(".")[0] for name, p in encoder.model.named_parameters()
               if p.requires_grad}
    assert adapted == {str(layers - 1)}
    step.lora_layers = layers + 1
    with pytest.raises(Exception, match=f"has {layers} decoder layers"):
        add_lora(Encoder.from_pretrained(tiny_model_dir("llama")), step)


def test_groups_stay_apart_in_a_mixed_plan():
    plan = BatchPlan(10, 2, seed=0, groups=["nli"] * 6 + ["squad"] * 4)
    for step in range(plan.batches_per_epoch):
        batch = plan.batch(step)
        assert len({i < 6 for i in batch}) == 1
