"""Indexer benchmarks: build throughput, no-op re-index, peak memory, search latency and ANN recall.

    python bench/bench_index.py [--quick] [--out bench/results/index.md]

Prints markdown tables (and writes them to --out). Needs ../shared/data/peps.
Large sizes use synthetic clustered unit vectors (dim 256) through the same
``VectorStore`` the indexer uses; query-encoding cost is measured separately
with the tiny random encoder and the HashEmbedder and added for the e2e columns.
"""
from __future__ import annotations

import os
import sys

# thread counts must be fixed before numpy/FAISS/torch start their pools
_THREADS = next((sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == "--threads"), "1")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _THREADS

import argparse  # noqa: E402
import platform
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PEPS = REPO.parent / "shared" / "data" / "peps"
DIM = 256

from indexer import Index, IndexOptions, build_index  # noqa: E402
from doubles import HashEmbedder  # noqa: E402,F401
from indexer.vectors.store import VectorStore  # noqa: E402


def subset(root: Path, n: int, copies: int = 1) -> Path:
    """A folder of symlinks to the first ``n`` PEPs, ``copies`` times (in sub-folders)."""
    files = sorted(PEPS.glob("pep-*.rst"))[:n]
    folder = root / f"peps-{n}x{copies}"
    if folder.is_dir():
        return folder
    for c in range(copies):
        (folder / f"c{c}").mkdir(parents=True, exist_ok=True)
        for f in files:
            (folder / f"c{c}" / f.name).symlink_to(f)
    return folder


def build_in_child(folder: Path, db: Path, source: str | None) -> tuple[float, float, float]:
    """(seconds, RSS MB after imports, peak RSS MB during the build) of `build_index` in a fresh process.

    RSS is sampled from /proc every 20 ms by a thread in the child: the import peak (torch) would
    otherwise hide what the build itself holds. ``source=None`` re-runs with the recorded encoders
    (what `l2v index FOLDER --db DB` does).
    """
    encoders = "None" if source is None else f"{{'e': {source!r}}}"
    code = (f"import sys,time,threading,os; sys.path.insert(0,{str(REPO)!r}); "
            "from indexer import build_index, IndexOptions; import faiss, numpy\n"
            "page = os.sysconf('SC_PAGE_SIZE') / 2**20\n"
            "rss = lambda: int(open('/proc/self/statm').read().split()[1]) * page\n"
            "base = rss(); peak = [base]; done = []\n"
            "def watch():\n"
            "    while not done:\n"
            "        peak[0] = max(peak[0], rss()); time.sleep(0.02)\n"
            "threading.Thread(target=watch, daemon=True).start()\n"
            f"t=time.perf_counter(); build_index({str(folder)!r}, {str(db)!r}, {encoders}, "
            "IndexOptions(progress=False)); s=time.perf_counter()-t; done.append(1)\n"
            "print(s, base, max(peak[0], rss()))")
    out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, check=True).stdout
    seconds, base, peak = map(float, out.strip().splitlines()[-1].split())
    return seconds, base, peak


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def bench_build(tmp: Path, tiny_encoder: Path, tiny_docs: int) -> str:
    out = ["## Build throughput on ../shared/data/peps", ""]
    rows = []
    full = subset(tmp, 10_000)
    n_docs = len(list(full.rglob("*.rst")))
    for label, source, folder, docs in [("HashEmbedder (dim 256)", f"hash:{DIM}", full, n_docs),
                                        ("tiny llama encoder (dim 64, 2 layers)", str(tiny_encoder),
                                         subset(tmp, tiny_docs), tiny_docs)]:
        db = tmp / f"db-{len(rows)}"
        seconds, _, peak = build_in_child(folder, db, source)
        with Index.open(db) as idx:
            chunks = idx.status(check=False).n_chunks
        noop, _, _ = build_in_child(folder, db, None)
        rows.append([label, docs, chunks, f"{seconds:.1f}", f"{docs / seconds:.1f}", f"{chunks / seconds:.0f}",
                     f"{noop:.2f}", f"{100 * noop / seconds:.1f}%", f"{peak:.0f}"])
    out.append(table(["encoder", "docs", "chunks", "build s", "docs/s", "chunks/s", "no-op re-run s",
                      "no-op / build", "peak RSS MB"], rows))
    out += ["", "Chunks: 400 tokens, overlap 64 (defaults). Build time includes loading the encoder. The no-op "
            "re-run is `build_index(folder, db)` with the recorded encoders in a fresh process (interpreter start "
            "excluded): it walks and stats every file, reads none, embeds nothing and loads no model. The tiny "
            "encoder runs on the first PEPs only (its throughput, not the corpus, is what is measured).", ""]
    return "\n".join(out)


