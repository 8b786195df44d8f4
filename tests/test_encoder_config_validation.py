"""A malformed ``encoder_config.json`` or ``l2v adapt`` value is one line naming the file/option and the field
(issue 21, items 9 and 10), never a traceback, and an encoder's search preferences cannot break a database.

Real saved encoders (tiny random models and the reference fixtures' adapters), real SQLite databases built
with the suite's ``hash:DIM`` encoder, and the real ``l2v`` entry point for the one-line checks.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from adaptation import Encoder
from adaptation.config import CONFIG_NAME, EncoderConfig
from adaptation.errors import EncoderFormatError, UsageError
from adaptation.training.cli import build_config
from adaptation.training.errors import RunStateError
from adaptation.training.run import check_run_dir, validate
from indexer import Index, build_index

from indexer_helpers import hash_options, make_corpus
from l2v_doubles import HashEmbedder

REPO = Path(__file__).resolve().parents[1]
VALID = {"base_model": "some/base", "model_type": "llama", "max_length": 512, "dim": 64, "adapters": [],
         "format_version": 1}


def l2v(*args) -> subprocess.CompletedProcess:
    code = f"import sys\nsys.argv = ['l2v', *{[str(a) for a in args]!r}]\nfrom search_ui.l2v import main\nmain()\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)


def encoder_dir(path: Path, content: bytes | str | object) -> Path:
    """A folder whose encoder_config.json holds ``content`` (bytes as is, str as text, else as JSON)."""
    path.mkdir(parents=True, exist_ok=True)
    target = path / CONFIG_NAME
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


MALFORMED = {
    "not-utf8": (b'{"base_model": "\xff\xfe"}', "not UTF-8"),
    "root-list": ([], "JSON object, not a list"),
    "root-null": (None, "JSON object, not null"),
    "no-base": ({k: v for k, v in VALID.items() if k != "base_model"}, "'base_model' must be a non-empty string"),
    "int-base": ({**VALID, "base_model": 7}, "'base_model' must be a non-empty string"),
    "version-string": ({**VALID, "format_version": "2"}, "'format_version' must be an integer"),
    "adapters-not-list": ({**VALID, "adapters": "mntp"}, "'adapters' must be a list"),
    "adapter-not-object": ({**VALID, "adapters": [3]}, "adapters[0] must be an object"),
    "adapter-no-path": ({**VALID, "adapters": [{"name": "mntp"}]}, "adapters[0] field 'path'"),
    "adapter-up": ({**VALID, "adapters": [{"name": "mntp", "path": "../elsewhere"}]}, "inside the encoder directory"),
    "adapter-absolute": ({**VALID, "adapters": [{"name": "mntp", "path": "/tmp/x"}]}, "inside the encoder directory"),
    "max-length-negative": ({**VALID, "max_length": -1}, "'max_length' must be between 1"),
    "max-length-string": ({**VALID, "max_length": "512"}, "'max_length' must be an integer"),
    "dim-string": ({**VALID, "dim": "7"}, "'dim' must be an integer"),
    "weight-5": ({**VALID, "hybrid_dense_weight": 5}, "'hybrid_dense_weight' must be a number between 0 and 1"),
    "weight-nan": ('{"base_model": "b", "model_type": "llama", "hybrid_dense_weight": NaN}',
                   "'hybrid_dense_weight' must be a number between 0 and 1"),
    "bool-normalize": ({**VALID, "normalize": "yes"}, "'normalize' must be true or false"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_encoder_config_is_one_line_naming_the_file_and_field(tmp_path, case):
    content, expected = MALFORMED[case]
    directory = encoder_dir(tmp_path / case, content)
    with pytest.raises(EncoderFormatError) as refused:
        EncoderConfig.read(directory)
    message = str(refused.value)
    assert expected in message and str(directory / CONFIG_NAME) in message and "\n" not in message


def test_a_valid_config_still_reads_with_defaults_for_missing_fields(tmp_path):
    config = EncoderConfig.read(encoder_dir(tmp_path / "ok", {"base_model": "b", "model_type": "llama",
                                                              "hybrid_dense_weight": 1}))
    assert config.max_length == 512 and config.hybrid_dense_weight == 1.0 and config.adapters == []


def test_cli_reports_malformed_configs_in_one_line(tmp_path):
    for case in ("root-list", "version-string", "adapter-up"):
        directory = encoder_dir(tmp_path / case, MALFORMED[case][0])
        run = l2v("encoder", "info", directory)
        assert run.returncode == EncoderFormatError.exit_code and "Traceback" not in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1 and MALFORMED[case][1] in run.stderr


def test_a_dim_the_model_contradicts_is_refused_on_load(tiny_encoder, tmp_path):
    saved = tiny_encoder("llama").save(tmp_path / "enc")
    config = json.loads((saved / CONFIG_NAME).read_text())
    config["dim"] = 7
    (saved / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(EncoderFormatError, match=r"'dim' is 7, but the model .* hidden size 64"):
        Encoder.load(saved)


@pytest.mark.parametrize("how", ["dotdot", "symlink"])
def test_an_adapter_outside_the_encoder_directory_is_refused(published, tmp_path, how):
    """It used to load silently: whoever writes encoder_config.json could splice in weights from anywhere."""
    saved = Encoder.from_pretrained(published["llama-mntp"]).save(tmp_path / "enc")
    config = json.loads((saved / CONFIG_NAME).read_text())
    inside = saved / config["adapters"][0]["path"]
    outside = tmp_path / "outside-adapter"
    shutil.move(inside, outside)
    if how == "dotdot":
        config["adapters"][0]["path"] = "../outside-adapter"
        (saved / CONFIG_NAME).write_text(json.dumps(config))
    else:
        inside.symlink_to(outside, target_is_directory=True)
    with pytest.raises(EncoderFormatError, match="inside the encoder directory|outside the encoder directory"):
        Encoder.load(saved)


def test_a_bad_hybrid_dense_weight_is_refused_when_recorded_and_ignored_when_read(tmp_path):
    make_corpus(tmp_path / "docs", 3)

    class Weighted(HashEmbedder):
        @property
        def config(self):
            return {**super().config, "hybrid_dense_weight": 5}

    with pytest.raises(UsageError, match="hybrid_dense_weight"):
        build_index(tmp_path / "docs", tmp_path / "db", {"h": Weighted(dim=32)}, hash_options())
    assert not (tmp_path / "db").exists()
    build_index(tmp_path / "docs", tmp_path / "db", {"h": "hash:32"}, hash_options())
    con = sqlite3.connect(tmp_path / "db" / "metadata.sqlite")  # what an older l2v recorded
    con.execute("UPDATE encoders SET config = ?", (json.dumps({"hybrid_dense_weight": float("nan")}),))
    con.commit()
    con.close()
    with Index.open(tmp_path / "db") as idx:
        assert idx.hybrid_dense_weight("h") == 0.5
        assert idx.search("rivers", k=3, hybrid=True)  # every hybrid search used to raise


def _adapt_config(tmp_path: Path, base: Path, **values):
    data = tmp_path / "text.txt"
    data.write_text("One sentence.\nAnother sentence.\n")
    args = dict(base_model=str(base), out=str(tmp_path / "run"), steps="mntp", mntp_data=[str(data)],
                simcse_data=None, supervised_data=[], overrides={}, seed=0, dtype="float32",
                gradient_checkpointing=False, save_every=10, pooling=None, copy_base=False, mask_prob=0.2,
                mask_mode="80-10-10", mask_token=None, simcse_dropout=0.3, grad_cache_chunk=0, symmetric=False,
                lora_r=16, lora_alpha=32, lora_dropout=0.05, lora_targets=None)
    overrides = values.pop("overrides", {})
    args.update(values)
    args["overrides"] = overrides
    return build_config(**args)


@pytest.mark.parametrize("values,named", [
    ({"overrides": {"lr": "nan"}}, "--lr nan"), ({"overrides": {"lr": "inf"}}, "--lr inf"),
    ({"lora_r": 0}, "--lora-r 0"), ({"lora_alpha": 0}, "--lora-alpha 0"), ({"lora_dropout": float("nan")}, "--lora-dropout")])
def test_adapt_values_that_cannot_train_are_one_line(tiny_model_dir, tmp_path, values, named):
    with pytest.raises(UsageError) as refused:
        validate(_adapt_config(tmp_path, tiny_model_dir("llama"), **values))
    assert named in str(refused.value) and "\n" not in str(refused.value)


def test_adapt_out_naming_a_file_is_one_line(tiny_model_dir, tmp_path):
    (tmp_path / "run").write_text("not a folder")
    config = _adapt_config(tmp_path, tiny_model_dir("llama"))
    validate(config)
    with pytest.raises(RunStateError, match="is a file"):
        check_run_dir(config, resume=False)
    run = l2v("adapt", tiny_model_dir("llama"), "--out", tmp_path / "run", "--steps", "mntp", "--mntp-data",
              tmp_path / "text.txt", "--lr", "nan")
    assert run.returncode == 2 and "Traceback" not in run.stderr and "--lr nan" in run.stderr, run.stderr
    run = l2v("adapt", tiny_model_dir("llama"), "--out", tmp_path / "run", "--steps", "mntp", "--mntp-data",
              tmp_path / "text.txt", "--max-steps", "1")
    assert run.returncode == RunStateError.exit_code and "Traceback" not in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "is a file" in run.stderr
    assert (tmp_path / "run").read_text() == "not a folder"
