"""``l2v pretrain`` on real text at toy size: learning, exact resume, loadable output, CLI errors."""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from adaptation.pretraining import PretrainConfig, pretrain
from adaptation.pretraining.data import BlockSampler, documents, resolve_files
from adaptation.pretraining.errors import PretrainDataError, ResumeError
from adaptation.pretraining.train import loop_settings
from adaptation.training.loop import LoopSettings, checkpoint_info, learning_rate, train

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WIKI = DATA / "wiki1m-sample" / "wiki1m_sample.txt"
WIKITEXT_TEST = DATA / "wikitext-2" / "tokenized" / "test.txt"
needs_data = pytest.mark.skipif(not WIKI.is_file() or not WIKITEXT_TEST.is_file(),
                                reason=f"shared data absent: {WIKI} / {WIKITEXT_TEST}")
TINY = dict(vocab_size=300, hidden=32, layers=2, heads=4, kv_heads=2, intermediate=64, seq_len=64,
            batch_size=8, micro_batch=4, lr=3e-3, warmup=5, threads=1, progress=False, log_every=5)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> dict[str, Path]:
    """A few hundred lines of real Wikipedia text for training and WikiText-2 test lines for validation."""
    if not WIKI.is_file() or not WIKITEXT_TEST.is_file():
        pytest.skip(f"shared data absent: {WIKI} / {WIKITEXT_TEST}")
    root = tmp_path_factory.mktemp("corpus")
    train, val = root / "train.txt", root / "val.txt"
    train.write_text("\n".join(WIKI.read_text(encoding="utf-8").splitlines()[:600]) + "\n")
    val.write_text("\n".join(WIKITEXT_TEST.read_text(encoding="utf-8").splitlines()[:120]) + "\n")
    return {"train": train, "val": val}


def tiny_config(corpus, **changes) -> PretrainConfig:
    return PretrainConfig(**{"data": [str(corpus["train"])], "eval_file": str(corpus["val"]), **TINY, **changes})


