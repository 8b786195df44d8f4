"""`l2v adapt --nproc 2`: two real gloo processes under torchrun equal one process with the same global batch.

Dropout is off (attention and LoRA) because each rank draws its own masks -- with it on the runs are
equally valid but not bit-comparable. Everything else is exercised: MNTP with a masked-token count
that differs across the two halves, SimCSE and supervised with gradient caching and an uneven split
(5 = 2 + 3 triples, one triple without a hard negative), in-batch negatives from the other rank.
Tolerance: 1e-5 on every logged loss and on every LoRA weight after 3 steps of each objective
(float32; only the summation order of the gradient all-reduce differs).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from test_training_support import WIKI1M, WIKITEXT, needs_data

pytestmark = needs_data
STEPS = ("mntp", "simcse", "supervised")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def triples_file(tmp_path_factory) -> Path:
    sentences = [s for s in WIKI1M.read_text(encoding="utf-8").splitlines() if len(s.split()) > 6][:40]
    path = tmp_path_factory.mktemp("triples") / "pairs.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i in range(0, 40, 2):
            row = {"query": " ".join(sentences[i].split()[:5]), "positive": sentences[i],
                   "negative": "" if i % 6 == 0 else sentences[i + 1], "instruction": "Retrieve the sentence"}
            out.write(json.dumps(row) + "\n")
    return path


def command(base: Path, out: Path, triples: Path, nproc: int = 1) -> list[str]:
    return [sys.executable, "-m", "search_ui.l2v", "adapt", str(base), "--out", str(out),
            "--steps", ",".join(STEPS), "--mntp-data", str(WIKITEXT), "--simcse-data", str(WIKI1M),
            "--supervised-data", str(triples), "--max-steps", "3", "--batch-size", "mntp=4,simcse=6,supervised=5",
            "--max-length", "mntp=32,simcse=24,supervised=24", "--lr", "1e-3", "--simcse-dropout", "0",
            "--lora-dropout", "0", "--grad-cache-chunk", "2", "--save-every", "1", "--seed", "7",
            *(["--nproc", str(nproc)] if nproc > 1 else [])]


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.environ["PYTHONPATH"], OMP_NUM_THREADS="1")
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, **kwargs)


def adapters(out: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {step: load_file(str(next((out / step / "adapters").glob(f"*-{step}")) / "adapter_model.safetensors"))
            for step in STEPS}


def losses(out: Path, step: str) -> list[float]:
    return [json.loads(line)["loss"] for line in (out / "logs" / f"{step}.jsonl").read_text().splitlines()]


def assert_same_training(got: Path, want: Path) -> None:
    for step in STEPS:
        assert losses(got, step) == pytest.approx(losses(want, step), abs=1e-5), step
    a, b = adapters(got), adapters(want)
    for step in STEPS:
        assert a[step].keys() == b[step].keys()
        worst = max(float((a[step][k] - b[step][k]).abs().max()) for k in a[step])
        assert worst <= 1e-5, (step, worst)


@pytest.fixture(scope="module")
def single(tiny_model_dir, triples_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one") / "run"
    done = run(command(tiny_model_dir("llama"), out, triples_file))
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_two_gloo_processes_equal_one_process(single, tiny_model_dir, triples_file, tmp_path):
    out = tmp_path / "run"
    done = run(command(tiny_model_dir("llama"), out, triples_file, nproc=2))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 processes" in done.stdout and done.stdout.count("encoder saved to") == 3   # one voice: rank 0
    assert json.loads((out / "supervised" / "run_config.json").read_text())["processes"] == 2
    assert_same_training(out, single)


def test_a_killed_torchrun_job_resumes_to_the_same_weights(single, tiny_model_dir, triples_file, tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=os.environ["PYTHONPATH"], OMP_NUM_THREADS="1")
    job = subprocess.Popen(command(tiny_model_dir("llama"), out, triples_file, nproc=2), env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = out / "logs" / "simcse.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and job.poll() is None:
        if log.is_file() and len(log.read_text().splitlines()) >= 2:
            break
        time.sleep(0.02)
    os.killpg(job.pid, signal.SIGKILL)   # launcher and both ranks, no cleanup
    job.wait()
    assert (out / "mntp").is_dir() and not (out / "supervised").exists()
    resumed = run(command(tiny_model_dir("llama"), out, triples_file, nproc=2) + ["--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "mntp: already complete" in resumed.stdout
    assert_same_training(out, single)


def test_nproc_checks_the_command_before_launching(tmp_path):
    done = run([sys.executable, "-m", "search_ui.l2v", "adapt", str(tmp_path / "base"), "--out", str(tmp_path / "o"),
                "--steps", "mntp", "--mntp-data", str(tmp_path / "missing.txt"), "--nproc", "2"])
    assert done.returncode != 0 and "Traceback" not in done.stderr and "torch.distributed" not in done.stderr
    # the first mistake, the missing base, is named before any rank starts (the data is checked after it)
    assert done.stderr.strip().splitlines() == [f"error: model '{tmp_path / 'base'}': no such directory, and not a hub "
                                                "id (owner/name)"]
