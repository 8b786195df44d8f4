"""The one ``l2v`` command line: a thin layer over the library API.

Sub-commands of higher layers (``l2v index``, ``l2v ui``...) register themselves
through the ``l2v.commands`` entry-point group, so this module never imports them.
"""
from __future__ import annotations

import json
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Optional

import typer

from .errors import L2VError

# rich_markup_mode=None: help strings are plain text, so "[default: 400]" and "l2v-search[ray]" are shown as
# written instead of being eaten as Rich markup
app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="L2V Search: decoder LLMs as text encoders (LLM2Vec), and search over your documents.")
encoder_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Inspect encoders and embed texts.")
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
    dtype: str = typer.Option("float32", help="float32 | bfloat16"),
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


def _register_plugins() -> None:
    for ep in entry_points(group="l2v.commands"):
        try:
            register = ep.load()
        except ImportError as err:
            top_package = ep.value.split(".")[0]
            if getattr(err, "name", None) != top_package:  # the layer exists but is broken: say so
                print(f"warning: l2v commands '{ep.name}' unavailable: {err}", file=sys.stderr)
            continue
        register(app)


def main() -> None:
    """Entry point: user mistakes become one line on stderr and an exit code."""
    _register_plugins()
    try:
        code = app(standalone_mode=False)   # a command's typer.Exit(code) comes back as the return value here
        if isinstance(code, int) and code:
            sys.exit(code)
    except L2VError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(err.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except Exception as err:  # click usage errors (bad option values) arrive here in non-standalone mode
        if isinstance(err, _click_exceptions()):
            err.show()
            sys.exit(err.exit_code)
        raise


def _click_exceptions() -> tuple[type, ...]:
    """Usage-error base classes: typer >= 0.2x vendors click as ``typer._click``; older typer uses click."""
    found: list[type] = []
    try:
        from typer._click.exceptions import ClickException as TyperClickException
        found.append(TyperClickException)
    except ImportError:
        pass
    try:
        import click
        found.append(click.ClickException)
    except ImportError:
        pass
    return tuple(found)


if __name__ == "__main__":  # `python -m adaptation.cli`: what torchrun launches for `l2v adapt --nproc N`
    main()
