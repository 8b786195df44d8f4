"""``Encoder``: a decoder LLM (plus LoRA adapters) used as a bidirectional text encoder."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from . import hardware, loading, names, sources
from .adapters import adapter_identity, adapter_weight_file, apply_adapter, copy_adapter
from .bidirectional import encoder_attention_mask, position_ids_from_mask, set_bidirectional
from .config import BASE_SUBDIR, AdapterEntry, EncoderConfig, library_versions
from .errors import EncoderFormatError, ModelNotFoundError, OutOfMemoryError, UsageError
from .families import check_supported
from .inputs import EncodedText, InputBuilder, Item
from .numeric import unit_rows
from .pooling import check_pooling, pool
from .progress import ProgressBar
from .storage import atomic_directory, content_hash, copy_base_model, directory_identity, fingerprint

log = logging.getLogger(__name__)
# the dtype each loaded encoder runs in and why: the CLIs print it (adaptation.commands.run), libraries stay quiet
notice = logging.getLogger("l2v.notice")

# On a CPU, one forward pass whose activations outgrow the caches turns the elementwise ops
# (norms, rotary, SiLU) memory-bound: profiled on a 30M Llama (hidden 512, 2 threads), a batch
# of 64 x 512 tokens spent 8.6 s in them against 1.1 s as eight batches of 8. Forward passes
# are therefore capped so the widest per-token activation (the MLP's intermediate, usually)
# holds at most this many bytes: SmolLM2-135M (intermediate 1536) measured 466 / 542 / 501
# tokens/s at 3640 / 2048 / 1024 tokens per pass (fp32, 2-core AVX2 EPYC, BENCHMARKS.md).
CPU_ACTIVATION_BYTES = 12 << 20

LLM2VEC_POOLING = {"mean": "mean", "weighted_mean": "weighted_mean", "eos_token": "last_token",
                   "last_token": "last_token", "bos_token": "bos", "bos": "bos"}


class Encoder:
    """Embeds texts or (instruction, text) pairs; saves itself as a self-describing directory."""

    def __init__(self, model: torch.nn.Module, tokenizer, config: EncoderConfig,
                 adapter_dirs: Sequence[Path] = (), base_dir: Path | None = None, device: str = "cpu",
                 pack: bool | None = None, dtype_reason: str = ""):
        self.model = model
        self.dtype_reason = dtype_reason  # why it runs in config.dtype (hardware probe, asked for, L2V_DTYPE)
        self.tokenizer = tokenizer
        self.config = config
        self.adapter_dirs = [Path(d) for d in adapter_dirs]
        self.base_dir = base_dir  # local base model directory, if any (copied on save)
        self.device = device
        self.attn = model.config._attn_implementation
        # varlen packing removes every padding FLOP; on by default with flash-attention
        self.pack = (self.attn == "flash_attention_2") if pack is None else pack
        self.inputs = self.input_builder()
        # padded tokens per forward pass; None = the whole batch (on GPUs), see CPU_ACTIVATION_BYTES
        self.tokens_per_forward: int | None = None
        if torch.device(device).type == "cpu":
            widest = max(config.dim, int(getattr(model.config, "intermediate_size", 0) or 0))
            self.tokens_per_forward = max(1, CPU_ACTIVATION_BYTES // (widest * model.dtype.itemsize))
            hardware.set_cpu_threads()
        set_bidirectional(model, config.bidirectional)
        self._fingerprint: str | None = None

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | Path,
        *,
        pooling: str | None = None,
        dtype: str | None = None,
        adapters: Sequence[str | Path] = (),
        max_length: int | None = None,
        attn: str = "auto",
        bidirectional: bool = True,
        skip_instruction: bool | None = None,
        normalize: bool | None = None,
        query_instruction: str | None = None,
        document_instruction: str | None = None,
        revision: str | None = None,
        device: str | None = None,
        merge_adapters: bool = True,
    ) -> "Encoder":
        """A base model id/dir, a published LLM2Vec checkpoint, a saved encoder dir, or a bundled encoder's name
        (``adaptation.names``: ``l2v encoders`` lists them; any other bare word is refused before the hub).

        Extra ``adapters`` are stacked on top in order. With ``merge_adapters`` they
        are merged into the weights (fastest inference); otherwise only all but the
        last are merged, as when training on top of them. ``dtype`` None: what this machine runs
        fastest (``hardware.choose_dtype``); ``"int8"``: dynamic int8 linear layers on CPU.
        """
        name = names.resolve_encoder_name(str(name_or_path))  # a bundled name -> its directory; a typo stops here
        if loading.is_local(name) and (Path(name).expanduser() / "encoder_config.json").is_file():
            encoder = cls.load(name, dtype=dtype, attn=attn, device=device)
            encoder._override(pooling=pooling, max_length=max_length, skip_instruction=skip_instruction,
                              normalize=normalize, query_instruction=query_instruction,
                              document_instruction=document_instruction)
            if adapters:
                raise UsageError("extra adapters on a saved encoder: load its base with the full adapter list instead")
            return encoder

        stack: list[tuple[Path, str, str]] = []  # (local dir, name, source)
        base, base_revision = name, revision
        special = sources.is_special_source(name)  # a GGUF or package-index file holds no LLM2Vec files
        defaults = {} if special else loading.read_json(loading.fetch_file(name, "llm2vec_config.json", revision))
        adapter_config = {} if special else loading.read_json(loading.fetch_file(name, "adapter_config.json", revision))
        if adapter_config:  # published layout: base config + MNTP adapter in one directory
            base = adapter_config.get("base_model_name_or_path")
            base_revision = adapter_config.get("revision")
            if not base:
                raise ModelNotFoundError(f"{name}: adapter_config.json names no base_model_name_or_path")
            stack.append((loading.local_adapter_dir(name, revision), "mntp", name))
        for extra in adapters:
            stack.append((loading.local_adapter_dir(str(extra)), f"adapter{len(stack)}", str(extra)))

        resolved = sources.resolve_base(base)
        hf_config = loading.load_config(resolved.load_from, base_revision)
        check_supported(hf_config.model_type)
        entries = [AdapterEntry(name=adapter_name, path=str(directory), source=source,
                                merged=merge_adapters or position < len(stack) - 1)
                   for position, (directory, adapter_name, source) in enumerate(stack)]
        model, choice, device = _build_model(resolved.load_from, base_revision, dtype, attn, device,
                                             [(Path(e.path), e.name, e.merged) for e in entries])

        # a published layout ships its own tokenizer (always on the hub; locally when the files are there)
        own_tokenizer = bool(adapter_config) and (not loading.is_local(name) or loading.has_tokenizer(Path(name)))
        tokenizer = (loading.load_tokenizer(name, revision) if own_tokenizer
                     else loading.load_tokenizer(resolved.load_from, base_revision))
        config = EncoderConfig(
            base_model=resolved.source,
            base_revision=base_revision,
            base_hash=resolved.base_hash,
            model_type=hf_config.model_type,
            bidirectional=bidirectional,
            pooling=check_pooling(pooling or LLM2VEC_POOLING.get(defaults.get("pooling_mode", "mean"), "mean")),
            skip_instruction=defaults.get("skip_instruction", True) if skip_instruction is None else skip_instruction,
            max_length=max_length or int(defaults.get("max_length", 512)),
            dim=int(hf_config.hidden_size),
            normalize=bool(normalize),
            dtype=choice.dtype,
            attn_implementation=attn,
            query_instruction=query_instruction or "",
            document_instruction=document_instruction or "",
            adapters=entries,
            versions=library_versions(),
        )
        notice.info("encoder %s: %s on %s (%s)", name, choice.dtype, device, choice.reason)
        return cls(model, tokenizer, config, [d for d, _, _ in stack], resolved.local_dir, device,
                   dtype_reason=choice.reason)

    @classmethod
    def load(cls, directory: str | Path, *, dtype: str | None = None, attn: str | None = None,
             device: str | None = None) -> "Encoder":
        """Rebuild an encoder from a directory written by ``save``; nothing else is needed.

        ``dtype`` None runs it in what this machine runs fastest (``hardware.choose_dtype``; the dtype it
        was saved with does not decide), ``"float32"``/``"bfloat16"``/``"int8"`` override that.
        """
        directory = Path(directory).expanduser()
        if not directory.is_dir():
            raise ModelNotFoundError(f"encoder directory '{directory}' does not exist")
        config = EncoderConfig.read(directory)
        check_supported(config.model_type)
        if config.base_model == BASE_SUBDIR:  # an older layout, or saved with copy_base=True
            resolved = sources.resolve_base(str(directory / BASE_SUBDIR))
        else:  # referenced by source and pinned by hash: a changed base is refused, not silently used
            resolved = sources.resolve_base(config.base_model, config.base_hash)
        config.attn_implementation = attn or config.attn_implementation
        adapter_dirs = []
        for entry in config.adapters:
            adapter_dir = directory / entry.path
            if not adapter_dir.is_dir():
                raise EncoderFormatError(f"{directory}: adapter '{entry.name}' missing at {entry.path}")
            if not adapter_dir.resolve().is_relative_to(directory.resolve()):  # a link out of the directory
                raise EncoderFormatError(f"{directory}: adapter '{entry.name}' at {entry.path} leads outside the "
                                         "encoder directory; copy the adapter into it")
            adapter_dirs.append(adapter_dir)
        model, choice, device = _build_model(resolved.load_from, config.base_revision, dtype,
                                             config.attn_implementation, device,
                                             [(d, e.name, e.merged) for d, e in zip(adapter_dirs, config.adapters)])
        hidden = int(getattr(model.config, "hidden_size", 0) or 0)
        if config.dim and hidden and config.dim != hidden:  # vectors of one size recorded as another
            raise EncoderFormatError(f"{directory / 'encoder_config.json'}: field 'dim' is {config.dim}, but the model "
                                     f"'{config.base_model}' has hidden size {hidden}; set 'dim' to {hidden}")
        config.dim = config.dim or hidden
        config.dtype = choice.dtype
        tokenizer = loading.load_tokenizer(str(directory))
        notice.info("encoder %s: %s on %s (%s)", directory.name, choice.dtype, device, choice.reason)
        return cls(model, tokenizer, config, adapter_dirs, resolved.local_dir, device, dtype_reason=choice.reason)

    def _override(self, **values) -> None:
        for key, value in values.items():
            if value is not None:
                setattr(self.config, key, check_pooling(value) if key == "pooling" else value)
        self.inputs = self.input_builder()
        self._fingerprint = None

    def input_builder(self, max_length: int | None = None) -> InputBuilder:
        """Inputs for this model: padding never indexes past its embedding table (see ``inputs.pad_id``)."""
        return InputBuilder(self.tokenizer, max_length or self.config.max_length, self.config.skip_instruction,
                            vocab_size=self.model.get_input_embeddings().num_embeddings)

    # ------------------------------------------------------------------ saving
    def save(self, directory: str | Path, copy_base: bool = False) -> Path:
        """Write config, tokenizer and adapters atomically: a few MB, whatever the base's size.

        The base is referenced by its source (hub id and revision, local path, GGUF file or
        package-index file) and pinned by ``base_hash``; ``copy_base=True`` copies a local base
        in instead, for a directory that loads on a machine without it.
        """
        directory = Path(directory).expanduser()
        if copy_base and self.base_dir is None:
            raise UsageError("copy_base=True but the base model is a hub id, not a local directory")
        config = EncoderConfig.from_dict(self.config.to_dict())
        config.versions = library_versions()
        with atomic_directory(directory) as tmp:
            self.tokenizer.save_pretrained(tmp)
            if copy_base:
                copy_base_model(self.base_dir, tmp / BASE_SUBDIR)
                config.base_model = BASE_SUBDIR
            elif config.base_model == BASE_SUBDIR:  # loaded from a copied base: point at where it lies
                config.base_model = str(self.base_dir)
                config.base_hash = f"dir:{directory_identity(self.base_dir)}"
            for i, (entry, source) in enumerate(zip(config.adapters, self.adapter_dirs)):
                relative = f"adapters/{i:02d}-{entry.name}"
                copy_adapter(source, tmp / relative)
                entry.path = relative
            config.write(tmp)
        return directory

    # ------------------------------------------------------------------ identity
    @property
    def dim(self) -> int:
        return self.config.dim

    @property
    def fingerprint(self) -> str:
        """Changes iff the vectors this encoder stores would change (weights, pooling, ...).

        Adapters count by their tensor values (``adapter_identity``), so re-saving keeps it.
        """
        if self._fingerprint is None:
            adapters = [adapter_identity(d) for d in self.adapter_dirs]
            self._fingerprint = fingerprint(self.config.semantic_dict(), self._base_identity(), adapters)
        return self._fingerprint

    @property
    def fingerprint_aliases(self) -> list[str]:
        """The fingerprint earlier versions recorded for these weights (adapter *file bytes*): a database
        built then still accepts this encoder instead of calling it changed."""
        if not self.adapter_dirs:
            return []
        adapters = [content_hash(adapter_weight_file(d)) for d in self.adapter_dirs]
        return [fingerprint(self.config.semantic_dict(), self._base_identity(), adapters)]

    def _base_identity(self) -> str:
        kind, _, identity = self.config.base_hash.partition(":")
        if kind == "sha256":  # a GGUF/wheel file: its hash, wherever it lies
            return self.config.base_hash
        if kind == "dir":  # a local folder, its identity checked when it was resolved: not re-read
            return identity
        if self.base_dir is not None:  # a copied-in base/ (pinned by nothing but its contents)
            return directory_identity(self.base_dir)
        return f"{self.config.base_model}@{self.config.base_revision or 'main'}"

    # ------------------------------------------------------------------ encoding
    def embed_batch(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Pooled float32 embeddings of a collated batch, differentiable (training reuses it)."""
        input_ids = batch["input_ids"].to(self.device)
        attention_mask = batch["attention_mask"].to(self.device)
        if self.pack:
            hidden = self._forward_packed(input_ids, attention_mask)
        else:
            hidden = self._forward_padded(input_ids, attention_mask)
        return pool(hidden.float(), batch["pool_mask"].to(self.device), attention_mask, self.config.pooling)

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token states of a padded batch, with this encoder's attention (MNTP training uses them)."""
        return self._forward_padded(input_ids.to(self.device), attention_mask.to(self.device))

    def _forward_padded(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.attn == "flash_attention_2":
            mask = attention_mask  # flash unpads from the 2-D mask; is_causal is already off
        else:
            mask = encoder_attention_mask(attention_mask, self.model.dtype, self.config.bidirectional)
        out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=position_ids_from_mask(attention_mask))
        return out[0]

    def _forward_packed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """All sequences in one row, no padding; flash varlen on GPU, block-diagonal mask on CPU."""
        real = attention_mask.bool()
        packed_ids = input_ids[real].unsqueeze(0)
        positions = position_ids_from_mask(attention_mask)[real].unsqueeze(0)
        if self.attn == "flash_attention_2":
            out = self.model(input_ids=packed_ids, position_ids=positions)
        else:
            if not self.config.bidirectional:
                raise UsageError("packing is only implemented for bidirectional attention")
            rows = torch.arange(input_ids.shape[0], device=input_ids.device).unsqueeze(1).expand_as(input_ids)
            mask = encoder_attention_mask(torch.ones_like(packed_ids), self.model.dtype,
                                          segment_ids=rows[real].unsqueeze(0))
            out = self.model(input_ids=packed_ids, attention_mask=mask, position_ids=positions)
        hidden = out[0].new_zeros(*input_ids.shape, out[0].shape[-1])
        hidden[real] = out[0][0]
        return hidden

    def _embed_rows(self, rows: list[EncodedText]) -> torch.Tensor:
        """Embed one batch, halving it on out-of-memory instead of crashing."""
        try:
            return self.embed_batch(self.inputs.collate(rows))
        except (torch.OutOfMemoryError, RuntimeError) as err:
            if not is_out_of_memory(err):
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            if len(rows) == 1:
                raise OutOfMemoryError(
                    f"one text of {len(rows[0].input_ids)} tokens does not fit in memory; "
                    "lower max_length or use dtype bfloat16"
                ) from None
            half = len(rows) // 2
            log.warning("out of memory at batch %d; splitting", len(rows))
            return torch.cat([self._embed_rows(rows[:half]), self._embed_rows(rows[half:])])

    def encode(self, items: Sequence[Item], batch_size: int = 32, normalize: bool | None = None,
               instruction: str | None = None, show_progress: bool = False) -> np.ndarray:
        """(n, dim) float32 array, in input order.

        Items are strings (given ``instruction``, if any) or (instruction, text)
        pairs. Texts are sorted by length so batches carry little padding.
        """
        if isinstance(items, str):
            raise UsageError("encode() takes a list of texts, not a single string")
        if batch_size < 1:
            raise UsageError("batch_size must be at least 1")
        encoded = self.inputs.encode(list(items), instruction)
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i].input_ids))
        out = np.zeros((len(encoded), self.dim), dtype=np.float32)
        self.model.eval()
        with torch.inference_mode(), ProgressBar(total=len(encoded), disable=not show_progress, desc="embedding",
                                                 unit="text") as bar:
            for start in range(0, len(order), batch_size):
                for index in self.forward_groups(order[start:start + batch_size], encoded):
                    vectors = self._embed_rows([encoded[i] for i in index])
                    out[index] = vectors.float().cpu().numpy()
                    bar.update(len(index))
        if self.config.normalize if normalize is None else normalize:
            out = unit_rows(out)
        return out

    def forward_groups(self, index: list[int], encoded: Sequence[EncodedText]) -> list[list[int]]:
        """Split a longest-first batch so no forward pass exceeds ``tokens_per_forward`` padded tokens.

        Training uses it too (``ContrastiveObjective.embed``): a contrastive batch of short queries and
        long passages collated whole pads every row to the longest.
        """
        if self.tokens_per_forward is None:
            return [index]
        groups: list[list[int]] = []
        for i in index:
            if groups and (len(groups[-1]) + 1) * len(encoded[groups[-1][0]].input_ids) <= self.tokens_per_forward:
                groups[-1].append(i)
            else:
                groups.append([i])
        return groups

    def encode_queries(self, texts: Sequence[str], **kwargs) -> np.ndarray:
        """Texts prefixed with the saved query instruction."""
        return self.encode(texts, instruction=kwargs.pop("instruction", self.config.query_instruction), **kwargs)

    def encode_documents(self, texts: Sequence[str], **kwargs) -> np.ndarray:
        """Texts prefixed with the saved document instruction (usually none)."""
        return self.encode(texts, instruction=kwargs.pop("instruction", self.config.document_instruction), **kwargs)

    def __repr__(self) -> str:
        c = self.config
        return (f"Encoder({c.base_model!r}, type={c.model_type}, pooling={c.pooling}, dim={c.dim}, "
                f"bidirectional={c.bidirectional}, adapters={[a.name for a in c.adapters]}, attn={self.attn})")


def _build_model(load_from: str, revision: str | None, dtype: str | None, attn: str, device: str | None,
                 adapters: list[tuple[Path, str, bool]]) -> tuple[torch.nn.Module, hardware.DtypeChoice, str]:
    """The base model in the dtype this machine (or the caller) chooses, with ``adapters`` (dir, name, merge)
    applied in order, and its linear layers made int8 last when asked: both ways of loading use this."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    choice = hardware.choose_dtype(dtype, device)
    torch_dtype = loading.torch_dtype(hardware.weights_dtype(choice.dtype))
    impl = loading.resolve_attention(attn, torch_dtype, device)
    model = loading.load_base_model(load_from, revision, torch_dtype, impl, device)
    for directory, name, merge in adapters:
        model = apply_adapter(model, directory, name, merge)
    if choice.dtype == "int8":
        model = hardware.quantize_int8(model)
    return model, choice, device


def is_out_of_memory(err: BaseException) -> bool:
    """CUDA or CPU allocation failure (both surface as RuntimeError subclasses)."""
    text = str(err).lower()
    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in text or "can't allocate memory" in text
