"""Whole runs on a tiny random Llama with real text: losses fall, resume is exact, saved steps reload."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from adaptation import Encoder
from adaptation.training import RunConfig, adapt
from adaptation.training.loop import LoopSettings, train
from adaptation.training.model import save_step
from adaptation.training.run import prepare
from test_training_support import WIKI1M, WIKITEXT, needs_data, one_thread, tiny_steps  # noqa: F401 (autouse fixture)

pytestmark = needs_data
PROBES = ["A river flows to the sea.", "Paris is the capital of France.", "The cat sat on the mat."]


def log(run: Path, step: str) -> list[dict]:
    return [json.loads(line) for line in (run / "logs" / f"{step}.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained_run(tiny_model_dir, tmp_path_factory):
    """mntp (30 steps) then simcse (20 steps), as `l2v adapt` runs them."""
    out = tmp_path_factory.mktemp("runs") / "learn"
    steps = tiny_steps(30, 20, mntp_batch=8, simcse_batch=16)
    adapt(RunConfig(str(tiny_model_dir("llama")), str(out), steps, save_every=0), echo=lambda _: None)
    return out


def test_mntp_loss_falls(trained_run):
    losses = [r["loss"] for r in log(trained_run, "mntp")]
    assert len(losses) == 30
    assert np.mean(losses[-8:]) < np.mean(losses[:8]) - 0.2


def test_simcse_loss_falls_and_positive_pairs_align(trained_run):
    records = log(trained_run, "simcse")
    losses = [r["loss"] for r in records]
    margin = [r["pos_cos"] - r["neg_cos"] for r in records]  # positives vs. the other sentences of the batch
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) / 2
    assert np.mean(margin[-5:]) > np.mean(margin[:5]) + 0.1


def test_run_directory_holds_loadable_encoders_config_and_log(trained_run, tiny_model_dir):
    for step, adapters in (("mntp", ["mntp"]), ("simcse", ["mntp", "simcse"])):
        encoder = Encoder.load(trained_run / step)
        assert [a.name for a in encoder.config.adapters] == adapters
        assert all(a.merged for a in encoder.config.adapters)
        vectors = encoder.encode(PROBES)
        assert vectors.shape == (3, 64) and np.isfinite(vectors).all()
        record = json.loads((trained_run / step / "run_config.json").read_text())
        assert record["step"]["name"] == step and record["run"]["seed"] == 0
        assert record["data"][0]["bytes"] > 0 and record["data"][0]["sha256"]
        rows = (trained_run / step / "train_log.jsonl").read_text().splitlines()
        assert {"loss", "lr", "tokens_per_s", "step"} <= set(json.loads(rows[0]))
    mntp_record = json.loads((trained_run / "mntp" / "run_config.json").read_text())
    assert mntp_record["mask_token"] == "<mask>" and isinstance(mntp_record["mask_token_id"], int)
    base = Encoder.from_pretrained(tiny_model_dir("llama")).encode(PROBES)
    assert not np.allclose(Encoder.load(trained_run / "simcse").encode(PROBES), base, atol=1e-3)
    assert not (trained_run / "checkpoints" / "mntp").exists()


def test_saved_step_embeds_like_the_model_in_training(tiny_model_dir, tmp_path):
    config = RunConfig(str(tiny_model_dir("llama")), str(tmp_path / "run"), tiny_steps(3, 3), save_every=0)
    source = config.base_model
    for step in config.steps:
        model, objective, _ = prepare(step, config, source)
        settings = LoopSettings(max_steps=step.max_steps, lr=step.lr, warmup=0, weight_decay=0.0, max_grad_norm=1.0,
                                save_every=0, checkpoint_dir=tmp_path / "ck", log_path=tmp_path / f"{step.name}.jsonl",
                                identity={})
        assert train(objective, model.trainable(), settings, model.encoder.model).stopped_by == "max_steps"
        in_training = model.encoder.encode(PROBES)  # eval mode, adapter not merged
        source = save_step(model, step.name, tmp_path / "run" / step.name, True, {})
        reloaded = Encoder.load(source)
        assert np.allclose(reloaded.encode(PROBES), in_training, atol=1e-5)
        assert reloaded.config.adapters[-1].name == step.name


def _adapters(run: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {step: load_file(str(next((run / step / "adapters").glob(f"*-{step}")) / "adapter_model.safetensors"))
            for step in ("mntp", "simcse")}


def test_interrupted_and_resumed_run_ends_with_the_same_weights(tiny_model_dir, tmp_path):
    base = str(tiny_model_dir("llama"))

    def config(out):  # dropout on, so the restored RNG state matters too
        return RunConfig(base, str(out), tiny_steps(4, 4, grad_cache_chunk=6), save_every=2, seed=3)

    quiet = lambda _: None  # noqa: E731
    adapt(config(tmp_path / "straight"), echo=quiet)
    resumed = tmp_path / "resumed"
    assert adapt(config(resumed), stop_after=3, echo=quiet) == []          # killed in mntp after step 3
    assert (resumed / "checkpoints" / "mntp").is_dir() and not (resumed / "mntp").exists()
    adapt(config(resumed), resume=True, stop_after=3, echo=quiet)           # mntp done, killed in simcse
    assert (resumed / "mntp").is_dir() and not (resumed / "simcse").exists()
    adapt(config(resumed), resume=True, echo=quiet)
    straight, again = _adapters(tmp_path / "straight"), _adapters(resumed)
    for step in ("mntp", "simcse"):
        assert straight[step].keys() == again[step].keys()
        for key, tensor in straight[step].items():
            assert torch.allclose(tensor, again[step][key], atol=1e-6), (step, key)
    assert [r["step"] for r in log(resumed, "simcse")] == [1, 2, 3, 4]
    assert [r["loss"] for r in log(resumed, "simcse")] == pytest.approx(
        [r["loss"] for r in log(tmp_path / "straight", "simcse")], abs=1e-6)


@pytest.mark.slow
def test_sigkilled_cli_run_resumes_to_the_same_weights(tiny_model_dir, tmp_path):
    """A real `l2v adapt` process killed with SIGKILL mid-step, then --resume (slow: three processes)."""
    import shutil
    import signal
    import subprocess
    import time

    script = shutil.which("l2v") or pytest.skip("l2v console script not installed")

    def command(out):
        return [script, "adapt", str(tiny_model_dir("llama")), "--out", str(out), "--steps", "mntp,simcse",
                "--mntp-data", str(WIKITEXT), "--simcse-data", str(WIKI1M), "--max-steps", "mntp=8,simcse=8",
                "--batch-size", "4", "--max-length", "32", "--save-every", "2", "--seed", "5"]

    subprocess.run(command(tmp_path / "straight"), check=True, capture_output=True, timeout=600)
    victim = subprocess.Popen(command(tmp_path / "killed"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log_path = tmp_path / "killed" / "logs" / "simcse.jsonl"
    deadline = time.time() + 600
    while time.time() < deadline and victim.poll() is None:
        if log_path.is_file() and len(log_path.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert not (tmp_path / "killed" / "simcse").exists()
    subprocess.run(command(tmp_path / "killed") + ["--resume"], check=True, capture_output=True, timeout=600)
    straight, resumed = _adapters(tmp_path / "straight"), _adapters(tmp_path / "killed")
    for step in ("mntp", "simcse"):
        for key, tensor in straight[step].items():
            assert torch.allclose(tensor, resumed[step][key], atol=1e-6), (step, key)
