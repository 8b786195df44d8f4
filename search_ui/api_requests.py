"""What `l2v serve` accepts: every request field checked, bounded and turned into a 400 that names it.

A field the server passes on unchecked reaches code written for well-formed values: ``k`` of ``Infinity``
raised OverflowError (a 500), ``ef_search`` of 3e8 took 2 GB, a lone surrogate broke SQLite, a 3.9 MB
embedding input took 0.9 GB. Every bound is a constant here (the README lists them); the search bounds
are the indexer's, so `l2v search` refuses the same values.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

from indexer import DEFAULT_HYBRID, SEARCH_LIMITS

MAX_BODY = 4 << 20             # bytes of JSON per request
MAX_INPUTS = 256               # texts per /v1/embeddings call (2,048 held the model lock for 16 s)
MAX_INPUT_CHARS = 16_384       # characters per embedding input (a 3.9 MB one took 0.9 GB)
MAX_TOTAL_INPUT_CHARS = 262_144  # characters over all inputs of one call
MAX_PAGE = 1000                # /documents?limit=
MAX_OFFSET = 2**31 - 1         # /documents?offset=
MAX_PATH_CHARS = 1000          # 'path' glob and 'db' path
MAX_TYPES = 100                # entries of 'types'
MAX_NAME_CHARS = 1000          # 'encoder', 'task', 'model', 'instruction', each 'types' entry


class RequestError(Exception):
    """A client mistake: becomes a JSON error with this HTTP status."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class SearchRequest:
    query: str
    k: int = 10
    encoder: str | None = None
    instruction: str | None = None
    task: str | None = None
    hybrid: bool = DEFAULT_HYBRID          # one default for every surface (indexer.query)
    dense_weight: float | None = None
    nprobe: int | None = None
    ef_search: int | None = None
    path: str | None = None
    types: tuple[str, ...] = ()
    chunks: bool = False
    passages: int = 3
    keyword: bool = False

    @classmethod
    def parse(cls, body: dict) -> "SearchRequest":
        unknown = set(body) - {f.name for f in fields(cls)} - {"db"}
        if unknown:
            raise RequestError(f"unknown field(s): {', '.join(sorted(map(str, unknown)))}")
        query = text(body, "query", SEARCH_LIMITS.query_chars)
        if query is None or not query.strip():
            raise RequestError("'query' must be a non-empty string")
        request = cls(query=query)
        limits = {"k": SEARCH_LIMITS.k, "passages": SEARCH_LIMITS.passages, "nprobe": SEARCH_LIMITS.nprobe,
                  "ef_search": SEARCH_LIMITS.ef_search}
        for name, maximum in limits.items():
            if body.get(name) is not None:
                setattr(request, name, number(body, name, int, minimum=1, maximum=maximum))
        if body.get("dense_weight") is not None:
            request.dense_weight = number(body, "dense_weight", float, minimum=0.0, maximum=1.0)
        for name, longest in (("encoder", MAX_NAME_CHARS), ("instruction", SEARCH_LIMITS.query_chars),
                              ("task", MAX_NAME_CHARS), ("path", MAX_PATH_CHARS)):
            setattr(request, name, text(body, name, longest))
        for name in ("hybrid", "chunks", "keyword"):
            if body.get(name) is not None:
                if not isinstance(body[name], bool):
                    raise RequestError(f"'{name}' must be true or false")
                setattr(request, name, body[name])
        request.types = types_of(body)
        return request


def number(body: dict, name: str, kind: type, minimum: float, maximum: float):
    """``body[name]`` as ``kind``, finite and within [minimum, maximum] (JSON allows NaN, Infinity, 1e400)."""
    value = body[name]
    what = "an integer" if kind is int else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"'{name}' must be {what}")
    if isinstance(value, float) and not math.isfinite(value):
        raise RequestError(f"'{name}' must be a finite number between {minimum:g} and {maximum:g}, got {value}")
    if kind is int and value != int(value):
        raise RequestError(f"'{name}' must be {what}, got {value}")
    shown = str(value) if len(str(value)) <= 40 else str(value)[:20] + "..."   # 10**400 has no float form
    if value < minimum:
        raise RequestError(f"'{name}' must be at least {minimum:g}, got {shown}")
    if value > maximum:
        raise RequestError(f"'{name}' must be at most {maximum:g} (this server's limit), got {shown}")
    return kind(value)


