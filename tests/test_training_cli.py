"""`l2v adapt` end to end on a tiny model, and bad input as one clear line."""
from __future__ import annotations

import csv
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from adaptation import Encoder
from adaptation.errors import AdapterError, L2VError, OutOfMemoryError, UsageError
from adaptation.training.errors import RunStateError, TrainingDataError
from adaptation.training.loop import LoopSettings, train
from test_training_support import BANKING, WIKI1M, WIKITEXT, needs_data, one_thread  # noqa: F401 (autouse fixture)

pytestmark = needs_data
TINY = ["--max-steps", "3", "--batch-size", "4", "--max-length", "32", "--save-every", "2"]


@pytest.fixture(scope="module")
def cli():
    from search_ui.l2v import app

    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def supervised_jsonl(tmp_path_factory) -> Path:
    """Banking77 as two 'datasets' of (query, same-intent positive, other-intent negative) rows."""
    if not BANKING.is_file():
        pytest.skip(f"banking77 not found at {BANKING}")
    with open(BANKING, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    by_label: dict[str, list[str]] = {}
    for row in rows:
        by_label.setdefault(row["category"], []).append(row["text"])
    labels = sorted(by_label)[:6]
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("sup") / "pairs.jsonl"
    with open(path, "w", encoding="utf-8") as out:
        for i, label in enumerate(labels):
            for query, positive in zip(by_label[label][:8], by_label[label][8:16]):
                negative = rng.choice(by_label[labels[(i + 1) % len(labels)]])
                out.write(json.dumps({"query": query, "positive": positive, "negative": negative,
                                      "instruction": "Classify the banking intent", "dataset": f"part{i % 2}"}) + "\n")
    return path


def test_dry_run_prints_the_plan_and_writes_nothing(cli, tiny_model_dir, tmp_path):
    out = tmp_path / "plan"
    result = cli("adapt", tiny_model_dir("llama"), "--out", out, "--steps", "mntp,simcse", "--dry-run",
                 "--mntp-data", WIKITEXT, "--simcse-data", WIKI1M, *TINY)
    assert result.exit_code == 0, result.output
    assert "step mntp: 3 steps x batch 4" in result.output and "step simcse" in result.output
    assert "trainable of" in result.output and "sentences 11" in result.output
    assert "mask token '<mask>'" in result.output
    assert not out.exists()


def test_adapt_mntp_then_supervised_end_to_end(cli, tiny_model_dir, tmp_path, supervised_jsonl):
    out = tmp_path / "run"
    result = cli("adapt", tiny_model_dir("llama"), "--out", out, "--steps", "mntp,supervised",
                 "--mntp-data", WIKITEXT, "--supervised-data", supervised_jsonl, *TINY,
                 "--lr", "mntp=1e-3,supervised=2e-4", "--dtype", "bfloat16", "--grad-cache-chunk", "5")
    assert result.exit_code == 0, result.output
    encoder = Encoder.load(out / "supervised")
    assert [a.name for a in encoder.config.adapters] == ["mntp", "supervised"]
    vectors = encoder.encode(["card arrived?", "exchange rate"])
    assert vectors.shape == (2, 64) and np.isfinite(vectors).all()
    record = json.loads((out / "supervised" / "run_config.json").read_text())
    assert record["step"]["lr"] == 2e-4 and record["step"]["warmup"] == 0  # 300 > 3 steps: clipped
    assert record["step"]["scale"] == 50.0 and record["data_stats"]["datasets"] == 2
    assert json.loads((out / "mntp" / "run_config.json").read_text())["step"]["lr"] == 1e-3
    again = cli("adapt", tiny_model_dir("llama"), "--out", out, "--steps", "mntp,supervised", "--mntp-data", WIKITEXT,
                "--supervised-data", supervised_jsonl, *TINY)
    assert isinstance(again.exception, RunStateError) and "--resume" in str(again.exception)


@pytest.mark.parametrize("args,error,needle", [
    (["--steps", "mntp,contrastive"], UsageError, "unknown step 'contrastive'"),
    (["--steps", "simcse,mntp", "--mntp-data", "{WIKITEXT}", "--simcse-data", "{WIKI1M}"], UsageError, "order"),
    (["--steps", "mntp"], TrainingDataError, "--mntp-data"),
    (["--steps", "mntp", "--mntp-data", "missing/wiki.txt"], TrainingDataError, "missing/wiki.txt: no such file"),
    (["--steps", "simcse", "--simcse-data", "{EMPTY}"], TrainingDataError, "empty"),
    (["--steps", "mntp", "--mntp-data", "wikitext-103"], TrainingDataError, "pip install datasets"),
    (["--steps", "simcse", "--simcse-data", "{WIKI1M}", "--mask-prob", "0.2", "--lr", "fast"], UsageError, "--lr"),
])
def test_bad_input_is_one_clear_line(cli, tiny_model_dir, tmp_path, args, error, needle):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    if "wikitext-103" in args:
        try:
            import datasets  # noqa: F401
            pytest.skip("datasets is installed: the name would be fetched from the hub")
        except ImportError:
            pass
    args = [a.format(WIKITEXT=WIKITEXT, WIKI1M=WIKI1M, EMPTY=empty) for a in args]
    result = cli("adapt", tiny_model_dir("llama"), "--out", tmp_path / "bad", *args, *TINY)
    assert isinstance(result.exception, error), result.output
    assert needle in str(result.exception) and "\n" not in str(result.exception)
    assert not (tmp_path / "bad" / "mntp").exists()


def test_resume_onto_another_base_and_mismatched_adapter_are_refused(cli, tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    assert cli("adapt", tiny_model_dir("llama"), "--out", out, "--steps", "mntp", "--mntp-data", WIKITEXT,
               *TINY).exit_code == 0
    other = cli("adapt", tiny_model_dir("phi3"), "--out", out, "--steps", "mntp", "--mntp-data", WIKITEXT,
                "--resume", *TINY)
    assert isinstance(other.exception, RunStateError) and "not fit this base" in str(other.exception)
    # a published-style checkpoint (base config + adapter) whose adapter was trained on another base
    published = tmp_path / "published"
    shutil.copytree(next((out / "mntp" / "adapters").iterdir()), published)
    config = json.loads((published / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(tiny_model_dir("phi3"))
    (published / "adapter_config.json").write_text(json.dumps(config))
    result = cli("adapt", published, "--out", tmp_path / "run2", "--steps", "simcse", "--simcse-data", WIKI1M, *TINY)
    assert isinstance(result.exception, AdapterError) and "\n" not in str(result.exception)


def test_out_of_memory_becomes_advice(tmp_path):
    param = torch.nn.Parameter(torch.zeros(2))

    def objective(step: int) -> dict:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB")

    settings = LoopSettings(max_steps=2, lr=1e-3, warmup=0, weight_decay=0.0, max_grad_norm=1.0, save_every=0,
                            checkpoint_dir=tmp_path / "ck", log_path=tmp_path / "log.jsonl", identity={})
    with pytest.raises(OutOfMemoryError, match="--batch-size") as caught:
        train(objective, {"p": param}, settings, torch.nn.Linear(1, 1))
    assert isinstance(caught.value, L2VError) and "\n" not in str(caught.value)


def test_console_script_prints_one_error_line(tmp_path):
    script = shutil.which("l2v") or pytest.skip("l2v console script not installed")
    done = subprocess.run([script, "adapt", str(tmp_path), "--out", str(tmp_path / "o"), "--steps", "mntp",
                           "--mntp-data", str(tmp_path / "nope.txt")], capture_output=True, text=True, timeout=120)
    lines = [line for line in done.stderr.splitlines() if not line.startswith("warning:")]
    assert done.returncode == TrainingDataError.exit_code, done.stderr
    assert lines == [f"error: --mntp-data {tmp_path / 'nope.txt'}: no such file; check the path"]
    assert sys.executable  # the same interpreter family runs the script
