"""The bundled encoder (data/encoder) and the README's main job (`l2v demo`)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from indexer.defaults import default_encoder_path, sample_docs_path

BUNDLED = default_encoder_path()
pytestmark = pytest.mark.skipif(BUNDLED is None, reason="data/encoder is not in this checkout")


def sts_spearman(encoder, data) -> float:
    from indexer.evaluation.metrics import spearman

    a = encoder.encode(data.first, normalize=True, batch_size=64)
    b = encoder.encode(data.second, normalize=True, batch_size=64)
    return spearman((a * b).sum(1), data.scores)


def test_bundled_encoder_beats_its_causal_base_on_sts_dev(shared_data):
    """The whole pipeline, checked: bidirectional + MNTP + SimCSE must beat the causal decoder."""
    from adaptation import Encoder
    from indexer.evaluation import sts

    data = sts.load(shared_data / "stsbenchmark" / "sts-dev.csv")
    shipped = Encoder.load(BUNDLED)
    assert [a.name for a in shipped.config.adapters] == ["mntp", "simcse"]
    causal_base = Encoder.from_pretrained(BUNDLED / "base", bidirectional=False)
    adapted, causal = sts_spearman(shipped, data), sts_spearman(causal_base, data)
    assert adapted > causal + 0.05, f"STS-B dev Spearman: bundled {adapted:.3f} vs causal base {causal:.3f}"


def test_bundled_encoder_is_small_and_self_contained():
    size = sum(p.stat().st_size for p in BUNDLED.rglob("*") if p.is_file())
    assert size <= 60 * 2**20, f"bundled encoder is {size / 2**20:.1f} MB"
    assert (BUNDLED.parent / "NOTICE").is_file()


def test_demo_indexes_and_searches_offline(tmp_path):
    """`l2v demo --no-ui` on a few of the bundled documents, with the bundled encoder."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("pep-0020.rst", "pep-0572.rst", "pep-0515.rst"):
        shutil.copy(sample_docs_path() / name, docs / name)
    code = "import sys; from adaptation.cli import main; sys.argv = ['l2v'] + sys.argv[1:]; main()"
    run = subprocess.run([sys.executable, "-c", code, "demo", "--no-ui", "--docs", str(docs), "--db",
                          str(tmp_path / "demo.l2v"), "--query", "walrus operator := assignment expressions"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    hits = [line.split()[1] for line in run.stdout.splitlines() if line.startswith("  ")]
    assert len(hits) == 5 and set(hits) <= {"pep-0020.rst", "pep-0572.rst", "pep-0515.rst"}
    assert hits[0] == "pep-0572.rst"  # hybrid search finds the walrus PEP first
    again = subprocess.run([sys.executable, "-c", code, "demo", "--no-ui", "--docs", str(docs), "--db",
                            str(tmp_path / "demo.l2v")], capture_output=True, text=True, timeout=300)
    assert "0 added, 0 changed, 3 unchanged" in again.stdout
