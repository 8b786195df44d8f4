"""``l2v ui DB [--port 8501] [--host 127.0.0.1]``: start the Streamlit app on a database."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Optional

import typer

from indexer import DTYPE_HELP, local_url, remove_record, use_dtype, write_record

from .errors import UsageError

APP = Path(__file__).resolve().parent / "app.py"


def streamlit_command(db: Path, host: str, port: int, report: Path | None = None,
                      root: Path | None = None) -> list[str]:
    """The exact ``streamlit run`` command line (the database travels after ``--`` as a script argument)."""
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
           "--server.address", host, "--server.port", str(port), "--browser.gatherUsageStats", "false",
           "--client.toolbarMode", "minimal",
           "--", "--db", str(db)]
    return cmd + (["--report", str(report)] if report else []) + (["--root", str(root)] if root else [])


def confirmed_root(db: Path, root: Path | None) -> Path | None:
    """The folder the UI may read documents from: ``--root``, else the database's folder if the user
    confirms it on a terminal, else None (the UI then shows stored chunks only)."""
    if root is not None:
        root = root.expanduser().resolve()
        if not root.is_dir():
            raise UsageError(f"--root '{root}' is not a folder")
        return root
    if not sys.stdin.isatty():
        return None
    from indexer import Index

    with Index.open(db) as index:
        recorded = index.root
    if recorded and typer.confirm(f"Show documents from '{recorded}' (the folder this database says it indexed)?",
                                  default=False):
        return Path(recorded)
    return None


def existing_database(db: Path) -> Path:
    """``db`` resolved, or a one-line UsageError when it holds no l2v database (before anything starts)."""
    db = db.expanduser().resolve()
    if not (db / "metadata.sqlite").is_file():
        raise UsageError(f"'{db}' is not an l2v database (no metadata.sqlite); "
                         f"build it with `l2v index FOLDER --db {db}`")
    return db


def ui_cmd(
    db: Path = typer.Argument(..., metavar="DB", help="Database directory built by `l2v index`."),
    port: int = typer.Option(8501, "--port", help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this machine only)."),
    report: Optional[Path] = typer.Option(None, "--report",
                                          help="An `l2v eval` JSON report to show on the Index page."),
    root: Optional[Path] = typer.Option(None, "--root",
                                        help="Folder the UI may read documents from (a hit's surrounding text); "
                                             "it must contain the folder the database indexed. Without it, a "
                                             "terminal asks to confirm the recorded folder; else only stored "
                                             "chunks are shown."),
    dtype: Optional[str] = typer.Option(None, "--dtype", metavar="DTYPE", help=DTYPE_HELP),
) -> None:
    """Open the search UI (search, compare encoders, clusters, index status) in a browser."""
    use_dtype(dtype)
    serve_ui(db, port=port, host=host, report=report, root=root)


def serve_ui(db: Path, port: int = 8501, host: str = "127.0.0.1", report: Path | None = None,
             root: Path | None = None) -> None:
    """Run the Streamlit app on ``db`` until it stops; plain arguments so other commands (``l2v demo``) can
    call it — calling the typer command itself would pass its OptionInfo defaults as values."""
    db = existing_database(db)
    if not 0 < port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, got {port}")
    if report is not None and not report.is_file():
        raise UsageError(f"--report '{report}' does not exist")
    root = confirmed_root(db, root)
    typer.echo(f"L2V Search UI on http://{host}:{port}  (database {db}; Ctrl+C to stop)")
    env = {k: v for k, v in os.environ.items() if k != "L2V_UI_ROOT"}  # only this run's choice counts
    child = subprocess.Popen(streamlit_command(db, host, port, report, root),
                             env={**env, "L2V_UI_DB": str(db), **({"L2V_UI_ROOT": str(root)} if root else {})})

    def forward(signum, _frame) -> None:   # stopping `l2v ui` stops the server, never orphans it
        if child.poll() is None:
            child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    raise typer.Exit(code if code >= 0 else 0)


def serve_cmd(
    db: Path = typer.Argument(..., metavar="DB", help="Database directory built by `l2v index`."),
    port: int = typer.Option(8765, "--port", help="Port to serve on (0: a free one)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this machine only)."),
    dtype: Optional[str] = typer.Option(None, "--dtype", metavar="DTYPE", help=DTYPE_HELP),
) -> None:
    """Serve search, documents, status and OpenAI-compatible /v1/embeddings over HTTP, encoders kept loaded."""
    use_dtype(dtype)
    from .server import SearchService, make_server

    db = existing_database(db)
    if not 0 <= port < 65536:
        raise UsageError(f"--port must be between 0 and 65535, got {port}")
    typer.echo(f"loading the encoders of {db} ...", err=True)
    service = SearchService(db)
    try:
        server = make_server(service, host, port)
    except OSError as err:
        service.close()
        raise UsageError(f"cannot listen on {host}:{port} ({err.strerror}); pick another --port") from None
    address = local_url(host, server.server_address[1])
    typer.echo(f"l2v serve: {address}  (encoders: {', '.join(service.names)}; Ctrl+C stops)", err=True)
    try:
        write_record(db, address)   # `l2v search DB` finds this server through DB/serve.json
    except OSError as err:
        typer.echo(f"note: cannot write {db}/serve.json ({err.strerror or err}); `l2v search` will not find "
                   f"this server by itself (pass --server {address})", err=True)
    try:
        previous = signal.signal(signal.SIGTERM, _stop)   # `kill` is a clean exit too: the record goes
    except ValueError:   # not the main thread (an embedding program): it keeps its own handling
        previous = None
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        remove_record(db)
        server.server_close()
        service.close()


def _stop(signum, _frame) -> None:
    raise KeyboardInterrupt


def register(app: typer.Typer) -> None:
    app.command("ui")(ui_cmd)
    app.command("serve")(serve_cmd)
