"""``l2v index``, ``l2v search``, ``l2v status``: a thin layer over ``build_index`` and ``Index``."""
from __future__ import annotations

import json
import math
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer

from adaptation.hardware import DTYPE_HELP, use_dtype

from .query import DEFAULT_HYBRID
from .remote import SEARCH_LIMITS
from adaptation.terminal import terminal_safe


@contextmanager
def reported_interrupt() -> Iterator[None]:
    """Ctrl-C during indexing: one line saying what was kept, exit 130 (typer alone exits 130 in silence)."""
    from .interrupts import IndexInterrupted

    try:
        yield
    except IndexInterrupted as stop:
        typer.echo(str(stop), err=True)
        raise typer.Exit(130) from None
    except KeyboardInterrupt:   # before indexing began (an encoder loading), or after its last commit
        typer.echo("interrupted, run again to resume", err=True)
        raise typer.Exit(130) from None


def index_cmd(
    folder: Path = typer.Argument(..., metavar="FOLDER", help="Folder of documents to index."),
    db: Path = typer.Option(..., "--db", help="Database directory (created if missing), e.g. my.l2v"),
    encoder: Optional[str] = typer.Option(None, "--encoder", "-e",
                                          help="Saved encoder dir, bundled encoder name (l2v encoders), LLM2Vec checkpoint "
                                               "dir, GGUF file or hub id. "
                                               "Default: the encoders already in --db; for a new database the "
                                               "bundled default encoder (l2v-smollm2)."),
    name: Optional[str] = typer.Option(None, "--name", help="Name of this encoder in the database (default: dir name)."),
    include: list[str] = typer.Option([], "--include", metavar="GLOB", help="Glob of files to index, repeatable ('*.md', 'docs/**')."),
    exclude: list[str] = typer.Option([], "--exclude", metavar="GLOB", help="Glob of files/folders to leave out, repeatable ('build/**')."),
    chunk_tokens: Optional[int] = typer.Option(None, "--chunk-tokens", help="Max tokens per chunk [default: 400]."),
    overlap: Optional[int] = typer.Option(None, "--overlap", help="Tokens shared by consecutive chunks [default: 64]."),
    faiss_factory: Optional[str] = typer.Option(None, "--faiss", help="FAISS factory: Flat (exact, default), "
                                                "'IVF1024,Flat', 'HNSW32', 'IVF1024,PQ32'."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Delete the database contents and index from scratch."),
    hidden: bool = typer.Option(False, "--hidden", help="Also index hidden files and folders (.name)."),
    max_mb: float = typer.Option(50.0, "--max-mb", help="Skip files larger than this many megabytes."),
    ray: Optional[str] = typer.Option(None, "--ray", metavar="ADDRESS",
                                      help="Embed on a Ray cluster with Ray Data actors: 'local' starts one here, "
                                           "'auto' joins the one `ray start` runs, or HOST:PORT / ray://HOST:10001. "
                                           "Needs pip install 'l2v-search[ray]'."),
    ray_actors: Optional[int] = typer.Option(None, "--ray-actors", min=1,
                                             help="With --ray: actors (encoder copies) [default: one per GPU, else 2]."),
    ray_cpus: float = typer.Option(1.0, "--ray-cpus-per-actor", min=0.0,
                                   help="With --ray: CPUs each actor reserves (fractions allowed)."),
    ray_gpus: Optional[float] = typer.Option(None, "--ray-gpus-per-actor", min=0.0,
                                             help="With --ray: GPUs each actor reserves [default: 1 if the cluster "
                                                  "has GPUs, else 0]."),
    dtype: Optional[str] = typer.Option(None, "--dtype", metavar="DTYPE", help=DTYPE_HELP),
) -> None:
    """Index a folder (again): only new or changed files are read and embedded; repairs a damaged FAISS file."""
    use_dtype(dtype)
    from .build import IndexOptions, build_index
    from .embedding.embedders import default_name, resolve_source
    from .errors import UsageError, storage_errors
    from .store.location import inspect_database

    if name and not encoder:
        raise UsageError("--name needs --encoder (it names the encoder being added)")
    if not math.isfinite(max_mb) or max_mb < 0:
        raise UsageError(f"--max-mb {max_mb}: give a finite number of megabytes >= 0 (files larger are skipped)")
    # a --db that is not ours to write is refused here, before an encoder loads (build_index checks it again)
    state = inspect_database(db.expanduser().resolve(), folder.expanduser().resolve())
    encoders = None
    if encoder:
        source = resolve_source(encoder)
        encoders = {name or default_name(source): source}
    elif state.kind == "creating" and state.encoders:
        typer.echo(f"'{db}' was left half-created by an interrupted run; completing it with "
                   f"{', '.join(f'{n} ({s})' for n, s in state.encoders.items())}", err=True)
    elif not state.encoders and state.encoders is not None:   # a new database: say which encoder it gets
        source = resolve_source(None)
        encoders = {default_name(source): source}
        typer.echo(f"new database: indexing with the default encoder '{default_name(source)}' ({source}); "
                   "pass --encoder to choose another", err=True)
    if ray is None and (ray_actors or ray_gpus is not None):
        raise UsageError("--ray-actors / --ray-gpus-per-actor need --ray ADDRESS (or --ray local)")
    ray_options = None
    if ray is not None:
        from .embedding.ray_engine import RayOptions

        ray_options = RayOptions(address=None if ray == "local" else ray, actors=ray_actors, cpus_per_actor=ray_cpus,
                                 gpus_per_actor=ray_gpus)
    options = IndexOptions(include=include, exclude=exclude, chunk_tokens=chunk_tokens, overlap=overlap,
                           factory=faiss_factory, rebuild=rebuild, hidden=hidden, max_bytes=int(max_mb * (1 << 20)),
                           ray=ray_options)
    with storage_errors(), reported_interrupt():
        report = build_index(folder, db, encoders, options)
    for name, why in report.repaired.items():
        typer.echo(terminal_safe(f"repaired encoder {name}: {why}"), err=True)
    embedded = ", ".join(f"{k}: {v}" for k, v in report.chunks_embedded.items())
    if report.embedding_workers:
        embedded += " (" + ", ".join(f"{k} on {v} Ray actors" for k, v in report.embedding_workers.items()) + ")"
    typer.echo(f"{db}: {report.docs_added} added, {report.docs_changed} changed, {report.docs_deleted} deleted, "
               f"{report.docs_unchanged} unchanged, {report.docs_skipped} skipped; chunks +{report.chunks_added} "
               f"-{report.chunks_removed}; embedded {embedded} in {report.seconds:.1f}s")


def search_cmd(
    db: Path = typer.Argument(..., metavar="DB", help="Database directory built by `l2v index`."),
    query: str = typer.Argument(..., metavar="QUERY", help="What to look for."),
    encoder: Optional[str] = typer.Option(None, "--encoder", "-e", help="Encoder name in the database (default: first)."),
    instruction: Optional[str] = typer.Option(None, "--instruction", "-i",
                                              help="Query instruction (default: the encoder's saved one)."),
    task: Optional[str] = typer.Option(None, "--task", "-t",
                                       help="Use the instruction the encoder was trained with for this task "
                                            "(`l2v encoder info` lists them), e.g. similar."),
    k: int = typer.Option(10, "-k", "--top-k", help="Number of results (documents, or chunks with --chunks)."),
    chunks: bool = typer.Option(False, "--chunks", help="One result per chunk instead of per document."),
    hybrid: bool = typer.Option(DEFAULT_HYBRID, "--hybrid/--dense",
                                help="Fuse with BM25 (SQLite FTS5): both scores scaled to 0-1 and weighed "
                                     "(the default everywhere); --dense: the encoder alone."),
    dense_weight: Optional[float] = typer.Option(None, "--dense-weight", min=0.0, max=1.0,
                                                 help="With --hybrid: the dense ranking's share of the fusion, the "
                                                      "rest is BM25's (default: the encoder's recorded weight); "
                                                      "0 is --keyword."),
    keyword: bool = typer.Option(False, "--keyword",
                                 help="Rank by words alone (BM25 over SQLite FTS5): loads no model, answers at once."),
    nprobe: Optional[int] = typer.Option(None, "--nprobe", min=1, max=SEARCH_LIMITS.nprobe,
                                         help="IVF indexes: lists to visit (more = higher recall, slower)."),
    ef_search: Optional[int] = typer.Option(None, "--ef-search", min=1, max=SEARCH_LIMITS.ef_search,
                                            help="HNSW indexes: candidate list size (more = higher recall, slower)."),
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON."),
    path: Optional[str] = typer.Option(None, "--path", help="Only documents whose relative path matches this glob."),
    types: list[str] = typer.Option([], "--type", metavar="TYPE", help="Only these file types (extension), repeatable."),
    server: Optional[str] = typer.Option(None, "--server", metavar="URL",
                                         help="Ask a running `l2v serve DB` (encoders already loaded) instead of "
                                              "loading them here, e.g. http://127.0.0.1:8765. Without it, a "
                                              "running `l2v serve` of DB is found and used by itself."),
    dtype: Optional[str] = typer.Option(None, "--dtype", metavar="DTYPE", help=DTYPE_HELP),
) -> None:
    """Search a database: documents ranked by their best passage (or chunks with --chunks)."""
    use_dtype(dtype)
    from .errors import UsageError

    if not query.strip():
        raise UsageError("the query is empty; give the words to look for, e.g. l2v search DB \"walrus operator\"")
    body = {"query": query, "encoder": encoder, "k": k, "instruction": instruction, "task": task, "hybrid": hybrid,
            "dense_weight": dense_weight, "nprobe": nprobe, "ef_search": ef_search, "path": path,
            "types": list(types), "chunks": chunks}
    if keyword:
        body["keyword"] = True
    started = time.perf_counter()
    results, via = _search_remote(db, body, server, auto=not keyword)
    if results is None:
        results = _search_here(db, body)
    elapsed = time.perf_counter() - started
    if as_json:
        typer.echo(json.dumps(results, indent=2))
        return
    if not results:
        typer.echo("no results")
    for r in results:
        typer.echo(_format_hit(r) if chunks else _format_document(r))
    unit = "chunks" if chunks else "documents"
    typer.echo(f"({len(results)} {unit} in {elapsed * 1000:.0f} ms{' via ' + via if via else ''})", err=True)


def _search_remote(db: Path, body: dict, server: str | None, auto: bool) -> tuple[list[dict] | None, str | None]:
    """(results, server URL) from ``--server``, or from a running `l2v serve` of ``db`` that its
    ``serve.json`` names (``auto``; a keyword search loads no model, so it never needs one); (None, None)
    to search in-process. A server that vanished since its record was written is skipped, not an error."""
    from .remote import ServerUnreachable, post_json, search_results
    from .serve_record import live_server

    url = server or (live_server(db.expanduser()) if auto else None)
    if url is None:
        return None, None
    try:
        answer = post_json(url, "/search", {**body, "db": str(db.expanduser().resolve())})
    except ServerUnreachable:
        if server:
            raise
        return None, None
    return search_results(answer, body["chunks"], url), url


def _search_here(db: Path, body: dict) -> list[dict]:
    """The same search the server runs, in this process (results as dicts, as the server returns them)."""
    from .errors import storage_errors
    from .index import Index
    from .remote import run_search

    with storage_errors(), Index.open(db) as idx:
        return run_search(idx, **body)


def _snippet(text: str, width: int) -> str:
    return terminal_safe(" ".join(text.split())[:width])


def _format_hit(h: dict) -> str:
    """File names, titles and text are the documents': printed with their control characters escaped."""
    return (f"{h['rank']:>3}. {h['score']:.4f}  {terminal_safe(h['path'])}  [{h['start']}:{h['end']}]  "
            f"{terminal_safe(h['title'])}\n     {_snippet(h['text'], 200)}")


def _format_document(d: dict) -> str:
    best = d["best"]
    lines = [f"{d['rank']:>3}. {d['score']:.4f}  {terminal_safe(d['path'])}  {terminal_safe(d['title'])}",
             f"     [{best['start']}:{best['end']}] {_snippet(best['text'], 200)}"]
    lines += [f"     also {p['score']:.4f} [{p['start']}:{p['end']}] {_snippet(p['text'], 100)}" for p in d["passages"]]
    return "\n".join(lines)


def status_cmd(
    db: Path = typer.Argument(..., metavar="DB", help="Database directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Documents, chunks, encoders, skipped files, last run and consistency problems of a database."""
    from .errors import storage_errors
    from .index import Index

    with storage_errors(), Index.open(db) as idx:
        st = idx.status()
    if as_json:
        typer.echo(json.dumps(st.to_dict(), indent=2, default=str))
        return
    typer.echo(f"{st.path}  (folder {terminal_safe(st.root)})")
    typer.echo(f"documents {st.n_documents}, chunks {st.n_chunks} ({st.chunk_tokens} tokens, overlap {st.overlap})")
    for e in st.encoders:
        pending = f", {e.n_pending} pending (run `l2v index` again)" if e.n_pending else ""
        typer.echo(terminal_safe(f"encoder {e.name}: dim {e.dim}, {e.factory}, {e.n_vectors} vectors{pending}, "
                                 f"fingerprint {e.fingerprint}, source {e.source}"))
    if st.last_run:
        r = st.last_run
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.started_at))
        typer.echo(f"last run {when}: {r.status}, +{r.docs_added} ~{r.docs_changed} -{r.docs_deleted} docs, "
                   f"{r.chunks_embedded} chunks embedded")
    if st.skipped:
        typer.echo(f"skipped {len(st.skipped)} files:")
        for s in st.skipped:
            typer.echo(terminal_safe(f"  {s.path}: {s.reason}" + (f" ({s.detail})" if s.detail else "")))
    if st.problems:
        typer.echo("CONSISTENCY PROBLEMS (run `l2v index` again to repair):")
        for p in st.problems:
            typer.echo(f"  {terminal_safe(p)}")
    else:
        typer.echo("consistency: ok")


def register(app: typer.Typer) -> None:
    app.command("index")(index_cmd)
    app.command("search")(search_cmd)
    app.command("status")(status_cmd)
