"""An encoder records the query instruction of each task it was trained on; search asks for a task by name.

Issue 19: instructions that match training. The database keeps the encoder's config, so the CLI,
the server and the UI resolve a task to the exact training text without loading anything else.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from indexer import Index, build_index
from indexer_helpers import hash_options, make_corpus

SIMILAR = "Retrieve semantically similar text:"
SEARCH = "Given a question, retrieve passages that answer it:"


@pytest.fixture(scope="module")
def db(tiny_model_dir, tmp_path_factory):
    from adaptation import Encoder
    from adaptation.config import EncoderConfig

    root = tmp_path_factory.mktemp("tasks")
    encoder = Encoder.from_pretrained(tiny_model_dir("llama"), query_instruction=SEARCH)
    encoder.config.task_instructions = {"search": SEARCH, "similar": SIMILAR}
    saved = encoder.save(root / "enc")
    assert EncoderConfig.read(saved).task_instructions == {"search": SEARCH, "similar": SIMILAR}
    make_corpus(root / "docs", 4)
    build_index(root / "docs", root / "db", {"tiny": str(saved)}, hash_options())
    return root / "db"


def test_a_task_resolves_to_its_training_instruction(db):
    with Index.open(db) as idx:
        assert idx.task_instructions("tiny") == {"search": SEARCH, "similar": SIMILAR}
        by_task = idx.search("a cat sat on the mat", task="similar", k=5)
        by_text = idx.search("a cat sat on the mat", instruction=SIMILAR, k=5)
        default = idx.search("a cat sat on the mat", k=5)
        assert [(h.chunk_id, round(h.score, 5)) for h in by_task] == [(h.chunk_id, round(h.score, 5)) for h in by_text]
        assert [round(h.score, 5) for h in by_task] != [round(h.score, 5) for h in default]  # not the default one
        assert idx.query_instruction("tiny", "similar", "explicit wins") == "explicit wins"


def test_an_unknown_task_names_the_ones_trained(db):
    from indexer.errors import UsageError

    with Index.open(db) as idx, pytest.raises(UsageError, match="trained with search, similar"):
        idx.search_documents("cats", task="translate")


def test_the_cli_takes_a_task_and_refuses_an_unknown_one_in_one_line(db):
    command = [sys.executable, "-c", "from search_ui.l2v import main; main()", "search", str(db), "cats"]
    ok = subprocess.run(command + ["--task", "similar", "--json"], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(command + ["--task", "nope"], capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "trained with search, similar" in bad.stderr


def test_the_ui_offers_the_trained_tasks_first_after_the_saved_one(db):
    from search_ui.views.search import instruction_options, trained_tasks

    with Index.open(db) as idx:
        info = next(e for e in idx.encoders() if e.name == "tiny")
    options = instruction_options(info)
    assert options[:3] == ["Encoder's saved instruction", "Trained: search", "Trained: similar"]
    assert trained_tasks(info)["Trained: similar"] == SIMILAR
