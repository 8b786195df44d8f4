"""``l2v demo``: the README's main job — index the bundled sample folder, then open the UI.

Works offline with the bundled encoder; ``--encoder`` swaps in any other (saved dir,
LLM2Vec checkpoint or hub id). Indexing is incremental, so a second run starts at once.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

DEFAULT_QUERY = "Which PEP added the walrus operator (assignment expressions)?"


def default_db() -> Path:
    return Path(os.environ.get("L2V_HOME", "~/.cache/l2v-search")).expanduser() / "demo.l2v"


def demo_cmd(
    encoder: Optional[str] = typer.Option(None, "--encoder", "-e",
                                          help="Encoder dir, LLM2Vec checkpoint or hub id [default: the bundled one]."),
    docs: Optional[Path] = typer.Option(None, "--docs", help="Folder to index [default: the bundled sample PEPs]."),
    db: Optional[Path] = typer.Option(None, "--db", help="Database directory [default: ~/.cache/l2v-search/demo.l2v]."),
    port: int = typer.Option(8501, "--port", help="Port for the UI."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this machine only)."),
    no_ui: bool = typer.Option(False, "--no-ui", help="Index and run one sample search, without starting the UI."),
    query: str = typer.Option(DEFAULT_QUERY, "--query", help="The sample search printed with --no-ui."),
) -> None:
    """Index the sample documents with the bundled encoder (once), then open the search UI."""
    from indexer import IndexOptions, build_index
    from indexer.defaults import sample_docs_path
    from indexer.embedder import default_name, resolve_source

    from .errors import UsageError

    docs = docs or sample_docs_path()
    if docs is None or not Path(docs).is_dir():
        raise UsageError(f"document folder '{docs}' not found; pass --docs FOLDER")
    source = resolve_source(encoder)  # the bundled encoder when --encoder is not given
    name = default_name(source) if encoder else "l2v-small"
    db = (db or default_db()).expanduser().resolve()
    typer.echo(f"indexing {docs} with '{name}' into {db} (only new or changed files are embedded)")
    report = build_index(docs, db, {name: source}, IndexOptions(progress=True))
    typer.echo(f"{report.docs_added} added, {report.docs_changed} changed, {report.docs_unchanged} unchanged, "
               f"{report.docs_skipped} skipped in {report.seconds:.1f}s")
    if no_ui:
        from indexer import Index

        with Index.open(db) as index:
            typer.echo(f"\nsearch (hybrid: dense weight {index.hybrid_dense_weight(name):g} + BM25): {query}")
            for hit in index.search(query, encoder=name, k=5, hybrid=True):
                typer.echo(f"  {hit.score:.3f}  {hit.path}  {hit.title[:60]}")
        return
    from .cli import ui_cmd

    ui_cmd(db=db, port=port, host=host, report=None)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)
