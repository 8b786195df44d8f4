"""The MTEB adapter against mteb's encoder protocol (1.x and 2.x forms), offline, with a tiny encoder."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from adaptation import Encoder
from adaptation.tiny import build_tiny_decoder
from adaptation.evaluation.instructions import DATASET_INSTRUCTIONS
from adaptation.evaluation.mteb_adapter import MTEB_TYPE_DEFAULTS, MTEBEncoder

TEXTS = ["How do I reset my card PIN?", "The summit is the highest point.", "Rivers flow to the sea."]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model: threads only cost time on a busy box
    base = build_tiny_decoder(tmp_path_factory.mktemp("mteb") / "base", "llama", seed=3)
    yield Encoder.from_pretrained(base, max_length=48)
    torch.set_num_threads(before)


def _batches(texts, size=2):
    """What mteb 2 passes: a DataLoader yielding {"text": [...]} batches."""
    return DataLoader([{"text": t} for t in texts], batch_size=size)


def test_mteb1_form_uses_the_task_name_instruction(encoder):
    model = MTEBEncoder(encoder)
    got = model.encode(TEXTS, task_name="SciFact", prompt_type="query")
    want = encoder.encode([(DATASET_INSTRUCTIONS["SciFact"], t) for t in TEXTS])
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert not np.allclose(got, encoder.encode(TEXTS), atol=1e-3)  # the instruction changes the vectors
    documents = model.encode([{"title": "T", "text": t} for t in TEXTS], task_name="SciFact",
                             prompt_type="document")
    np.testing.assert_allclose(documents, encoder.encode([f"T {t}" for t in TEXTS]), atol=1e-5)


def test_mteb2_form_dataloader_and_metadata(encoder):
    model = MTEBEncoder(encoder, batch_size=2)
    meta = SimpleNamespace(name="Banking77Classification", type="Classification", prompt=None)
    got = model.encode(_batches(TEXTS), task_metadata=meta, hf_split="test", hf_subset="default", prompt_type=None)
    want = encoder.encode([(DATASET_INSTRUCTIONS["Banking77Classification"], t) for t in TEXTS])
    assert got.shape == (3, encoder.dim)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_instruction_choice_order(encoder):
    model = MTEBEncoder(encoder, instructions={"MyTask": "Mine."}, document_instruction="")
    assert model.instruction_for("MyTask", "STS") == "Mine:"  # user map first, LLM2Vec colon added
    assert model.instruction_for("Unknown", "Retrieval", "query", {"query": "Find the answer"}) == "Find the answer:"
    assert model.instruction_for("Unknown", "Retrieval", "document", {"query": "Find"}) == ""
    assert model.instruction_for("Unknown", "Clustering") == MTEB_TYPE_DEFAULTS["clustering"]
    assert model.instruction_for("STSBenchmark", "STS") == "Retrieve semantically similar text:"
    assert model.instruction_for("Unknown", "SomethingNew") == ""


def test_similarity_functions(encoder):
    model = MTEBEncoder(encoder)
    a, b = np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([[3.0, 0.0], [0.0, -1.0]])
    np.testing.assert_allclose(model.similarity(a, b), [[1, 0], [0, -1]], atol=1e-6)
    np.testing.assert_allclose(model.similarity_pairwise(a, b), [1, -1], atol=1e-6)


def test_real_mteb_package_runs_the_adapter(encoder):
    """With mteb installed (pip install 'l2v-search[mteb]'): its offline mock tasks through mteb.evaluate."""
    mteb = pytest.importorskip("mteb", minversion="2.0")
    from mteb.mocks.mock_tasks.classification import MockClassificationTask
    from mteb.mocks.mock_tasks.clustering import MockClusteringTask
    from mteb.mocks.mock_tasks.retrieval import MockRetrievalTask
    from mteb.mocks.mock_tasks.sts import MockSTSTask
    from mteb.models.models_protocols import EncoderProtocol

    seen = []

    class Recording(MTEBEncoder):
        def instruction_for(self, *args, **kwargs):
            seen.append((args[0], getattr(args[2], "value", args[2]), super().instruction_for(*args, **kwargs)))
            return seen[-1][2]

    model = Recording(encoder, model_name="l2v/tiny-test")
    assert isinstance(model, EncoderProtocol)
    tasks = [MockSTSTask(), MockRetrievalTask(), MockClassificationTask(), MockClusteringTask()]
    results = mteb.evaluate(model, tasks, cache=None, show_progress_bar=False)
    scores = {r.task_name: r.get_score() for r in results.task_results}
    assert set(scores) == {t.metadata.name for t in tasks}
    assert all(0.0 <= s <= 1.0 for s in scores.values())
    by_kind = {(name, kind): instruction for name, kind, instruction in seen}
    assert by_kind[("MockRetrievalTask", "document")] == ""
    assert by_kind[("MockRetrievalTask", "query")] != ""
    assert by_kind[("MockSTSTask", None)] == MTEB_TYPE_DEFAULTS["sts"]


def test_model_meta_names_local_paths_and_hides_without_mteb2(encoder):
    model = MTEBEncoder(encoder, model_name="/models/my-encoder/")
    try:
        import mteb  # noqa: F401
    except ImportError:
        assert not hasattr(model, "mteb_model_meta")  # mteb 1's hasattr check then uses its own metadata
        return
    assert model.mteb_model_meta.name == "l2v/my-encoder"
    assert MTEBEncoder(encoder, model_name="org/model").mteb_model_meta.name == "org/model"
