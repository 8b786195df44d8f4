"""Training data: MNTP token blocks, SimCSE sentences, supervised triples, and batch plans.

Every batch is a pure function of (seed, step): ``BatchPlan.batch(step)``. So a
resumed run needs only the step number to continue with exactly the data an
uninterrupted run would have seen.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from ..inputs import special_affixes
from ..storage import content_hash
from .errors import TrainingDataError

# public names a user with internet may pass instead of a file
DATASET_ALIASES = {"wikitext-103": ("wikitext", "wikitext-103-raw-v1"), "wikitext-2": ("wikitext", "wikitext-2-raw-v1")}


def derived_seed(seed: int, n: int) -> int:
    """The seed of draw ``n`` (an epoch's shuffle, a step's masking) of a run seeded ``seed``.

    Every data-order and masking RNG of ``l2v adapt`` and ``l2v pretrain`` is seeded through this one formula, so
    each draw is a pure function of (seed, n): a resumed run redraws exactly what an uninterrupted one drew.
    """
    return seed * 1_000_003 + n


def describe_source(source: str) -> dict:
    """What a data source was, for run_config.json: a file's size and hash, or a dataset name."""
    path = Path(source).expanduser()
    if path.is_file():
        return {"source": str(path.resolve()), "bytes": path.stat().st_size, "sha256": content_hash(path)}
    if path.is_dir():
        return {"source": str(path.resolve()), "files": [describe_source(str(p))["source"] for p in _text_files(path)]}
    return {"source": source, "dataset": True}


def _text_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in (".txt", ".raw", ".md", ".rst"))


def _looks_like_path(source: str) -> bool:
    """A missing 'data/x.txt' is a typo to report, not a dataset name to download."""
    path = Path(source).expanduser()
    return bool(path.suffix) or source.startswith((".", "/", "~")) or ("/" in source and path.parent.is_dir())


def check_source(source: str, option: str) -> None:
    """Fail early (before a model loads) on a data path that does not exist or is empty."""
    path = Path(source).expanduser()
    if path.is_file() and path.stat().st_size == 0:
        raise TrainingDataError(f"{option} {source}: the file is empty")
    if not path.exists() and _looks_like_path(source):
        raise TrainingDataError(f"{option} {source}: no such file; check the path")


def _read_file(path: Path, option: str) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise TrainingDataError(f"{option} {path}: cannot read ({err.strerror})") from None


def _load_dataset_texts(name: str, option: str) -> Iterator[str]:
    """A public dataset's 'text' column through ``datasets`` (only for names that are not local paths)."""
    try:
        import datasets
    except ImportError:
        raise TrainingDataError(
            f"{option} {name}: no such file; to use the public dataset '{name}' run `pip install datasets` "
            "(needs internet), or pass a local text file"
        ) from None
    repo, config = DATASET_ALIASES.get(name, (name.split(":")[0], name.split(":")[1] if ":" in name else None))
    try:
        data = datasets.load_dataset(repo, config, split="train")
    except Exception as err:  # offline, unknown name: all mean "cannot get it"
        raise TrainingDataError(f"{option} {name}: cannot load dataset ({type(err).__name__}: "
                                f"{str(err).splitlines()[0][:160] if str(err) else ''}); pass a local file") from None
    column = "text" if "text" in data.column_names else data.column_names[0]
    yield from (str(t) for t in data[column])


def documents(sources: Iterable[str], option: str = "--mntp-data") -> Iterator[str]:
    """Documents of text files (one per line, or blank-line separated paragraphs) or datasets."""
    for source in sources:
        path = Path(source).expanduser()
        if path.is_dir():
            files = _text_files(path)
            if not files:
                raise TrainingDataError(f"{option} {source}: directory holds no .txt/.raw/.md/.rst files")
        elif path.is_file():
            files = [path]
        elif _looks_like_path(source):
            raise TrainingDataError(f"{option} {source}: no such file; check the path")
        else:
            yield from (t for t in _load_dataset_texts(source, option) if t.strip())
            continue
        for file in files:
            text = _read_file(file, option)
            if "\n\n" in text.replace("\r\n", "\n"):  # blank-line separated paragraphs
                parts = [" ".join(p.split("\n")) for p in text.replace("\r\n", "\n").split("\n\n")]
            else:
                parts = text.splitlines()
            yield from (p.strip() for p in parts if p.strip())


def mntp_blocks(tokenizer, sources: list[str], block_length: int, max_blocks: int) -> tuple[list[list[int]], dict]:
    """Documents tokenised (with the tokenizer's own BOS/EOS), concatenated and cut into blocks.

    Stops reading once ``max_blocks`` are full: a 1000-step run never needs all
    of Wikitext-103 tokenised.
    """
    if not sources:
        raise TrainingDataError("mntp needs --mntp-data FILE_OR_DATASET (e.g. ../shared/data/wikitext-2/raw/wiki.test.raw)")
    prefix, suffix = special_affixes(tokenizer)
    tokenizer.deprecation_warnings["sequence-length-is-longer-than-the-specified-maximum"] = True  # we cut blocks
    buffer: list[int] = []
    blocks: list[list[int]] = []
    n_docs = 0
    batch: list[str] = []

    def flush() -> None:
        for ids in tokenizer(batch, add_special_tokens=False)["input_ids"] if batch else []:
            buffer.extend(prefix + ids + suffix)
        batch.clear()
        while len(buffer) >= block_length and len(blocks) < max_blocks:
            blocks.append(buffer[:block_length])
            del buffer[:block_length]

    for doc in documents(sources):
        n_docs += 1
        batch.append(doc)
        if len(batch) >= 256:
            flush()
            if len(blocks) >= max_blocks:
                break
    flush()
    if not blocks:
        raise TrainingDataError(
            f"--mntp-data {' '.join(sources)}: {n_docs} documents give fewer than {block_length} tokens; "
            "add text or lower --max-length")
    return blocks, {"documents_read": n_docs, "blocks": len(blocks), "block_length": block_length}


