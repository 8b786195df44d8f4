"""Browser-measured search latency of the UI: keypress (Enter) -> hits rendered, p50/p95.

Builds (once, cached under bench/out/) a synthetic index of ~N chunks with the HashEmbedder,
starts ``l2v ui`` on it, drives Debian's headless chromium with selenium and times each
query in the browser (performance.now() at the Enter keydown, a MutationObserver for the
rendered hits). Also times the Clusters page (first computation and cached reopen), and in this
process the passage highlighting of a results page whose hits share no word with the query (the
semantic fallback, with a real encoder: the bundled one unless --highlight-encoder says otherwise).

    python bench/bench_ui.py [--chunks 100000] [--queries 20] [--highlight-only]
"""
from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import doubles  # noqa: E402,F401  (the hash:64 test embedder, here and in the UI subprocess)
from search_ui import testing as ui  # noqa: E402

WORDS_PER_CHUNK = 90
CHUNKS_PER_DOC = 20
TOPICS = ["river", "mountain", "encoder", "library", "ocean", "capital", "network", "python", "music", "garden",
          "engine", "planet", "market", "language", "medicine", "history"]


def corpus(folder: Path, chunks: int, seed: int = 0) -> None:
    """Text files whose words come from one topic vocabulary each (so clusters exist) plus shared filler."""
    rng = random.Random(seed)
    vocab = {t: [f"{t}{i}" for i in range(300)] + [t] * 40 for t in TOPICS}
    filler = [f"w{i}" for i in range(3000)]
    n_docs = max(1, chunks // CHUNKS_PER_DOC)
    for d in range(n_docs):
        topic = TOPICS[d % len(TOPICS)]
        paras = []
        for _ in range(CHUNKS_PER_DOC):
            words = [rng.choice(vocab[topic]) if rng.random() < 0.5 else rng.choice(filler)
                     for _ in range(WORDS_PER_CHUNK)]
            paras.append(" ".join(words) + ".")
        sub = folder / topic
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"doc{d:06d}.txt").write_text(f"Title: {topic} document {d}\n\n" + "\n\n".join(paras) + "\n")


