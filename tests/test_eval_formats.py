"""Parsing of every supported evaluation file format, task/encoder specs and instruction choice."""
import json
from pathlib import Path

import numpy as np
import pytest

from adaptation.evaluation import classification, clustering, instructions, retrieval, sts
from adaptation.evaluation.base import EvalSettings
from adaptation.evaluation.errors import DataFormatError, EvaluationError
from adaptation.evaluation.runner import EncoderSpec, TaskSpec

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_stsb_format_keeps_quotes_and_splits_on_tabs_only(tmp_path):
    path = tmp_path / "sts-test.csv"
    path.write_text('main-news\tMSRvid\t2012test\t0001\t2.500\tHe said "no, never".\t"Quoted" start, comma\n'
                    "main-news\tMSRvid\t2012test\t0002\t5\tA\tB\textra\tcolumns\n", encoding="utf-8")
    data = sts.load(path)
    assert data.format == "stsb"
    assert data.first == ['He said "no, never".', "A"]
    assert data.second == ['"Quoted" start, comma', "B"]
    assert list(data.scores) == [2.5, 5.0]


def test_sick_and_simple_formats(tmp_path):
    sick = tmp_path / "SICK.txt"
    sick.write_text("pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\n"
                    "1\tA dog runs\tA dog is running\t4.5\tENTAILMENT\n", encoding="utf-8")
    data = sts.load(sick)
    assert (data.format, data.first, data.second, list(data.scores)) == ("sick", ["A dog runs"], ["A dog is running"], [4.5])
    simple = tmp_path / "pairs.tsv"
    simple.write_text("0.5\tone, two\tthree \"four\"\n1\ta\tb\n", encoding="utf-8")
    data = sts.load(simple)
    assert data.format == "score-s1-s2" and data.second[0] == 'three "four"' and list(data.scores) == [0.5, 1.0]


@pytest.mark.parametrize("content", ["just one column\n", "a,b,c\n1,2,3\n", "x\ty\tz\n"])
def test_unparseable_sts_file_fails_with_one_clear_line(tmp_path, content):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        sts.load(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_bad_score_line_names_the_line(tmp_path):
    path = tmp_path / "s.tsv"
    path.write_text("1\ta\tb\nnot-a-number\tc\td\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"s.tsv:2"):
        sts.load(path)


def _beir(tmp_path: Path) -> Path:
    root = tmp_path / "mini-beir"
    (root / "qrels").mkdir(parents=True)
    docs = [{"_id": f"d{i}", "title": f"T{i}", "text": f"text {i}"} for i in range(50)]
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs) + "\n", encoding="utf-8")
    queries = [{"_id": f"q{i}", "text": f"question {i}"} for i in range(10)]
    (root / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries), encoding="utf-8")
    rows = ["query-id\tcorpus-id\tscore"] + [f"q{i}\td{i}\t1" for i in range(8)] + ["q0\td9\t2"]
    (root / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root


def test_beir_loading_and_limited_subsample(tmp_path):
    data = retrieval.load(_beir(tmp_path))
    assert data.query_ids == [f"q{i}" for i in range(8)]  # only judged queries are evaluated
    assert data.qrels["q0"] == {"d0": 1, "d9": 2}
    assert data.corpus_texts[3] == "T3 text 3"
    small, info = retrieval.subsample(data, EvalSettings(limit=3, corpus_sample=5, seed=1))
    judged = {"d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d9"}
    assert len(small.query_ids) == 3 and judged <= set(small.corpus_ids)
    assert len(small.corpus_ids) == len(judged) + 5 and info["subsampled"] and "judged" in info["note"]
    again, _ = retrieval.subsample(data, EvalSettings(limit=3, corpus_sample=5, seed=1))
    assert again.query_ids == small.query_ids and again.corpus_ids == small.corpus_ids  # deterministic


def test_beir_missing_files_are_named(tmp_path):
    with pytest.raises(DataFormatError, match="missing corpus.jsonl, queries.jsonl, qrels/test.tsv"):
        retrieval.load(tmp_path)


def test_exact_search_is_cosine():
    docs = np.array([[10.0, 0.0], [1.0, 1.0], [0.0, 0.1]], dtype=np.float32)
    scores, rows = retrieval.exact_search(docs, np.array([[0.0, 3.0]], dtype=np.float32), k=3)
    assert list(rows[0]) == [2, 1, 0]  # direction, not length, decides
    assert scores[0][0] == pytest.approx(1.0)


def test_labelled_csv_with_quotes_and_folder_splits(tmp_path):
    (tmp_path / "train.csv").write_text('text,category\n"hello, world",greet\nbye,leave\n', encoding="utf-8")
    (tmp_path / "test.csv").write_text('text,label\n"say ""hi""",greet\n', encoding="utf-8")
    data = classification.load(tmp_path)
    assert data.train_texts == ["hello, world", "bye"] and data.test_texts == ['say "hi"']
    with pytest.raises(DataFormatError, match="needs a folder"):
        classification.load(tmp_path / "train.csv")
    (tmp_path / "bad.csv").write_text("sentence,colour\na,b\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="no label column"):
        clustering.load(tmp_path / "bad.csv")


def test_undersample_is_seeded_and_capped():
    labels = ["a"] * 10 + ["b"] * 3
    rows = classification.undersample(labels, 4, seed=0)
    assert sorted(labels[i] for i in rows) == ["a"] * 4 + ["b"] * 3
    assert list(rows) == list(classification.undersample(labels, 4, seed=0))


def test_task_and_encoder_specs(tmp_path):
    spec = TaskSpec.parse("retrieval:/x/scifact")
    assert (spec.task_type, spec.key) == ("retrieval", "retrieval:SciFact")
    assert TaskSpec.parse("clustering:/x/banking77").key == "clustering:banking77"
    for bad in ("sts", "nope:/x", "sts:"):
        with pytest.raises(EvaluationError):
            TaskSpec.parse(bad)
    assert EncoderSpec.parse("base=/models/x") == EncoderSpec("base", "/models/x")
    assert EncoderSpec.parse("/models/tiny/") == EncoderSpec("tiny", "/models/tiny/")
    odd = tmp_path / "a=b"
    odd.mkdir()
    assert EncoderSpec.parse(str(odd)).source == str(odd)  # an existing path with '=' stays a path


def test_instruction_resolution_order():
    text, origin = instructions.resolve("retrieval", Path("/data/scifact"))
    assert origin == "dataset:SciFact" and text.startswith("Given a scientific claim")
    assert instructions.resolve("classification", Path("/d/banking77"))[0].startswith("Given a online banking query")
    assert instructions.resolve("sts", Path("/d/stsbenchmark/sts-test.csv"))[1] == "dataset:STSBenchmark"
    assert instructions.resolve("clustering", Path("/d/x")) == (instructions.TYPE_DEFAULTS["clustering"],
                                                               "task-type default")
    assert instructions.resolve("sts", Path("/d/x"), {"sts": " Mine: "}) == ("Mine:", "override")
    assert instructions.with_colon("Retrieve semantically similar text.") == "Retrieve semantically similar text:"


@pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data is absent (evaluation sets not available)")
def test_shared_sets_parse():
    stsb = sts.load(DATA / "stsbenchmark" / "sts-test.csv")
    assert stsb.format == "stsb" and len(stsb.scores) == 1379 and 0 <= stsb.scores.min() and stsb.scores.max() <= 5
    bank = classification.load(DATA / "banking77")
    assert len(bank.train_texts) == 10003 and len(bank.test_texts) == 3080 and len(set(bank.test_labels)) == 77