def bench_memory(tmp: Path) -> str:
    out = ["## Peak memory while indexing (HashEmbedder, dim 256): streamed, not loaded", ""]
    rows = []
    for n, copies in [(186, 1), (373, 1), (10_000, 1), (10_000, 4)]:
        folder = subset(tmp, n, copies)
        size = sum(f.stat().st_size for f in folder.rglob("*.rst")) / 2**20
        seconds, base, peak = build_in_child(folder, tmp / f"mem-{n}-{copies}", f"hash:{DIM}")
        with Index.open(tmp / f"mem-{n}-{copies}") as idx:
            chunks = idx.status(check=False).n_chunks
        rows.append([len(list(folder.rglob("*.rst"))), f"{size:.0f}", chunks, f"{chunks * DIM * 4 / 2**20:.0f}",
                     f"{base:.0f}", f"{peak:.0f}", f"{peak - base:.0f}", f"{seconds:.1f}"])
    out.append(table(["docs", "corpus MB", "chunks", "vectors MB", "RSS after imports MB",
                      "peak RSS during build MB", "growth MB", "build s"], rows))
    out += ["", "Documents are read, chunked and committed in batches of 64, so the corpus text is never held "
            "whole. The growth during the build tracks the FAISS index (vectors column; the index is copied once "
            "while a new generation is written) and per-document metadata, not the corpus size. RSS sampled "
            "every 20 ms from /proc.", ""]
    return "\n".join(out)


def clustered(n: int, rng: np.random.Generator, centers: np.ndarray) -> np.ndarray:
    x = centers[rng.integers(0, len(centers), n)] + 0.35 * rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def latency(store: VectorStore, queries: np.ndarray, k: int = 10) -> tuple[float, float]:
    times = []
    for q in queries:
        t = time.perf_counter()
        store.search(q[None, :], k)
        times.append(time.perf_counter() - t)
    return float(np.percentile(times, 50) * 1000), float(np.percentile(times, 95) * 1000)


def query_encoding(tiny_encoder: Path) -> dict[str, tuple[float, float]]:
    from indexer import load_embedder

    questions = [f"which PEP added feature number {i} to the language?" for i in range(100)]
    out = {}
    for label, source in [("hash", f"hash:{DIM}"), ("tiny", str(tiny_encoder))]:
        emb = load_embedder(source)
        emb.encode_queries(questions[:2])
        times = []
        for q in questions:
            t = time.perf_counter()
            emb.encode_queries([q])
            times.append(time.perf_counter() - t)
        out[label] = (float(np.percentile(times, 50) * 1000), float(np.percentile(times, 95) * 1000))
    return out