def read_log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="session")
def trained(corpus, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("pretrained") / "model"
    report = pretrain(tiny_config(corpus, max_steps=30), out)
    return out, report


@needs_data
def test_loss_falls_and_report_is_complete(trained):
    out, report = trained
    losses = [r["loss"] for r in read_log(out) if "loss" in r]
    assert len(losses) == 6
    assert losses[-1] < losses[0] - 0.5, losses  # random init starts near ln(300) = 5.7
    assert report["tokens_seen"] == 30 * 8 * 64 and report["steps"] == 30
    val = report["validation"]
    assert val["token_ppl"] < 300  # better than uniform over the vocabulary
    assert math.isclose(val["word_ppl"], math.exp(val["nll_sum"] / val["words"]), rel_tol=1e-9)
    assert val["word_ppl"] > val["token_ppl"]  # BPE splits words: more tokens than words
    saved = json.loads((out / "pretrain_config.json").read_text())
    assert saved["data_files"] == [{"path": str(Path(saved["data"][0])), "bytes": Path(saved["data"][0]).stat().st_size}]
    assert saved["tokens_seen"] == report["tokens_seen"] and saved["hidden"] == 32
    assert saved["versions"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert json.loads((out / "pretrain_report.json").read_text())["tokens_seen"] == report["tokens_seen"]


@needs_data
def test_output_is_a_tied_llama_that_the_encoder_loads(trained):
    from adaptation import Encoder

    out, _ = trained
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "llama" and config["tie_word_embeddings"] is True
    assert "lm_head.weight" not in load_file(out / "model.safetensors")  # tied: stored once
    enc = Encoder.from_pretrained(str(out))
    vectors = enc.encode(["The river flows to the sea.", "A river runs into the ocean.", "Tax rates rose."])
    assert vectors.shape == (3, 32) and np.isfinite(vectors).all()
    assert not np.allclose(vectors[0], vectors[2])


@needs_data
def test_resume_equals_uninterrupted(corpus, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    pretrain(tiny_config(corpus, max_steps=12, eval_file=None), whole)
    paused = pretrain(tiny_config(corpus, max_steps=12, eval_file=None), split, pause_after=5)
    assert paused == {"paused": True, "steps": 5, "tokens_seen": 5 * 8 * 64}
    assert not (split / "model.safetensors").exists()
    report = pretrain(PretrainConfig(), split, resume=True, overrides={"progress": False})
    assert report["steps"] == 12
    a, b = load_file(whole / "model.safetensors"), load_file(split / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6)
    assert any(r.get("event") == "resume" and r["step"] == 5 for r in read_log(split))


@needs_data
def test_resume_refuses_changed_architecture_and_fresh_run_refuses_existing_checkpoint(corpus, tmp_path):
    pretrain(tiny_config(corpus, max_steps=4, eval_file=None), tmp_path, pause_after=1)
    with pytest.raises(ResumeError, match="hidden"):
        pretrain(PretrainConfig(), tmp_path, resume=True, overrides={"hidden": 64})
    with pytest.raises(ResumeError, match="--resume"):
        pretrain(tiny_config(corpus, max_steps=4), tmp_path)
    with pytest.raises(ResumeError, match="no checkpoint"):
        pretrain(PretrainConfig(), tmp_path / "empty", resume=True)


@needs_data
def test_fresh_run_ignores_data_cached_by_a_killed_run(corpus, tmp_path):
    pretrain(tiny_config(corpus, max_steps=4, eval_file=None), tmp_path, pause_after=1)
    shutil.rmtree(tmp_path / "checkpoint" / "state")  # as if killed before its first checkpoint
    report = pretrain(tiny_config(corpus, max_steps=2, eval_file=None, vocab_size=330), tmp_path)
    assert report["steps"] == 2
    assert json.loads((tmp_path / "config.json").read_text())["vocab_size"] == 330


@needs_data
def test_time_budget_ends_cleanly_with_a_model(corpus, tmp_path):
    report = pretrain(tiny_config(corpus, max_minutes=0.02, eval_file=None), tmp_path)
    assert report["stopped_by"] == "max_minutes" and report["steps"] >= 1
    assert report["wall_time_s"] < 30
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "tokenizer.json").is_file()


def test_lr_schedule_warms_up_then_decays_to_floor(tmp_path):
    cosine = loop_settings(PretrainConfig(lr=1e-3, warmup=10, max_steps=110, min_lr_ratio=0.1), tmp_path)
    lrs = [learning_rate(s, cosine) for s in range(110)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))
    assert learning_rate(110, cosine) == pytest.approx(1e-4)
    timed = loop_settings(PretrainConfig(lr=1e-3, warmup=0, max_minutes=10, min_lr_ratio=0.1), tmp_path)
    assert learning_rate(5, timed, 300.0) == pytest.approx(0.55e-3)  # half the time budget: half-way down the cosine
    linear = LoopSettings(max_steps=110, lr=1e-3, warmup=10, weight_decay=0.0, max_grad_norm=1.0, save_every=0,
                          checkpoint_dir=tmp_path, log_path=tmp_path / "log.jsonl", identity={})  # l2v adapt's
    assert learning_rate(9, linear) == pytest.approx(1e-3) and learning_rate(60, linear) == pytest.approx(0.5e-3)
    assert learning_rate(110, linear) == 0.0


def test_resume_of_a_checkpoint_in_the_old_format_says_start_again(tmp_path):
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "state.pt").write_bytes(b"written by l2v pretrain before the shared loop")
    with pytest.raises(ResumeError, match="start again without --resume") as caught:
        pretrain(PretrainConfig(), tmp_path, resume=True)
    assert "\n" not in str(caught.value)


