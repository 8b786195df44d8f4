"""Pass an L2V encoder to the ``mteb`` package (official MTEB benchmark, needs internet).

``MTEBEncoder`` implements mteb's encoder protocol for both generations:

* mteb 1.x: ``encode(sentences: list[str], task_name=..., prompt_type=PromptType.query, **kw)``
  (retrieval corpora may arrive as ``{"title", "text"}`` dicts);
* mteb 2.x: ``encode(inputs: DataLoader[{"text": [...]}], task_metadata=TaskMetadata,
  hf_split=..., hf_subset=..., prompt_type=...)``.

The instruction is chosen per task as in LLM2Vec's evaluation: the task-name map
(user map first, then ``DATASET_INSTRUCTIONS``), else the task's own prompt, else
the task-type default. Retrieval documents (``prompt_type == document``) get
``document_instruction`` (none by default). Texts go to the encoder as
(instruction, text) pairs, so instruction tokens are attended to but not pooled.

    import mteb
    from adaptation.evaluation.mteb_adapter import MTEBEncoder
    model = MTEBEncoder("path/to/encoder")
    mteb.evaluate(model, mteb.get_tasks(tasks=["STSBenchmark", "SciFact"]))
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from adaptation.numeric import unit_rows

from .instructions import DATASET_INSTRUCTIONS, with_colon
from .metrics import cosine_pairs

# mteb task types -> instruction when neither the task name nor the task carries one
MTEB_TYPE_DEFAULTS = {
    "sts": "Retrieve semantically similar text:",
    "retrieval": "Given a query, retrieve relevant documents that answer the query:",
    "reranking": "Given a query, retrieve relevant documents that answer the query:",
    "classification": "Classify the given text into its category:",
    "multilabelclassification": "Classify the given text into its categories:",
    "clustering": "Identify the topic or theme of the given texts:",
    "pairclassification": "Retrieve semantically similar text:",
    "summarization": "Given a news summary, retrieve other semantically similar summaries:",
    "bitextmining": "Retrieve parallel sentences:",
}
ASYMMETRIC_TYPES = {"retrieval", "reranking", "instructionretrieval", "instructionreranking"}


def _value(obj: Any) -> str | None:
    """An enum's value or a string, lower-cased ('PromptType.query' -> 'query')."""
    if obj is None:
        return None
    return str(getattr(obj, "value", obj)).lower()


def _texts(inputs: Any) -> list[str]:
    """Flatten mteb 1 (list of str / BEIR dicts) or mteb 2 (DataLoader of {"text": [...]}) inputs."""
    if isinstance(inputs, str):
        return [inputs]
    out: list[str] = []
    for item in inputs:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mapping) and isinstance(item.get("text"), (list, tuple)):
            out.extend(str(t) for t in item["text"])  # a mteb 2 batch; corpus "text" already holds the title
        elif isinstance(item, Mapping):  # a mteb 1 corpus document
            out.append(f"{item.get('title') or ''} {item.get('text') or ''}".strip())
        else:
            raise TypeError(f"cannot encode input of type {type(item).__name__}")
    return out