def bench_search(sizes: list[int], tiny_encoder: Path, hnsw_max: int) -> str:
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((2000, DIM)).astype(np.float32)
    queries = clustered(200, rng, centers)
    enc = query_encoding(tiny_encoder)
    rows = []
    for n in sizes:
        data = clustered(n, rng, centers)
        ids = np.arange(1, n + 1, dtype=np.int64)
        exact_ids = None
        nlist = int(np.sqrt(n))
        for factory in ["Flat", f"IVF{nlist},Flat", "HNSW32"]:
            if factory == "HNSW32" and n > hnsw_max:
                rows.append([f"{n:,}", factory, "not run (build > time budget on 2 cores)", "", "", "", "", ""])
                continue
            t = time.perf_counter()
            store = VectorStore.create(DIM, factory)
            for start in range(0, n, 100_000):
                store.add(ids[start:start + 100_000], data[start:start + 100_000])
                store.maybe_train()
            store.maybe_train(final=True)
            build = time.perf_counter() - t
            _, found = store.search(queries, 10)
            if exact_ids is None:
                exact_ids = found
            recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact_ids)])
            p50, p95 = latency(store, queries)
            rows.append([f"{n:,}", factory, f"{build:.1f}", f"{recall:.3f}", f"{p50:.2f}", f"{p95:.2f}",
                         f"{p50 + enc['hash'][0]:.2f} / {p95 + enc['hash'][1]:.2f}",
                         f"{p50 + enc['tiny'][0]:.2f} / {p95 + enc['tiny'][1]:.2f}"])
            del store
        del data
    out = ["## Search latency (k=10, one query at a time) and recall@10 vs exact", "",
           f"Synthetic clustered unit vectors, dim {DIM} (2,000 Gaussian clusters), 200 queries from the same "
           "distribution. IVF nlist = sqrt(n), nprobe = min(nlist, 64, max(16, nlist/16)) (the indexer's default); HNSW32 efSearch 64. "
           f"Query encoding alone: HashEmbedder p50 {enc['hash'][0]:.2f} ms / p95 {enc['hash'][1]:.2f} ms; tiny "
           f"llama encoder p50 {enc['tiny'][0]:.2f} ms / p95 {enc['tiny'][1]:.2f} ms (added for the last columns).", "",
           table(["vectors", "index", "build s", "recall@10", "search p50 ms", "search p95 ms",
                  "+hash encode p50/p95 ms", "+tiny encode p50/p95 ms"], rows), ""]
    return "\n".join(out)


def bench_e2e(tmp: Path, tiny_encoder: Path) -> str:
    """Index.search end to end (query encoding + FAISS + SQLite fetch) on the real peps index."""
    db = tmp / "db-0"
    rows = []
    with Index.open(db) as idx:
        for hybrid in (False, True):
            times = []
            for i in range(100):
                t = time.perf_counter()
                idx.search(f"which PEP added the walrus operator {i}", k=10, hybrid=hybrid)
                times.append(time.perf_counter() - t)
            n = idx.status(check=False).n_chunks
            rows.append([f"{n:,}", "hybrid (RRF with FTS5 BM25)" if hybrid else "dense",
                         f"{np.percentile(times, 50) * 1000:.2f}", f"{np.percentile(times, 95) * 1000:.2f}"])
    return "\n".join(["## End-to-end `Index.search` on the peps index (HashEmbedder, Flat)", "",
                      table(["chunks", "mode", "p50 ms", "p95 ms"], rows), ""])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes only (smoke test)")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "index.md"))
    parser.add_argument("--search-only", action="store_true", help="only the search latency / recall table")
    parser.add_argument("--sizes", default=None, help="comma-separated vector counts for the search table")
    parser.add_argument("--hnsw-max", type=int, default=100_000, help="largest size at which HNSW32 is built")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch/FAISS threads (1: other jobs share this 2-core machine, more threads only spin)")
    args = parser.parse_args()
    import faiss
    import torch

    faiss.omp_set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    if not PEPS.is_dir():
        sys.exit(f"{PEPS} not found: this benchmark needs ../shared/data/peps")
    from adaptation import Encoder
    from adaptation.tiny import build_tiny_decoder

    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench-index-"))
    try:
        tiny = Encoder.from_pretrained(build_tiny_decoder(tmp / "tiny-base", "llama")).save(tmp / "tiny-llama")
        parts = [f"# Indexer benchmarks\n\nMachine: 2-core x86_64 CPU, 24 GB, no GPU ({platform.processor() or 'cpu'}, "
                 f"Python {platform.python_version()}); {args.threads} torch/FAISS thread(s). Other jobs shared "
                 f"the CPU while this ran (load average {os.getloadavg()[0]:.1f} at start), so absolute times "
                 "are pessimistic.\n"]
        if not args.search_only:
            parts.append(bench_build(tmp, tiny, 40 if args.quick else 120))
            print(parts[-1], flush=True)
            parts.append(bench_e2e(tmp, tiny))
            print(parts[-1], flush=True)
            parts.append(bench_memory(tmp) if not args.quick else "")
            print(parts[-1], flush=True)
        sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
        if args.sizes:
            sizes = [int(n) for n in args.sizes.split(",")]
        parts.append(bench_search(sizes, tiny, hnsw_max=args.hnsw_max))
        print(parts[-1], flush=True)
        parts.append(f"\nTotal benchmark time: {time.perf_counter() - started:.0f} s "
                     f"(peak RSS of the benchmark process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB).\n")
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(parts))
        print(parts[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
