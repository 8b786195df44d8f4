"""Training throughput of ``l2v pretrain``'s default model: tokens/s by threads, seq-len and dtype.

Runs real optimiser steps (forward + backward + AdamW) of the default ~12.6M-parameter
Llama on packed WikiText-2 valid blocks, and prints a markdown table.
    python bench/pretrain_throughput.py --threads 1 2 --seq-len 512 256 --steps 4
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from adaptation.pretraining.config import PretrainConfig
from adaptation.pretraining.data import (default_data_files, iter_documents, pack_blocks, shared_data_dir,
                                         token_stream, train_tokenizer)
from adaptation.precision import autocast
from adaptation.pretraining.train import build_model, loop_settings
from adaptation.training.loop import make_optimizer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seq-len", type=int, nargs="+", default=[512, 256])
    parser.add_argument("--dtype", nargs="+", default=["bfloat16"])
    parser.add_argument("--tokens-per-micro", type=int, default=4096, help="micro-batch size in tokens")
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    files = [shared_data_dir() / "wikitext-2" / "tokenized" / "valid.txt"]
    if not files[0].is_file():
        files = default_data_files()
    tokenizer = train_tokenizer(files, 8192, 512)
    stream = token_stream(tokenizer, list(iter_documents(files)))
    print(f"machine: {platform.machine()} {platform.processor() or ''}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads available\n")
    print("| threads | seq len | dtype | micro-batch | tokens/s | s/step |")
    print("|---|---|---|---|---|---|")
    for seq_len in args.seq_len:
        blocks = pack_blocks(stream, seq_len)
        micro = max(1, args.tokens_per_micro // seq_len)
        for dtype in args.dtype:
            for threads in args.threads:
                torch.set_num_threads(threads)
                cfg = PretrainConfig(seq_len=seq_len, dtype=dtype)
                model = build_model(cfg, tokenizer)
                opt = make_optimizer(dict(model.named_parameters()), loop_settings(cfg, Path(".")))
                times = []
                for step in range(args.steps + 1):  # first step warms up kernels
                    ids = blocks[step * micro:(step + 1) * micro].long()
                    t0 = time.perf_counter()
                    with autocast(dtype, "cpu"):
                        loss = model(input_ids=ids, labels=ids).loss
                    loss.backward()
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                    times.append(time.perf_counter() - t0)
                sec = sum(times[1:]) / args.steps
                print(f"| {threads} | {seq_len} | {dtype} | {micro} | {micro * seq_len / sec:,.0f} | {sec:.2f} |", flush=True)


if __name__ == "__main__":
    main()