def test_ctrl_c_checkpoints_and_logs_when_the_loop_is_asked_to(tmp_path):
    weight = torch.nn.Parameter(torch.ones(2, 2))

    def objective(step: int) -> dict:
        if step == 2:
            raise KeyboardInterrupt
        weight.sum().backward()
        return {"loss": 1.0, "tokens": 4}

    settings = LoopSettings(max_steps=5, lr=1e-2, warmup=0, weight_decay=0.0, max_grad_norm=1.0, save_every=0,
                            checkpoint_dir=tmp_path / "ck", log_path=tmp_path / "log.jsonl", identity={},
                            save_on_interrupt=True, progress=False)
    with pytest.raises(KeyboardInterrupt):
        train(objective, {"w": weight}, settings, torch.nn.Module())
    assert checkpoint_info(tmp_path / "ck")["step"] == 2  # the interrupted step is redone on --resume
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 2] and records[-1] == {"event": "interrupted", "step": 2}


def test_block_sampler_is_a_permutation_per_epoch_and_deterministic():
    a, b = BlockSampler(10, seed=3), BlockSampler(10, seed=3)
    first = a.indices(0, 10)
    assert sorted(first.tolist()) == list(range(10))
    assert torch.equal(b.indices(4, 9), torch.cat([first[4:], a.indices(10, 3)]))
    assert not torch.equal(a.indices(10, 10), first)


def test_documents_split_at_blank_lines_and_keep_inner_newlines():
    text = "Title\n=====\n\n  \nFirst para line one\nline two   \n\n\n  code block\n"
    assert documents(text) == ["Title\n=====", "First para line one\nline two", "  code block"]


def test_data_errors_name_the_file(tmp_path):
    with pytest.raises(PretrainDataError, match="nope.txt: no such file"):
        resolve_files([tmp_path / "nope.txt"])
    (tmp_path / "val.txt").write_text("held out text\n")
    with pytest.raises(PretrainDataError, match="validation file"):
        resolve_files([tmp_path], eval_file=tmp_path / "val.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PretrainDataError, match="folder has no"):
        resolve_files([tmp_path / "empty"])


@needs_data
def test_cli_end_to_end(corpus, tmp_path):
    from typer.testing import CliRunner

    from search_ui.l2v import app

    out = tmp_path / "cli-model"
    args = ["pretrain", "--out", str(out), "--data", str(corpus["train"]), "--eval-file", str(corpus["val"]),
            "--vocab-size", "300", "--hidden", "32", "--layers", "1", "--heads", "4", "--kv-heads", "2",
            "--intermediate", "64", "--seq-len", "64", "--batch-size", "4", "--micro-batch", "4",
            "--max-steps", "6", "--warmup", "2", "--lr", "3e-3", "--threads", "1", "--seed", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("{")))
    assert f"model written to {out}" in result.stdout
    assert summary["steps"] == 6 and summary["tokens_seen"] == 6 * 4 * 64 and summary["val_word_ppl"] > 1
    saved = json.loads((out / "pretrain_config.json").read_text())
    assert (saved["layers"], saved["seed"], saved["max_steps"]) == (1, 1, 6)
    resumed = CliRunner().invoke(app, ["pretrain", "--out", str(out), "--resume", "--max-steps", "8"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "pretrain_report.json").read_text())["steps"] == 8


def test_cli_missing_data_file_is_one_error_line(tmp_path):
    missing = tmp_path / "missing.txt"
    proc = subprocess.run([sys.executable, "-c", "from search_ui.l2v import main; main()", "pretrain",
                           "--out", str(tmp_path / "m"), "--data", str(missing), "--max-steps", "1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"error: --data {missing}: no such file or folder"]
    assert not (tmp_path / "m").exists()


@needs_data
def test_float16_pretraining_steps_through_a_grad_scaler(corpus, tmp_path, monkeypatch):
    """float16 autocast without loss scaling loses small gradients: every step goes through GradScaler."""
    calls = []
    real_step = torch.amp.GradScaler.step
    monkeypatch.setattr(torch.amp.GradScaler, "step",
                        lambda self, optimizer, *a, **k: calls.append(1) or real_step(self, optimizer, *a, **k))
    report = pretrain(tiny_config(corpus, max_steps=2, dtype="float16"), tmp_path / "fp16")
    assert report["steps"] == 2 and len(calls) == 2