class MTEBEncoder:
    """mteb encoder protocol around an L2V ``Encoder`` (or anything ``Encoder.from_pretrained`` loads)."""

    def __init__(self, encoder: Any = None, *, instructions: Mapping[str, str] | None = None,
                 document_instruction: str = "", batch_size: int = 32, model_name: str | None = None,
                 revision: str | None = None, device: str | None = None, **load_kwargs: Any):
        if encoder is None:
            encoder = model_name
        if isinstance(encoder, (str, bytes)) or hasattr(encoder, "__fspath__"):
            from adaptation import Encoder

            model_name = model_name or str(encoder)
            encoder = Encoder.from_pretrained(str(encoder), device=device, revision=revision, **load_kwargs)
        self.encoder = encoder
        self.instructions = {**DATASET_INSTRUCTIONS, **(instructions or {})}
        self.document_instruction = document_instruction
        self.batch_size = batch_size
        self.model_name = model_name or "l2v/encoder"
        self.revision = revision or getattr(encoder, "fingerprint", None)

    # -------------------------------------------------------------- instructions
    def instruction_for(self, task_name: str | None, task_type: str | None = None,
                        prompt_type: Any = None, task_prompt: Any = None) -> str:
        """Instruction for one encode call; '' for documents of asymmetric (retrieval) tasks."""
        kind = _value(prompt_type)
        ttype = (_value(task_type) or "").replace("-", "").replace("_", "")
        if kind == "document" and (ttype in ASYMMETRIC_TYPES or not ttype):
            return self.document_instruction
        if task_name and task_name in self.instructions:
            return with_colon(self.instructions[task_name])
        if isinstance(task_prompt, Mapping):
            task_prompt = task_prompt.get(kind or "query")
        if isinstance(task_prompt, str) and task_prompt.strip():
            return with_colon(task_prompt)
        return MTEB_TYPE_DEFAULTS.get(ttype, "")

    # -------------------------------------------------------------- protocol
    def encode(self, inputs: Iterable[Any] | None = None, *, sentences: Iterable[Any] | None = None,
               task_metadata: Any = None, task_name: str | None = None, prompt_type: Any = None,
               hf_split: str | None = None, hf_subset: str | None = None, batch_size: int | None = None,
               show_progress_bar: bool = False, **kwargs: Any) -> np.ndarray:
        """(n, dim) float32 embeddings; see the module docstring for the accepted input forms."""
        inputs = sentences if inputs is None else inputs
        if inputs is None:
            raise TypeError("encode() needs the texts (positional, or sentences=...)")
        task_type = task_prompt = None
        if task_metadata is not None:
            task_name = task_name or getattr(task_metadata, "name", None)
            task_type = getattr(task_metadata, "type", None)
            task_prompt = getattr(task_metadata, "prompt", None)
        elif task_name:
            task_type = self._type_from_registry(task_name)
        instruction = self.instruction_for(task_name, task_type, prompt_type, task_prompt)
        texts = _texts(inputs)
        items = [(instruction, t) for t in texts] if instruction else texts
        return self.encoder.encode(items, batch_size=batch_size or self.batch_size, show_progress=show_progress_bar)

    @staticmethod
    def _type_from_registry(task_name: str) -> str | None:
        """mteb 1 passes only the name: ask mteb for its metadata when installed."""
        try:
            import mteb

            return mteb.get_task(task_name).metadata.type
        except Exception:  # mteb missing or the task unknown: fall back to the name map / defaults
            return None

    def similarity(self, a: Any, b: Any) -> np.ndarray:
        """Cosine similarity matrix (n, m)."""
        return unit_rows(a) @ unit_rows(b).T

    def similarity_pairwise(self, a: Any, b: Any) -> np.ndarray:
        """Cosine similarity of corresponding rows (n,)."""
        return cosine_pairs(a, b)

    @property
    def mteb_model_meta(self):
        """mteb 2's ModelMeta (names the results folder).

        Raises AttributeError where mteb 2 is missing, so mteb 1's ``hasattr``
        check falls back to its own empty metadata.
        """
        try:
            from mteb.models.model_meta import ModelMeta

            hub_like = self.model_name.count("/") == 1 and not self.model_name.startswith((".", "/", "~"))
            name = self.model_name if hub_like else f"l2v/{Path(self.model_name.rstrip('/')).name or 'encoder'}"
            return ModelMeta.create_empty({"name": name, "revision": self.revision or "local",
                                           "embed_dim": getattr(self.encoder, "dim", None), "use_instructions": True,
                                           "framework": ["PyTorch"], "similarity_fn_name": "cosine"})
        except (ImportError, AttributeError, TypeError, ValueError) as err:
            raise AttributeError(f"mteb_model_meta needs mteb>=2 ({err})") from None