def text(body: dict, name: str, longest: int) -> str | None:
    """``body[name]`` when it is a string of valid Unicode and at most ``longest`` characters; None if absent."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RequestError(f"'{name}' must be a string")
    return checked_string(value, f"'{name}'", longest)


def checked_string(value: str, what: str, longest: int) -> str:
    if len(value) > longest:
        raise RequestError(f"{what} is {len(value):,} characters; at most {longest:,} are accepted")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:   # JSON's "\ud800" escape decodes to a lone surrogate
        raise RequestError(f"{what} is not valid Unicode (a lone surrogate {value[err.start]!r} at "
                           f"character {err.start})") from None
    return value


def types_of(body: dict) -> tuple[str, ...]:
    types = body.get("types") or []
    if isinstance(types, str):
        types = [types]
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise RequestError("'types' must be a list of file types, e.g. [\"md\", \"pdf\"]")
    if len(types) > MAX_TYPES:
        raise RequestError(f"'types' lists {len(types)} file types; at most {MAX_TYPES} are accepted")
    return tuple(checked_string(t, "a 'types' entry", MAX_NAME_CHARS) for t in types)


def database_path(body: dict) -> str | None:
    """The optional 'db' a client expects this server to serve: a path string without NUL bytes."""
    wanted = text(body, "db", MAX_PATH_CHARS)
    if wanted is not None and "\x00" in wanted:
        raise RequestError("'db' must be a folder path; it contains a NUL byte")
    return wanted or None


@dataclass
class EmbeddingsRequest:
    """OpenAI's /v1/embeddings body, bounded: ``input_type`` "query" applies the encoder's query instruction."""

    model: str | None
    texts: list[str]
    kind: str = "document"
    instruction: str | None = None

    @classmethod
    def parse(cls, body: dict) -> "EmbeddingsRequest":
        texts = body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise RequestError("'input' must be a string or a non-empty list of strings (token ids are not supported)")
        if len(texts) > MAX_INPUTS:
            raise RequestError(f"'input' has {len(texts):,} texts; at most {MAX_INPUTS} per request")
        for i, t in enumerate(texts):
            checked_string(t, f"input {i}", MAX_INPUT_CHARS)
        total = sum(map(len, texts))
        if total > MAX_TOTAL_INPUT_CHARS:
            raise RequestError(f"'input' has {total:,} characters in all; at most {MAX_TOTAL_INPUT_CHARS:,} "
                               "per request")
        kind = body.get("input_type", "document")
        if kind not in ("document", "query"):
            raise RequestError("'input_type' must be \"document\" or \"query\"")
        if body.get("encoding_format", "float") != "float":
            raise RequestError("only 'encoding_format': 'float' is supported")
        return cls(model=text(body, "model", MAX_NAME_CHARS) or None, texts=texts, kind=kind,
                   instruction=text(body, "instruction", SEARCH_LIMITS.query_chars))


def page_args(query: dict[str, list[str]]) -> tuple[int, int]:
    """``limit`` (0-1000, default 50) and ``offset`` (>= 0) of /documents?limit=&offset=."""
    return (int_arg(query, "limit", 50, 0, MAX_PAGE), int_arg(query, "offset", 0, 0, MAX_OFFSET))


def int_arg(query: dict[str, list[str]], name: str, default: int, minimum: int, maximum: int) -> int:
    raw = query.get(name, [None])[0]
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RequestError(f"'{name}' must be an integer, got {raw[:40]!r}") from None
    if not minimum <= value <= maximum:
        raise RequestError(f"'{name}' must be between {minimum} and {maximum}, got {value}")
    return value
