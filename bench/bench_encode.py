"""Encoding throughput and peak memory of the encoder, fp32 vs bf16, vs the reference package.

A ~30M-parameter random Llama (hidden 512, 8 layers, BPE vocab 8000 trained on the PEPs) embeds
chunks of real text (../shared/data/peps). Each configuration runs in its own process so peak
RSS is clean. Prints a markdown table; tokens/s counts real (non-padding) tokens.

    python bench/bench_encode.py [--texts 256] [--batch-sizes 8,16,32,64] [--dtypes float32,bfloat16,int8] \
        [--reference-python .venv-ref/bin/python]   # also time llm2vec 0.2.3's encode
    python bench/bench_encode.py --model data/encoders/l2v-smollm2 --dtypes float32,int8 --caps auto,2048,8192,pack

The reference (llm2vec 0.2.3) must be installed in its own venv (see ../shared/reference-check).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEPS = REPO.parent / "shared" / "data" / "peps"
WORK = REPO / "bench" / "out" / "encode"

REFERENCE_WORKER = """
import json, sys, time, resource, torch
from llm2vec import LLM2Vec
model_dir, texts_path, bs, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
texts = json.load(open(texts_path))
l2v = LLM2Vec.from_pretrained(model_dir, enable_bidirectional=True, pooling_mode="mean", max_length=512,
                              doc_max_length=512, torch_dtype=torch.float32, attn_implementation="sdpa")
l2v.encode(texts[:8], batch_size=bs, show_progress_bar=False, device="cpu")
start = time.perf_counter()
l2v.encode(texts, batch_size=bs, show_progress_bar=False, device="cpu")
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def build_assets(n_texts: int, reference_python: str | None) -> tuple[Path, Path]:
    """The random model and the text chunks, built once and reused.

    With a reference venv the model is built there (tokenizer files of tokenizers 0.23 do not
    load in the reference's 0.19), by ../shared/reference-check/make_tiny_model.py.
    """
    model_dir, texts_path = WORK / "llama-30m", WORK / "texts.json"
    if not (model_dir / "config.json").exists():
        corpus = WORK / "corpus.txt"
        corpus.write_text("\n".join(line for path in sorted(PEPS.glob("*.rst"))[:200]
                                    for line in path.read_text(errors="ignore").splitlines() if line.strip()))
        shape = dict(hidden=512, layers=8, heads=8, kv_heads=8, vocab_size=8000, init_range=0.02)
        if reference_python:
            script = REPO.parent / "shared" / "reference-check" / "make_tiny_model.py"
            subprocess.run([reference_python, str(script), str(model_dir), "--family", "llama", "--hidden", "512",
                            "--layers", "8", "--heads", "8", "--kv-heads", "8", "--vocab", "8000",
                            "--init-range", "0.02", "--corpus", str(corpus)], check=True, capture_output=True)
        else:
            from adaptation.tiny import build_tiny_decoder

            build_tiny_decoder(model_dir, "llama", corpus=corpus.read_text().splitlines(), **shape)
    words = " ".join(p.read_text(errors="ignore") for p in sorted(PEPS.glob("*.rst"))[:120]).split()
    chunks = [" ".join(words[i:i + 200 + (i % 7) * 20]) for i in range(0, len(words), 230)][:n_texts]
    texts_path.write_text(json.dumps(chunks))
    return model_dir, texts_path


def worker(model_dir: str, texts_path: str, dtype: str, batch_size: int, threads: int, cap: str = "auto") -> None:
    """One configuration in its own process. ``cap``: "auto" (the encoder's CPU token cap), "off" (the whole
    batch in one forward pass, as before the cap existed), a number (that many padded tokens per pass), or
    "pack" (padding-free: each batch packed into one row with a block-diagonal mask)."""
    import torch

    from adaptation import Encoder

    torch.set_num_threads(threads)
    texts = json.loads(Path(texts_path).read_text())
    encoder = Encoder.from_pretrained(model_dir, dtype=dtype, attn="sdpa")
    if cap == "off":
        encoder.tokens_per_forward = None
    elif cap == "pack":
        encoder.pack = True
    elif cap != "auto":
        encoder.tokens_per_forward = int(cap)
    encoded = encoder.inputs.encode(texts)
    tokens = sum(len(e.input_ids) for e in encoded)
    encoder.encode(texts[:8], batch_size=batch_size)  # warm-up
    start = time.perf_counter()
    encoder.encode(texts, batch_size=batch_size)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "tokens": tokens, "params": linear_parameters(encoder.model),
                      "cap": encoder.tokens_per_forward, "padding": padding_share(encoded, batch_size),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def linear_parameters(model) -> int:
    """Weights of the linear layers (the matmul FLOPs: 2 per weight per token), int8 layers included."""
    total = 0
    for module in model.modules():
        if type(module).__name__ == "Linear":
            weight = module.weight() if callable(module.weight) else module.weight
            total += weight.numel()
    return total


def padding_share(encoded, batch_size: int) -> float:
    """Padding tokens / all tokens when texts run longest-first in batches of ``batch_size``."""
    lengths = sorted((len(e.input_ids) for e in encoded), reverse=True)
    padded = sum(len(lengths[i:i + batch_size]) * lengths[i] for i in range(0, len(lengths), batch_size))
    return 1 - sum(lengths) / padded


