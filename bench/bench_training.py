"""Training throughput and peak memory of `l2v adapt`'s objectives on CPU (or GPU when present).

A ~37M-parameter random Llama (hidden 512, 8 layers, vocab 32000, untied head) runs through the
real training loop (``adaptation.training.loop.train``) for a few steps per configuration:

- MNTP, batch 4 x 256 tokens: the LM head only at masked positions (ours) vs. full logits;
- SimCSE, batch 512 (x2 views, <= 8 tokens, one step): the whole batch at once vs. gradient caching.

Each configuration runs in its own process so peak RSS is clean; fp32 and bf16 (autocast).
tokens/s counts real tokens per optimizer step (both SimCSE views), the first step excluded
(wall clock); "CPU s/step" is user CPU time per step over all steps, less sensitive to a shared machine
(SimCSE rows time their single step).

    python bench/bench_training.py [--steps 3] [--dtypes float32,bfloat16] [--only mntp|simcse]
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
WIKITEXT = DATA / "wikitext-2" / "raw" / "wiki.test.raw"
WIKI1M = DATA / "wiki1m-sample" / "wiki1m_sample.txt"
WORK = REPO / "bench" / "out" / "training"

CONFIGS = [  # (label, step, overrides, mntp full logits?); sizes fit a 2-core CPU in ~10 minutes
    ("MNTP 4 x 256, masked-only head (ours)", "mntp", {"batch_size": 4, "max_length": 256}, False),
    ("MNTP 4 x 256, full logits", "mntp", {"batch_size": 4, "max_length": 256}, True),
    ("SimCSE batch 512 (<= 8 tokens), no caching", "simcse", {"batch_size": 512, "max_length": 8, "steps": 1}, False),
    ("SimCSE batch 512 (<= 8 tokens), grad cache chunk 64", "simcse",
     {"batch_size": 512, "max_length": 8, "grad_cache_chunk": 64, "steps": 1}, False),
]


def build_model() -> Path:
    """Random Llama with a BPE tokenizer trained on Wikitext-2 + wiki1m (built once)."""
    model_dir = WORK / "llama-37m-v32k"
    if (model_dir / "config.json").exists():
        return model_dir
    import torch
    from transformers import AutoModelForCausalLM

    from adaptation.tiny import tiny_config
    from adaptation.tokenizer_training import train_bpe_tokenizer

    lines = [l for p in (WIKITEXT, WIKI1M) for l in p.read_text(encoding="utf-8").splitlines() if l.strip()]
    tokenizer = train_bpe_tokenizer(lines, 32000, style="metaspace", add_bos=True)
    config = tiny_config("llama", 32000, hidden=512, layers=8, heads=8, kv_heads=8, init_range=0.02)
    config.intermediate_size = 1376
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return model_dir


def child(model_dir: str, index: int, dtype: str, steps: int) -> dict:
    """One configuration in this process: the real prepare + training loop; returns measurements."""
    import torch

    from adaptation.training import RunConfig, step_defaults
    from adaptation.training.loop import LoopSettings, train
    from adaptation.training.mntp import full_logits_loss
    from adaptation.training.run import prepare

    label, name, overrides, full_logits = CONFIGS[index]
    step = step_defaults(name)
    steps = overrides.get("steps", steps)
    step.max_steps, step.data = steps, [str(WIKITEXT if name == "mntp" else WIKI1M)]
    for key, value in overrides.items():
        if key != "steps":
            setattr(step, key, value)
    with tempfile.TemporaryDirectory() as tmp:
        config = RunConfig(model_dir, tmp, [step], dtype=dtype, save_every=0)
        model, objective, facts = prepare(step, config, model_dir)
        if full_logits:
            objective.loss_fn = full_logits_loss
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cpu_before = resource.getrusage(resource.RUSAGE_SELF).ru_utime
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        settings = LoopSettings(max_steps=steps, lr=step.lr, warmup=0, weight_decay=0.0, max_grad_norm=1.0,
                                save_every=0, checkpoint_dir=Path(tmp) / "ck", log_path=Path(tmp) / "log.jsonl",
                                identity={}, desc=label)
        train(objective, model.trainable(), settings, model.encoder.model, objective.scaler)
        records = [json.loads(line) for line in settings.log_path.read_text().splitlines()]
    timed = records[1:] or records
    tokens = sum(r["tokens"] for r in timed)
    seconds = sum(r["seconds"] for r in timed)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu_seconds = resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu_before  # all steps, the untimed one too
    result = {"label": label, "dtype": dtype, "tokens_per_s": tokens / seconds, "s_per_step": seconds / len(timed),
              "tokens_per_step": tokens / len(timed), "peak_rss_mb": peak, "train_rss_mb": max(peak - before, 0.0),
              "params": facts["total_params"], "trainable": facts["trainable_params"],
              "loss": records[-1]["loss"], "cpu_s_per_step": cpu_seconds / len(records)}
    if torch.cuda.is_available():
        result["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2, help="MNTP optimizer steps per configuration (first not timed)")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--only", choices=["mntp", "simcse"], default=None)
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "INDEX", "DTYPE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), args.child[2], args.steps)))
        return
    if not WIKITEXT.is_file() or not WIKI1M.is_file():
        sys.exit(f"shared data not found under {DATA}")
    WORK.mkdir(parents=True, exist_ok=True)
    model_dir = build_model()
    rows = []
    for dtype in args.dtypes.split(","):
        for index, (label, name, _, _) in enumerate(CONFIGS):
            if args.only and name != args.only:
                continue
            done = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--child", str(model_dir),
                                   str(index), dtype], capture_output=True, text=True)
            if done.returncode != 0:
                print(f"| {label} | {dtype} | failed: {done.stderr.strip().splitlines()[-1]} |", flush=True)
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    import torch

    print(f"\nModel: random Llama, {rows[0]['params'] / 1e6:.1f}M parameters (hidden 512, 8 layers, vocab 32000), "
          f"LoRA r=16 on all projections ({rows[0]['trainable'] / 1e6:.2f}M trainable); {args.steps} MNTP steps per row, "
          f"first not timed, 1 SimCSE step; torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}.\n")
    gpu = "peak_gpu_mb" in rows[0]
    print("| configuration | dtype | tokens/step | s/step | CPU s/step | tokens/s | peak RSS (MB) | RSS added by training (MB) |"
          + (" peak GPU (MB) |" if gpu else ""))
    print("|---|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if gpu else ""))
    for r in rows:
        print(f"| {r['label']} | {r['dtype']} | {r['tokens_per_step']:.0f} | {r['s_per_step']:.2f} | "
              f"{r['cpu_s_per_step']:.1f} | "
              f"{r['tokens_per_s']:.0f} | {r['peak_rss_mb']:.0f} | {r['train_rss_mb']:.0f} |"
              + (f" {r['peak_gpu_mb']:.0f} |" if gpu else ""))


if __name__ == "__main__":
    main()
