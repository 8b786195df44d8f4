"""`l2v demo` — the README's main command — indexes and then really serves the UI.

Only ``--no-ui`` used to be tested, and the UI path crashed on a typer default leaking into
``l2v ui``'s function. This runs the command as a user does (with the suite's hash encoder, so
it needs no model download), waits for HTTP 200 on the page and on Streamlit's health check, stops it.
"""
from __future__ import annotations

import shutil
import urllib.request

from indexer.defaults import sample_docs_path
from search_ui import testing as ui


def test_demo_serves_the_ui_then_stops(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("pep-0020.rst", "pep-0572.rst"):
        shutil.copy(sample_docs_path() / name, docs / name)
    port = ui.free_port()
    log = tmp_path / "demo.log"
    proc = ui.start_l2v(["demo", "--encoder", "hash:32", "--docs", str(docs), "--db", str(tmp_path / "demo.l2v"),
                         "--port", str(port)], port, log, timeout=180)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
        assert "2 added" in log.read_text()
    finally:
        ui.stop_ui(proc)
    assert proc.returncode is not None
    assert "OptionInfo" not in log.read_text() and "Traceback" not in log.read_text()
