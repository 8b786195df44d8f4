"""A model directory is data, never code: no transformers loader may run (or offer to run) its Python."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO

from adaptation.errors import UnsupportedModelError

PACKAGES = ("adaptation", "indexer", "search_ui")
EVIL_CODE = """
from pathlib import Path
Path({marker!r}).write_text("custom code ran")
from transformers import PretrainedConfig
class EvilConfig(PretrainedConfig):
    model_type = "evil_model"
"""


def _evil_model_dir(tmp_path: Path) -> tuple[Path, Path]:
    """An unknown model_type whose auto_map points at a Python file that leaves a marker when imported."""
    model, marker = tmp_path / "evil-model", tmp_path / "MARKER"
    model.mkdir()
    auto_map = {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel",
                "AutoModelForCausalLM": "evil.EvilModel", "AutoTokenizer": ["evil.EvilTokenizer", None]}
    (model / "config.json").write_text(json.dumps({"model_type": "evil_model", "auto_map": auto_map,
                                                   "architectures": ["EvilModel"], "hidden_size": 8}))
    (model / "tokenizer_config.json").write_text(json.dumps({"auto_map": auto_map}))
    (model / "evil.py").write_text(EVIL_CODE.format(marker=str(marker)))
    return model, marker


def _l2v(*args: str) -> subprocess.CompletedProcess:
    code = "import sys; from search_ui.l2v import main; sys.argv = ['l2v'] + sys.argv[1:]; main()"
    env = {**os.environ, "PYTHONPATH": os.environ["PYTHONPATH"], "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=300, env=env)


def test_an_unknown_model_type_with_custom_code_is_refused_in_one_line_and_never_run(tmp_path):
    model, marker = _evil_model_dir(tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nRivers flow to the sea.\n")
    for args in (("encoder", "embed", str(model), "some text"),
                 ("index", str(docs), "--db", str(tmp_path / "db"), "--encoder", str(model))):
        done = _l2v(*args)
        assert done.returncode == UnsupportedModelError.exit_code, (args, done.stderr[-2000:])
        assert "Do you wish to run the custom code" not in done.stdout + done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "model type 'evil_model' is not supported" in lines[0], done.stderr[-2000:]
        assert not marker.exists()


def test_every_transformers_loader_call_refuses_remote_code_explicitly():
    """``Auto*.from_pretrained`` without ``trust_remote_code=False`` would prompt on a terminal."""
    missing = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "from_pretrained" and isinstance(node.func.value, ast.Name)
                        and node.func.value.id.startswith("Auto")):
                    continue
                flag = next((k.value for k in node.keywords if k.arg == "trust_remote_code"), None)
                if not (isinstance(flag, ast.Constant) and flag.value is False):
                    missing.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert missing == []