def sentences(source: str, option: str = "--simcse-data") -> list[str]:
    """One sentence per line; empty lines skipped."""
    path = Path(source).expanduser()
    if path.is_file():
        lines = [line.strip() for line in _read_file(path, option).splitlines() if line.strip()]
    else:
        lines = list(documents([source], option))
    if len(lines) < 2:
        raise TrainingDataError(f"{option} {source}: needs at least 2 non-empty lines (one sentence per line), "
                                f"found {len(lines)}")
    return lines


@dataclass
class Triple:
    query: str
    positive: str
    negative: str | None = None
    instruction: str = ""
    dataset: str = ""


def triples(source: str, option: str = "--supervised-data") -> list[Triple]:
    """Supervised rows from a JSONL file ({"query", "positive", "negative"?, "instruction"?, "dataset"?})
    or a TSV file (``query<TAB>positive[<TAB>negative]``, the layout of the public NLI/SQuAD triplet
    files; its dataset is the file's folder name, its instruction empty)."""
    path = Path(source).expanduser()
    if not path.is_file():
        raise TrainingDataError(f"{option} {source}: no such file; pass a JSONL file of "
                                '{"query", "positive", "negative"?, "instruction"?} rows or a TSV of '
                                "query, positive[, negative] columns")
    rows = tsv_triples(path, option=option) if path.suffix.lower() == ".tsv" else _jsonl_triples(path, option)
    if len(rows) < 2:
        raise TrainingDataError(f"{option} {path}: needs at least 2 rows, found {len(rows)}")
    return rows


def _jsonl_triples(path: Path, option: str) -> list[Triple]:
    rows = []
    for number, line in enumerate(_read_file(path, option).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            fields = [row["query"], row["positive"], row.get("negative"), row.get("instruction"), row.get("dataset")]
            if not isinstance(row["query"], str) or not isinstance(row["positive"], str) or \
                    not all(v is None or isinstance(v, str) for v in fields[2:]):
                raise TypeError("every field must be a string")
            if not row["query"].strip() or not row["positive"].strip():
                raise ValueError("empty query or positive")
            rows.append(Triple(row["query"], row["positive"], row.get("negative") or None,
                               row.get("instruction") or "", row.get("dataset") or ""))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as err:
            raise TrainingDataError(f"{option} {path}:{number}: bad row ({type(err).__name__}: {err}); each line "
                                    'must be a JSON object with string "query" and "positive"') from None
    return rows


def tsv_triples(path: str | Path, instruction: str = "", dataset: str = "", limit: int | None = None,
                seed: int = 0, option: str = "--supervised-data") -> list[Triple]:
    """``query<TAB>positive[<TAB>negative]`` rows (a header line ``anchor/query ...`` is skipped).

    ``limit`` keeps a seeded random subset, so a mix can take part of a large file reproducibly.
    Rows with fewer than two non-empty columns are a data error naming the line, not a silent skip.
    """
    path = Path(path).expanduser()
    rows = []
    for number, line in enumerate(_read_file(path, option).splitlines(), 1):
        if not line.strip():
            continue
        columns = [c.strip() for c in line.split("\t")]
        if number == 1 and columns[0].lower() in ("anchor", "query", "question", "sentence1"):
            continue
        if len(columns) < 2 or not columns[0] or not columns[1] or len(columns) > 3:
            raise TrainingDataError(f"{option} {path}:{number}: expected 2 or 3 tab-separated columns "
                                    f"(query, positive[, negative]), found {len(columns)}")
        negative = columns[2] if len(columns) == 3 and columns[2] else None
        rows.append(Triple(columns[0], columns[1], negative, instruction, dataset or path.parent.name))
    if limit is not None and limit < len(rows):
        keep = sorted(random.Random(derived_seed(seed, len(rows))).sample(range(len(rows)), limit))
        rows = [rows[i] for i in keep]
    return rows


class BatchPlan:
    """Deterministic batches by step: epoch e shuffles with seed+e; groups never mix in a batch.

    ``groups`` (one label per item) makes every batch come from one source
    dataset, as in the paper's supervised step. A group smaller than the batch
    becomes one smaller batch; otherwise trailing partial batches are dropped.
    """

    def __init__(self, n_items: int, batch_size: int, seed: int, groups: list[str] | None = None):
        self.n_items, self.batch_size, self.seed = n_items, batch_size, seed
        self.groups = groups
        self._epoch: tuple[int, list[list[int]]] | None = None
        self.batches_per_epoch = len(self._plan(0))

    def _plan(self, epoch: int) -> list[list[int]]:
        rng = random.Random(derived_seed(self.seed, epoch))
        by_group: dict[str, list[int]] = {}
        for i in range(self.n_items):
            by_group.setdefault(self.groups[i] if self.groups else "", []).append(i)
        batches = []
        for key in sorted(by_group):
            items = by_group[key]
            rng.shuffle(items)
            if len(items) <= self.batch_size:
                batches.append(items)
                continue
            full = len(items) // self.batch_size * self.batch_size
            batches.extend(items[i:i + self.batch_size] for i in range(0, full, self.batch_size))
        rng.shuffle(batches)
        return batches

    def batch(self, step: int) -> list[int]:
        epoch, index = divmod(step, self.batches_per_epoch)
        if self._epoch is None or self._epoch[0] != epoch:
            self._epoch = (epoch, self._plan(epoch))
        return self._epoch[1][index]
