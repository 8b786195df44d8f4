"""``l2v encoder ...``: inspect encoders and embed texts (the encoder layer's own sub-commands).

The one ``l2v`` app is ``search_ui.l2v``; it adds these through ``register(app)``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .hardware import DTYPE_HELP

encoder_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Inspect encoders and embed texts.")


def register(app: typer.Typer) -> None:
    app.add_typer(encoder_app, name="encoder")
    app.command("encoders")(list_encoders)


def list_encoders(as_json: bool = typer.Option(False, "--json", help="Print them as JSON (with paths and full bases).")
                  ) -> None:
    """List the encoders bundled with l2v-search: their names work wherever an encoder is asked for."""
    from .names import bundled_encoders

    found = bundled_encoders()
    if as_json:
        typer.echo(json.dumps([e.to_dict() for e in found], indent=2))
        return
    if not found:
        typer.echo("no bundled encoders in this install (data/encoders is missing)", err=True)
        return
    width = max(len(e.name) for e in found)
    base_width = max(len(e.base_short) for e in found)
    typer.echo(f"{'NAME':<{width}}  {'DIM':>4}  {'BASE':<{base_width}}  WHAT")
    for e in found:
        typer.echo(f"{e.name:<{width}}  {e.dim:>4}  {e.base_short:<{base_width}}  {e.description}")


@encoder_app.command("info")
def encoder_info(encoder: str = typer.Argument(..., metavar="ENCODER",
                                               help="A saved encoder directory or a bundled encoder's name.")) -> None:
    """Print the saved configuration of an encoder directory."""
    from .config import EncoderConfig
    from .names import resolve_encoder_name

    config = EncoderConfig.read(Path(resolve_encoder_name(encoder)).expanduser())
    typer.echo(json.dumps(config.to_dict(), indent=2))


@encoder_app.command("embed")
def encoder_embed(
    model: str = typer.Argument(..., metavar="MODEL", help="Encoder directory, bundled encoder name (l2v encoders), "
                                                            "LLM2Vec checkpoint dir, GGUF file or hub id."),
    texts: list[str] = typer.Argument(..., metavar="TEXTS", help="One or more texts."),
    instruction: Optional[str] = typer.Option(None, "--instruction", "-i", help="Instruction prefixed to every text."),
    pooling: Optional[str] = typer.Option(None, help="mean | weighted_mean | last_token | bos"),
    dtype: Optional[str] = typer.Option(None, "--dtype", metavar="DTYPE", help=DTYPE_HELP),
    similarities: bool = typer.Option(False, "--similarities", "-s", help="Print cosine similarities instead of vectors."),
) -> None:
    """Embed texts and print the vectors (JSON) or their cosine similarity matrix."""
    from .encoder import Encoder

    encoder = Encoder.from_pretrained(model, pooling=pooling, dtype=dtype)
    items = [(instruction, t) if instruction else t for t in texts]
    vectors = encoder.encode(items, normalize=similarities)
    if similarities:
        sims = vectors @ vectors.T
        width = max(len(t[:30]) for t in texts)
        for text, row in zip(texts, sims):
            typer.echo(f"{text[:30]:<{width}}  " + "  ".join(f"{v:+.4f}" for v in row))
    else:
        typer.echo(json.dumps({"dim": int(vectors.shape[1]), "embeddings": vectors.tolist()}))
