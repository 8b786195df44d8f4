"""``IndexOptions``: what one ``build_index`` run does (a dataclass, so the CLI, the demo and tests
state a run the same way; chunking and FAISS settings default to what the database recorded)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .embedding.ray_engine import RayOptions


@dataclass
class IndexOptions:
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    chunk_tokens: int | None = None     # None: as recorded in the database, else 400
    overlap: int | None = None          # None: as recorded, else 64
    factory: str | None = None          # None: as recorded for the encoder, else "Flat"
    rebuild: bool = False
    hidden: bool = False
    max_bytes: int = 50 << 20           # larger files are skipped (too_large) without being read
    batch_docs: int = 64                # documents per phase-1 transaction ...
    batch_chars: int = 32 << 20         # ... or fewer: it commits once its chunks hold this many characters
    max_removal_batch_docs: int = 1024  # ... growing up to this when it removes vectors (see DocumentSync)
    embed_batch: int = 256              # chunks read per batch (embedded the embedder's batch at a time)
    commit_chunks: int = 2048           # phase 2 commits after at least this many new vectors ...
    commit_growth: float = 0.25         # ... and at least this fraction of the index (keeps rewrites O(n) overall)
    commit_seconds: float = 60.0        # ... or after this long embedding since the last commit: a kill loses <= ~1 min
    ray: RayOptions | None = None       # embed on a Ray cluster (Ray Data actors); None: in this process
    progress: bool = True


MIN_CHUNK_TOKENS = 8  # fewer tokens cannot hold a sentence; ChunkingConfig refuses them too


def check_options(options: IndexOptions) -> None:
    """One-line ``UsageError`` for a value that cannot work, before ``build_index`` writes anything (a bad
    glob used to surface mid-run and leave a failed, empty database behind)."""
    from .errors import UsageError
    from .sources import glob_match
    from .vectors.factories import check_factory

    if options.chunk_tokens is not None and (isinstance(options.chunk_tokens, bool) or
                                             not isinstance(options.chunk_tokens, int) or
                                             options.chunk_tokens < MIN_CHUNK_TOKENS):
        raise UsageError(f"--chunk-tokens {options.chunk_tokens}: use at least {MIN_CHUNK_TOKENS} tokens "
                         "(leave it out for the recorded value, 400 for a new database)")
    if options.overlap is not None and options.overlap < 0:
        raise UsageError(f"--overlap {options.overlap}: must be 0 or more tokens")
    if not isinstance(options.max_bytes, int) or options.max_bytes < 0:
        raise UsageError(f"--max-mb: the size limit must be a finite number of megabytes >= 0, got {options.max_bytes}")
    if options.factory is not None:
        check_factory(options.factory)
    for option, patterns in (("--include", options.include), ("--exclude", options.exclude)):
        for pattern in patterns:
            try:
                glob_match("", pattern)
            except UsageError as err:
                raise UsageError(f"{option}: {err}; fix the pattern") from None
