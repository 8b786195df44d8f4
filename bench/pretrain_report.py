"""Markdown summary of an ``l2v pretrain`` output directory: settings, throughput, perplexity, loss curve.

    python bench/pretrain_report.py /work/runs/pretrain-base [--points 12]
Reads pretrain_config.json, pretrain_report.json and train_log.jsonl (or only the log while
the run is still going).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path)
    parser.add_argument("--points", type=int, default=12, help="rows of the loss curve table")
    args = parser.parse_args()
    records = [json.loads(line) for line in (args.run / "train_log.jsonl").read_text().splitlines() if line.strip()]
    start = next((r for r in records if r.get("event") == "start"), {})
    cfg = json.loads((args.run / "pretrain_config.json").read_text()) if (args.run / "pretrain_config.json").is_file() \
        else start.get("config", {})
    report = json.loads((args.run / "pretrain_report.json").read_text()) if (args.run / "pretrain_report.json").is_file() else {}
    data = next((r for r in records if r.get("event") == "data"), {})
    print("| setting | value |\n|---|---|")
    shape = f"Llama, hidden {cfg.get('hidden')}, {cfg.get('layers')} layers, {cfg.get('heads')} heads / " \
            f"{cfg.get('kv_heads')} kv heads, MLP {cfg.get('intermediate')}, vocab {cfg.get('vocab_size')}, tied embeddings"
    rows = [("model", shape), ("parameters", f"{start.get('params', report.get('params', 0)):,}"),
            ("training text", f"{len(cfg.get('data', []))} files, {data.get('tokens', 0):,} tokens "
                              f"({data.get('blocks', 0):,} blocks of {cfg.get('seq_len')})"),
            ("batch", f"{cfg.get('batch_size')} x {cfg.get('seq_len')} = {cfg.get('batch_size', 0) * cfg.get('seq_len', 0):,} "
                      f"tokens/step (micro-batch {cfg.get('micro_batch')})"),
            ("optimiser", f"AdamW lr {cfg.get('lr')}, warmup {cfg.get('warmup')} steps, cosine to "
                          f"{cfg.get('min_lr_ratio')} x lr, wd {cfg.get('weight_decay')}, clip {cfg.get('grad_clip')}"),
            ("precision / threads", f"{cfg.get('dtype')} autocast, fp32 master weights / {cfg.get('threads')}")]
    if report:
        val = report.get("validation", {})
        rows += [("steps / tokens seen", f"{report['steps']:,} / {report['tokens_seen']:,} ({report['epochs']} epochs)"),
                 ("training wall time", f"{report['wall_time_s'] / 60:.1f} min (whole command "
                                        f"{report.get('process_wall_s', 0) / 60:.1f} min)"),
                 ("tokens/s", f"{report['tokens_per_s']:,.0f}")]
        if val:
            rows += [("WikiText-2 test token ppl", f"{val['token_ppl']:.1f} ({val['tokens_scored']:,} tokens)"),
                     ("WikiText-2 test word ppl", f"{val['word_ppl']:.1f} ({val['words']:,.0f} words)")]
    for key, value in rows:
        print(f"| {key} | {value} |")
    steps = [r for r in records if "loss" in r]
    evals = {r["step"]: r for r in records if r.get("event") == "eval"}
    if steps:
        every = max(1, len(steps) // args.points)
        keep = {i for i in range(0, len(steps), every)} | {len(steps) - 1}
        keep |= {i for i, r in enumerate(steps) if r["step"] in evals}
        chosen = [steps[i] for i in sorted(keep)]
        print("\n| step | tokens | train loss | lr | tokens/s | quick val token ppl |\n|---|---|---|---|---|---|")
        for r in chosen:
            quick = evals.get(r["step"], {}).get("token_ppl")
            print(f"| {r['step']} | {r.get('tokens_seen', r['tokens']):,} | {r['loss']:.3f} | {r['lr']:.2e} | {r['tokens_per_s']:,.0f} | "
                  f"{'' if quick is None else f'{quick:.1f}'} |")


if __name__ == "__main__":
    main()
