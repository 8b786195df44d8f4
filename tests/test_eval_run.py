"""The evaluation end to end on a tiny random encoder: library API, ``l2v eval`` and the JSON report."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from adaptation import Encoder
from adaptation.tiny import build_tiny_decoder
from adaptation.evaluation import EvalSettings, EncoderSpec, evaluate, load_report, to_rows
from adaptation.evaluation.cli import register
from adaptation.evaluation.errors import DataFormatError, EvaluationError
from adaptation.evaluation.report import to_markdown

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is absent (evaluation sets not available)")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and on a busy 2-core box 2 threads run ~10x slower."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_encoders(tmp_path_factory):
    """Two saved tiny encoders with different random weights (short max_length keeps runs fast)."""
    root = tmp_path_factory.mktemp("eval-encoders")
    out = []
    for seed in (0, 1):
        base = build_tiny_decoder(root / f"base{seed}", "llama", seed=seed)
        out.append(Encoder.from_pretrained(base, max_length=48).save(root / f"enc{seed}"))
    return out


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("noop")(lambda: None)  # a second command keeps 'eval' a named sub-command
    register(app)
    return app


def test_identical_query_and_document_texts_retrieve_perfectly(tiny_encoders, tmp_path):
    """Plumbing check with a known answer: with no instruction, a query equal to its document is its top hit."""
    root = tmp_path / "echo"
    (root / "qrels").mkdir(parents=True)
    texts = [f"document number {i} talks about topic {i * 7 % 13} and item {i}" for i in range(30)]
    (root / "corpus.jsonl").write_text("\n".join(json.dumps({"_id": f"d{i}", "title": "", "text": t})
                                                 for i, t in enumerate(texts)), encoding="utf-8")
    (root / "queries.jsonl").write_text("\n".join(json.dumps({"_id": f"q{i}", "text": t})
                                                  for i, t in enumerate(texts[:10])), encoding="utf-8")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" +
                                             "".join(f"q{i}\td{i}\t1\n" for i in range(10)), encoding="utf-8")
    report = evaluate([str(tiny_encoders[0])], [f"retrieval:{root}"],
                      EvalSettings(instructions={"retrieval": ""}))
    result = report.results["enc0"]["retrieval:echo"]
    assert result.metrics == pytest.approx({"ndcg@10": 1.0, "mrr@10": 1.0, "recall@100": 1.0})
    assert result.details["documents"] == 30 and result.details["instruction"] == ""
    with_instruction = evaluate([str(tiny_encoders[0])], [f"retrieval:{root}"], EvalSettings())
    assert with_instruction.tasks[0]["instruction"] != ""  # default instruction recorded and used for queries


def test_sts_and_clustering_scores_follow_the_data(tiny_encoders, tmp_path):
    """Identical pairs scored 5 and unrelated pairs 0 must give a positive correlation; labels = text clusters."""
    rng = np.random.default_rng(0)
    words = ["river", "mountain", "library", "ocean", "protein", "capital", "network", "summit"]
    lines = []
    for i in range(30):
        a = " ".join(rng.choice(words, 5))
        same = i % 2 == 0
        b = a if same else " ".join(rng.choice(["cat", "dog", "1", "2", "2024", "door"], 5))
        lines.append(f"{5 if same else 0}\t{a}\t{b}")
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = evaluate([str(tiny_encoders[0])], [f"sts:{path}"], EvalSettings())
    result = report.results["enc0"][report.tasks[0]["key"]]
    assert result.main_metric == "cosine_spearman" and result.main_score > 0.5
    assert result.details["format"] == "score-s1-s2" and result.details["pairs"] == 30


@needs_data
def test_command_on_all_four_shared_tasks_writes_report(tiny_encoders, tmp_path):
    out = tmp_path / "report.json"
    args = ["eval", f"first={tiny_encoders[0]}", str(tiny_encoders[1]),
            "--task", f"sts:{DATA / 'stsbenchmark' / 'sts-test.csv'}",
            "--task", f"retrieval:{DATA / 'scifact'}",
            "--task", f"classification:{DATA / 'banking77'}",
            "--task", f"clustering:{DATA / 'banking77'}",
            "--limit", "16", "--corpus-sample", "8", "--samples-per-label", "1", "--experiments", "2",
            "--clustering-runs", "2", "--batch-size", "16", "--seed", "7",
            "--instruction", "clustering=Identify the intent of the banking query:", "--out", str(out)]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    assert "sts:STSBenchmark (sts-test)" in result.output and "first" in result.output and "*" in result.output

    data = json.loads(out.read_text())
    qrels = (DATA / "scifact" / "qrels" / "test.tsv").read_text().splitlines()[1:]
    judged = len({line.split("\t")[1] for line in qrels if line.strip()})
    assert data["format"] == "l2v-eval-report/1"
    assert data["settings"]["limit"] == 16 and data["settings"]["seed"] == 7
    assert data["settings"]["instructions"] == {"clustering": "Identify the intent of the banking query:"}
    assert {"torch", "transformers", "numpy", "scikit-learn"} <= set(data["versions"])
    assert [t["key"] for t in data["tasks"]] == ["sts:STSBenchmark (sts-test)", "retrieval:SciFact",
                                                 "classification:Banking77Classification", "clustering:banking77"]
    sources = {t["type"]: t["instruction_source"] for t in data["tasks"]}
    assert sources == {"sts": "dataset:STSBenchmark", "retrieval": "dataset:SciFact",
                       "classification": "dataset:Banking77Classification", "clustering": "override"}
    assert [e["name"] for e in data["encoders"]] == ["first", "enc1"]
    assert data["encoders"][0]["fingerprint"] != data["encoders"][1]["fingerprint"]
    for name in ("first", "enc1"):
        res = data["results"][name]
        assert res["sts:STSBenchmark (sts-test)"]["details"]["pairs"] == 16
        ret = res["retrieval:SciFact"]
        assert ret["details"]["queries"] == 16 and ret["details"]["subsampled"]
        assert ret["details"]["documents"] == judged + 8  # every judged SciFact test document + the sample
        assert set(ret["metrics"]) == {"ndcg@10", "mrr@10", "recall@100"}
        cls = res["classification:Banking77Classification"]
        assert cls["details"]["experiments"] == 2 and cls["details"]["test_texts"] == 16
        assert 0.0 <= cls["metrics"]["f1_macro"] <= 1.0
        assert res["clustering:banking77"]["details"]["texts"] == 16
        for task in res.values():
            assert 0.0 <= task["main_score"] <= 1.0 or task["main_metric"] == "cosine_spearman"

    report = load_report(out)
    rows = to_rows(out)
    assert [r["task"] for r in rows] == [t["key"] for t in data["tasks"]]
    for row in rows:
        scores = {n: row[n] for n in ("first", "enc1")}
        assert row["best"] == [n for n, v in scores.items() if v == max(scores.values())]
    assert len(report.to_rows(all_metrics=True)) > len(rows)
    assert "**" in to_markdown(report)


def test_bad_inputs_give_one_line_errors(tiny_encoders, tmp_path):
    with pytest.raises(EvaluationError, match="TYPE:PATH"):
        evaluate([str(tiny_encoders[0])], ["bogus:/x"])
    with pytest.raises(EvaluationError, match="unknown task type"):
        evaluate([str(tiny_encoders[0])], [f"sts:{tmp_path}"], EvalSettings(instructions={"sts2": "x"}))
    with pytest.raises(DataFormatError, match="not found"):
        evaluate([str(tiny_encoders[0])], [f"sts:{tmp_path / 'missing.tsv'}"])
    (tmp_path / "r.json").write_text("{}")
    with pytest.raises(DataFormatError, match="not an l2v evaluation report"):
        load_report(tmp_path / "r.json")
    done = subprocess.run([sys.executable, "-c", "from search_ui.l2v import main; main()", "eval",
                           str(tiny_encoders[0]), "--task", f"retrieval:{tmp_path}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == DataFormatError.exit_code
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path}: not a BEIR folder, missing corpus.jsonl, queries.jsonl, qrels/test.tsv")
    assert "Traceback" not in done.stderr