def matmul_peak(dtype_name: str, threads: int) -> float:
    """Best measured GFLOP/s of a 2048^2 matmul: the yardstick for 'fraction of peak'."""
    import torch

    torch.set_num_threads(threads)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}.get(dtype_name)
    if dtype is None:   # int8: no dense int8 matmul to measure on CPU torch; no "% of peak" for it
        return float("nan")
    a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
    best = 0.0
    for _ in range(6):
        start = time.perf_counter()
        for _ in range(4):
            a @ b
        best = max(best, 4 * 2 * 2048 ** 3 / (time.perf_counter() - start) / 1e9)
    return best


def run_json(cmd: list[str]) -> dict:
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--batch-sizes", default="8,16,32,64")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reference-python", default=None)
    parser.add_argument("--uncapped", action="store_true",
                        help="also time fp32 with the whole batch in one forward pass (no CPU token cap)")
    parser.add_argument("--model", default=None,
                        help="an encoder or model directory to time instead of the random 30M Llama "
                             "(e.g. data/encoders/l2v-smollm2, the default encoder)")
    parser.add_argument("--random-llama", default=None, metavar="HIDDEN,LAYERS,HEADS",
                        help="time a random Llama of this shape instead (e.g. 2048,16,16: ~1B parameters; for GPUs)")
    parser.add_argument("--caps", default="auto",
                        help="comma list of token caps per forward pass for the float32 rows: auto, off, N, pack")
    parser.add_argument("--worker", nargs=6, metavar=("MODEL", "TEXTS", "DTYPE", "BS", "THREADS", "CAP"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        model, texts, dtype, bs, threads, cap = args.worker
        return worker(model, texts, dtype, int(bs), int(threads), cap)
    if not PEPS.is_dir():
        sys.exit(f"needs the PEPs corpus at {PEPS}")
    WORK.mkdir(parents=True, exist_ok=True)
    model_dir, texts_path = build_assets(args.texts, args.reference_python)
    if args.model:
        model_dir = Path(args.model).resolve()
    elif args.random_llama:
        hidden, layers, heads = map(int, args.random_llama.split(","))
        model_dir = WORK / f"llama-{hidden}x{layers}"
        if not (model_dir / "config.json").exists():
            from adaptation.tiny import build_tiny_decoder

            build_tiny_decoder(model_dir, "llama", hidden=hidden, layers=layers, heads=heads, kv_heads=heads,
                               vocab_size=8000, init_range=0.02,
                               corpus=(WORK / "corpus.txt").read_text().splitlines())
    peaks = {d: matmul_peak(d, args.threads) for d in args.dtypes.split(",")}
    print(f"matmul peak (2048^2, {args.threads} threads): " + ", ".join(f"{d} {g:.0f} GFLOP/s" for d, g in peaks.items()))
    print(f"model: {model_dir.name}")
    print("\n| impl | dtype | batch | cap (tokens/pass) | padding | tokens/s | peak RSS (MB) | % of matmul peak |")
    print("|---|---|---:|---|---:|---:|---:|---:|")
    ours: dict[tuple[str, int], float] = {}
    runs = [("l2v", dtype, "auto") for dtype in args.dtypes.split(",")]
    runs += [("l2v", "float32", cap) for cap in args.caps.split(",") if cap != "auto"]
    if args.uncapped:
        runs.append(("l2v, whole batch per pass", "float32", "off"))
    for label, dtype, cap in runs:
        for bs in map(int, args.batch_sizes.split(",")):
            r = run_json([sys.executable, __file__, "--worker", str(model_dir), str(texts_path), dtype, str(bs),
                          str(args.threads), cap])
            tps = r["tokens"] / r["seconds"]
            if cap == "auto":
                ours[(dtype, bs)] = tps
            pct = 100 * tps * 2 * r["params"] / 1e9 / peaks[dtype]
            shown_cap = "packed" if cap == "pack" else ("none" if r["cap"] is None else f"{r['cap']}")
            padding = "0%" if cap == "pack" else f"{100 * r['padding']:.1f}%"
            print(f"| {label} | {dtype} | {bs} | {shown_cap} | {padding} | {tps:,.0f} | {r['peak_rss_mb']:.0f} | "
                  f"{'–' if pct != pct else f'{pct:.0f}%'} |", flush=True)
    if args.reference_python:
        tokens = r["tokens"]
        for bs in map(int, args.batch_sizes.split(",")):
            ref = run_json([args.reference_python, "-c", REFERENCE_WORKER, str(model_dir), str(texts_path), str(bs), str(args.threads)])
            tps = tokens / ref["seconds"]
            ratio = ours.get(("float32", bs), float("nan")) / tps
            print(f"| llm2vec 0.2.3 | float32 | {bs} | – | – | {tps:,.0f} | {ref['peak_rss_mb']:.0f} | "
                  f"(l2v fp32 is {ratio:.2f}x) |", flush=True)


if __name__ == "__main__":
    main()
