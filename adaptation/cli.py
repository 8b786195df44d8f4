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


@encoder_app.command("info")
def encoder_info(directory: Path = typer.Argument(..., metavar="DIRECTORY", help="A saved encoder directory.")) -> None:
    """Print the saved configuration of an encoder directory."""
    from .config import EncoderConfig

    config = EncoderConfig.read(directory)
    typer.echo(json.dumps(config.to_dict(), indent=2))


@encoder_app.command("embed")
def encoder_embed(
    model: str = typer.Argument(..., metavar="MODEL", help="Encoder directory, LLM2Vec checkpoint dir, or hub id."),
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