def build(db: Path, chunks: int) -> float:
    from indexer import Index, IndexOptions, build_index

    if (db / "metadata.sqlite").is_file():
        return 0.0
    folder = db.parent / f"corpus-{chunks}"
    if not folder.is_dir():
        corpus(folder, chunks)
    start = time.perf_counter()
    build_index(folder, db, {"hash": "hash:64"}, IndexOptions(chunk_tokens=100, overlap=0, progress=True,
                                                             commit_chunks=50000, commit_growth=1.0))
    with Index.open(db) as idx:
        print(f"built {idx.status(check=False).n_chunks} chunks in {time.perf_counter() - start:.0f} s", flush=True)
    return time.perf_counter() - start


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def highlight_cost(out: Path, source: str | None, queries: int) -> tuple[str, list[float], int]:
    """Seconds to choose the highlighted passages of one results page (k=10) when no hit shares a query word.

    The worst case of the highlighter: every hit goes to the semantic fallback, which embeds at most
    ``SEMANTIC_BUDGET`` windows in one call (plus the query); a fresh cache per page, as for a new query.
    The hits are chunks of the bundled sample PEPs (real prose, 400-token chunks; ranked by hash:64, which
    costs nothing), so the windows are as long as a user's.
    """
    from indexer import Index, IndexOptions, build_index, load_embedder, resolve_source, sample_docs_path
    from search_ui.passages import PassageCache, page_passages

    db = out / "ui-peps.l2v"
    if not (db / "metadata.sqlite").is_file():
        build_index(sample_docs_path(), db, {"hash": "hash:64"}, IndexOptions(progress=False))
    source = resolve_source(source)
    encoder = load_embedder(source)
    times, embedded = [], []
    real = encoder.encode_documents

    def counting(texts):
        embedded.append(len(texts))
        return real(texts)

    encoder.encode_documents = counting
    with Index.open(db) as idx:
        page_passages([h.text for h in idx.search("warm up", k=10)], "warm up", encoder, None, PassageCache())
        embedded.clear()
        for i in range(queries):
            query = f"zeppelin quarterback xylophone {i}"         # no word of the sample PEPs
            texts = [h.text for h in idx.search(query, k=10)]
            start = time.perf_counter()
            page_passages(texts, query, encoder, None, PassageCache())
            times.append(time.perf_counter() - start)
    return Path(source).name, times, max(embedded, default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    parser.add_argument("--highlight-encoder", default=None, metavar="SOURCE",
                        help="Encoder of the highlighting row [default: the bundled one].")
    parser.add_argument("--highlight-only", action="store_true", help="Only the highlighting row (no browser).")
    args = parser.parse_args()
    if args.highlight_only:
        args.out.mkdir(parents=True, exist_ok=True)
        print_highlight(args)
        return
    if ui.browser_missing():
        sys.exit(f"bench_ui: {ui.browser_missing()}")
    db = args.out / f"ui-{args.chunks}.l2v"
    args.out.mkdir(parents=True, exist_ok=True)
    built = build(db, args.chunks)
    from indexer import Index

    with Index.open(db) as idx:
        n_chunks = idx.status(check=False).n_chunks
    (db / "ui_cache.sqlite").unlink(missing_ok=True)       # time the first cluster map, not a cached one
    port = ui.free_port()
    proc = ui.start_ui(db, port, args.out / "bench_ui.log")
    driver = ui.make_driver(tempfile.mkdtemp(prefix="l2v-bench-chromium-"))
    rng = random.Random(1)
    try:
        ui.open_page(driver, port, "search", "Type a query")
        ui.search(driver, "warm up the index and the encoder")       # first search loads FAISS: not measured
        times, server = [], []
        for i in range(args.queries):
            query = f"{rng.choice(TOPICS)} {rng.choice(TOPICS)}{rng.randrange(300)} q{i}"
            times.append(ui.search(driver, query))
            server.append(ui.server_ms(driver, query))
        start = time.perf_counter()
        ui.open_page(driver, port, "clusters", "chunks in", timeout=600)
        first_map = time.perf_counter() - start
        start = time.perf_counter()
        ui.open_page(driver, port, "clusters", "from cache", timeout=600)
        cached_map = time.perf_counter() - start
    finally:
        driver.quit()
        ui.stop_ui(proc)
    print(f"\nMachine: {platform.machine()}, {platform.processor() or 'cpu'}; index: {n_chunks:,} chunks, "
          f"HashEmbedder dim 64, FAISS Flat" + (f"; built in {built:.0f} s" if built else ""))
    print("\n| measure | chunks | n | p50 | p95 | max |\n|---|---:|---:|---:|---:|---:|")
    print(f"| search: Enter -> hits rendered (browser) | {n_chunks:,} | {len(times)} | "
          f"{statistics.median(times):.0f} ms "
          f"| {pct(times, 0.95):.0f} ms | {max(times):.0f} ms |")
    print(f"| of which `Index.search` on the server | {n_chunks:,} | {len(server)} | "
          f"{statistics.median(server):.0f} ms | {pct(server, 0.95):.0f} ms | {max(server):.0f} ms |")
    print(f"| clusters page, first open (k-means k=8 on all, PCA on 5k sample, labels) | {n_chunks:,} | 1 | "
          f"{first_map:.1f} s | | |")
    print(f"| clusters page, reopen (SQLite cache) | {n_chunks:,} | 1 | {cached_map:.1f} s | | |")
    print_highlight(args)


def print_highlight(args) -> None:
    from search_ui.highlight import SEMANTIC_CHARS

    name, times, most = highlight_cost(args.out, args.highlight_encoder, max(3, args.queries // 4))
    print(f"| highlighting of a page whose 10 hits (sample PEPs) share no query word (encoder {name}: query + "
          f"{most} windows of <= {SEMANTIC_CHARS} chars embedded) | - | {len(times)} | {statistics.median(times):.2f} s "
          f"| {pct(times, 0.95):.2f} s | {max(times):.2f} s |")


if __name__ == "__main__":
    main()
