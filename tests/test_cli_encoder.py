"""`l2v encoder info|embed`: the CLI as a user runs it (a real subprocess)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np


def l2v(*args: str) -> subprocess.CompletedProcess:
    code = "import sys; from search_ui.l2v import main; sys.argv = ['l2v'] + sys.argv[1:]; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


def test_embed_info_and_similarities(tiny_encoder, tmp_path):
    encoder = tiny_encoder("llama")
    saved = encoder.save(tmp_path / "enc")
    info = l2v("encoder", "info", str(saved))
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["model_type"] == "llama"

    out = l2v("encoder", "embed", str(saved), "a cat sat", "the dog slept")
    assert out.returncode == 0, out.stderr
    vectors = np.array(json.loads(out.stdout)["embeddings"])
    np.testing.assert_allclose(vectors, encoder.encode(["a cat sat", "the dog slept"]), atol=1e-5)

    sims = l2v("encoder", "embed", str(saved), "a cat sat", "the dog slept", "--similarities", "-i", "Find:")
    assert sims.returncode == 0, sims.stderr
    first_row = [float(x) for x in sims.stdout.splitlines()[0].split()[-2:]]
    assert abs(first_row[0] - 1.0) < 1e-4 and first_row[1] < 1.0


def test_user_mistakes_are_one_line_errors(tmp_path):
    missing = l2v("encoder", "info", str(tmp_path / "nope"))
    assert missing.returncode != 0
    assert missing.stderr.strip().startswith("error:") and "Traceback" not in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    bad = l2v("encoder", "embed", str(tmp_path / "nope"), "text")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and "no such directory" in bad.stderr


def test_bad_option_values_are_usage_errors_not_tracebacks(tmp_path):
    """typer validates option values through its vendored click: still a usage message and exit 2."""
    for args in (("search", str(tmp_path), "query", "-k", "abc"), ("search", str(tmp_path), "query", "--nprobe", "0"),
                 ("search", str(tmp_path), "query", "--dense-weight", "2")):
        done = l2v(*args)
        assert done.returncode == 2, (args, done.stderr[-500:])
        assert "Traceback" not in done.stderr and "Invalid value" in done.stderr, done.stderr[-500:]


def test_help_shows_defaults_and_extras_written_in_the_help_text():
    import os

    code = "import sys; from search_ui.l2v import main; sys.argv = ['l2v'] + sys.argv[1:]; main()"
    out = subprocess.run([sys.executable, "-c", code, "index", "--help"], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())                                  # help wraps at 80 columns
    assert "Max tokens per chunk [default: 400]." in text                # not eaten as markup
    assert "pip install 'l2v-search[ray]'" in text
    assert "<bool>" not in text and "--include GLOB" in text and "FOLDER" in text


def test_the_dtype_an_encoder_runs_in_is_printed_once_with_its_reason(tiny_encoder, tmp_path):
    """Issue 20: the dtype chosen per machine was never shown; every command now says it on stderr."""
    saved = tiny_encoder("llama").save(tmp_path / "enc")
    done = l2v("encoder", "embed", str(saved), "a cat sat")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("encoder enc:")]
    assert lines == ["encoder enc: float32 on cpu (L2V_DTYPE=float32)"]   # conftest pins L2V_DTYPE for the suite
    assert json.loads(done.stdout)["dim"] > 0                             # stdout stays machine-readable
