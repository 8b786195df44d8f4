"""Smaller reliability items of issue 11: blank queries, hub lookups offline, training settings and
float16 loss scaling."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch
from conftest import REPO
from indexer_helpers import hash_options, make_corpus

from adaptation.errors import ModelNotFoundError, UsageError
from adaptation.precision import autocast, grad_scaler
from adaptation.training.contrastive import backward_contrastive
from adaptation.training.loop import LoopSettings, train
from indexer import Index, build_index


def l2v(*args: str, **env: str) -> subprocess.CompletedProcess:
    code = "import sys; from search_ui.l2v import main; sys.argv = ['l2v'] + sys.argv[1:]; main()"
    environment = {**os.environ, "PYTHONPATH": os.environ["PYTHONPATH"], **env}
    for key in [k for k, v in env.items() if v == ""]:
        environment.pop(key)
    return subprocess.run([sys.executable, "-c", code, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=300, env=environment)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in done.stderr, done.stderr[-2000:]
    return lines[0]


def test_a_blank_query_is_an_error_not_ten_arbitrary_hits(tmp_path):
    make_corpus(tmp_path / "docs", 3)
    build_index(tmp_path / "docs", tmp_path / "db", {"h": "hash:32"}, hash_options())
    with Index.open(tmp_path / "db") as idx:
        for blank in ("", "   ", "\n\t"):
            with pytest.raises(UsageError, match="query is empty"):
                idx.search(blank)
        assert idx.search("rivers")
    done = l2v("search", str(tmp_path / "db"), "  ")
    assert done.returncode == 2 and "query is empty" in one_line_error(done)


def test_an_unknown_hub_id_offline_fails_fast_in_one_line_and_leaves_no_database(tmp_path):
    make_corpus(tmp_path / "docs", 1)
    offline = {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": ""}
    for env in (offline, {**offline, "HF_HUB_OFFLINE": "1"}):  # unreachable hub, or offline mode declared
        started = time.monotonic()
        done = l2v("index", str(tmp_path / "docs"), "--db", str(tmp_path / "new.l2v"), "--encoder", "nosuch/model",
                   **env)
        elapsed = time.monotonic() - started
        assert done.returncode == ModelNotFoundError.exit_code, done.stderr[-2000:]
        line = one_line_error(done)
        assert "'nosuch/model' is not a local directory nor in the Hugging Face cache" in line
        assert "cannot be reached" in line and "couldn't connect" not in line
        assert elapsed < 30, f"{elapsed:.0f} s"  # was ~54 s of hub retries (a 3 s probe + start-up now)
        assert not (tmp_path / "new.l2v").exists()


def test_pretrain_log_every_below_one_is_a_one_line_usage_error(tmp_path):
    (tmp_path / "x.txt").write_text("Rivers flow to the sea.\n" * 50)
    done = l2v("pretrain", "--out", str(tmp_path / "m"), "--data", str(tmp_path / "x.txt"), "--max-steps", "1",
               "--log-every", "0")
    assert done.returncode == 2 and "--log-every 0: must be at least 1" in one_line_error(done)
    assert not (tmp_path / "m").exists()


def _underflowing_objective(weight: torch.nn.Parameter, scaler, chunk: int):
    """A real contrastive backward (optionally gradient-cached) whose float16 gradients are below fp16's
    smallest subnormal (6e-8) unless the loss is scaled."""
    inputs = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))

    def embed(rows):
        with autocast("float16", "cpu"):
            return inputs[rows] @ weight

    def objective(step: int) -> dict:
        loss, _ = backward_contrastive(embed, list(range(4)), lambda e: e.float().sum() * 1e-9, chunk, "cpu", scaler)
        return {"loss": float(loss), "tokens": 4}

    return objective


@pytest.mark.parametrize("chunk", [0, 2])  # plain, and gradient caching
def test_float16_training_scales_the_loss_so_small_gradients_survive(tmp_path, chunk):
    results = {}
    for scaled in (False, True):
        weight = torch.nn.Parameter(torch.ones(8, 8))
        scaler = grad_scaler("float16", "cpu") if scaled else None
        settings = LoopSettings(max_steps=1, lr=1e-2, warmup=0, weight_decay=0.0, max_grad_norm=1.0, save_every=0,
                                checkpoint_dir=tmp_path / f"ckpt{scaled}", log_path=tmp_path / f"log{scaled}.jsonl",
                                identity={}, desc="test")
        assert train(_underflowing_objective(weight, scaler, chunk), {"w": weight}, settings, torch.nn.Module(),
                     scaler).stopped_by == "max_steps"
        results[scaled] = float((weight.detach() - 1).abs().max())
    assert results[False] == 0.0       # unscaled float16: every gradient underflowed, nothing learned
    assert results[True] > 1e-3        # scaled: the step moved the weights
    assert grad_scaler("bfloat16", "cpu") is None and grad_scaler("float32", "cpu") is None
