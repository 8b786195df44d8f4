"""Training text: which files, how they are split into documents, tokenised and packed.

Every file is a stream of documents separated by blank lines (WikiText paragraphs,
PEP sections); newlines inside a document are kept so the tokenizer learns them and
the model sees real document layout. Each document is ``<s> ... </s>``; the whole
stream is cut into fixed-length blocks (no padding, no wasted compute).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import torch

from ..training.data import derived_seed
from .errors import PretrainDataError

TEXT_SUFFIXES = (".txt", ".rst", ".md", ".raw")
_BLANK = re.compile(r"\n[ \t]*\n+")


def shared_data_dir() -> Path:
    """``../shared/data`` beside the repository checkout (present in development and CI)."""
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def default_data_files(root: Path | None = None) -> list[Path]:
    """The local corpora the default model is trained on (never WikiText-2 *test*: it is validation)."""
    root = root or shared_data_dir()
    files = [root / "wikitext-2" / "tokenized" / "valid.txt", root / "wiki1m-sample" / "wiki1m_sample.txt"]
    files = [f for f in files if f.is_file()] + sorted((root / "peps").glob("pep-*.rst"))
    if not files:
        raise PretrainDataError(f"no training text given and no local corpora under {root}; pass --data FILE_OR_DIR")
    return files


def default_eval_file(root: Path | None = None) -> Path | None:
    path = (root or shared_data_dir()) / "wikitext-2" / "tokenized" / "test.txt"
    return path if path.is_file() else None


def resolve_files(paths: list[str | Path], eval_file: str | Path | None = None) -> list[Path]:
    """Expand directories to their text files; refuse missing/empty inputs and the validation file."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
            if not found:
                raise PretrainDataError(f"--data {raw}: folder has no {'/'.join(TEXT_SUFFIXES)} files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise PretrainDataError(f"--data {raw}: no such file or folder")
    files = [f.resolve() for f in files]
    if eval_file is not None and Path(eval_file).resolve() in files:
        raise PretrainDataError(f"--data includes the validation file {eval_file}; "
                                "training on it would make the reported perplexity meaningless")
    if not any(f.stat().st_size for f in files):
        raise PretrainDataError("--data: all given files are empty")
    return files


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise PretrainDataError(f"{path}: cannot read ({err.strerror})") from err


def documents(text: str) -> list[str]:
    """Blank-line separated blocks with trailing spaces trimmed; empty blocks dropped."""
    docs = []
    for block in _BLANK.split(text):
        block = "\n".join(line.rstrip() for line in block.strip("\n").splitlines()).strip("\n")
        if block.strip():
            docs.append(block)
    return docs


def iter_documents(files: list[Path]) -> Iterator[str]:
    for path in files:
        yield from documents(read_text(path))


def train_tokenizer(files: list[Path], vocab_size: int, model_max_length: int):
    """A metaspace BPE tokenizer (Llama-2 style, BOS prepended) trained on the training files."""
    from ..tokenizer_training import train_bpe_tokenizer

    return train_bpe_tokenizer(iter_documents(files), vocab_size, style="metaspace", model_max_length=model_max_length)


def token_stream(tokenizer, docs: list[str], batch: int = 1000) -> torch.Tensor:
    """All documents as one int32 stream ``<s> doc </s> <s> doc </s> ...``."""
    eos = tokenizer.eos_token_id
    chunks: list[torch.Tensor] = []
    for start in range(0, len(docs), batch):
        enc = tokenizer(docs[start:start + batch], add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        chunks.extend(torch.tensor(ids + [eos], dtype=torch.int32) for ids in enc)
    if not chunks:
        return torch.zeros(0, dtype=torch.int32)
    return torch.cat(chunks)


def pack_blocks(stream: torch.Tensor, seq_len: int) -> torch.Tensor:
    """``(n_blocks, seq_len)`` contiguous blocks; the ragged tail is dropped."""
    n = stream.numel() // seq_len
    if n == 0:
        raise PretrainDataError(f"the training text has only {stream.numel()} tokens, fewer than one "
                                f"--seq-len {seq_len} block; give more text or a shorter --seq-len")
    return stream[: n * seq_len].view(n, seq_len)


def describe_files(files: list[Path]) -> list[dict]:
    return [{"path": str(f), "bytes": f.stat().st_size} for f in files]


class BlockSampler:
    """Deterministic order of blocks: a fresh seeded permutation per epoch.

    The micro-batch at any position is a pure function of (seed, position), so a
    resumed run draws exactly the batches the uninterrupted run would have.
    """

    def __init__(self, n_blocks: int, seed: int):
        self.n_blocks, self.seed = n_blocks, seed
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(derived_seed(self.seed, epoch))
            self._epoch, self._perm = epoch, torch.randperm(self.n_blocks, generator=gen)
        return self._perm

    def indices(self, start: int, count: int) -> torch.Tensor:
        """Block indices for sample positions ``start .. start+count-1`` (epochs wrap)."""
        out = []
        for pos in range(start, start + count):
            epoch, offset = divmod(pos, self.n_blocks)
            out.append(self._permutation(epoch)[offset])
        return torch.stack(out)
