"""How an ``l2v`` command line runs: one Typer app, and domain errors as one line and an exit code.

Shared by the one ``l2v`` app (``search_ui.l2v``) and ``python -m adaptation.training adapt``
(what torchrun launches for ``l2v adapt --nproc N``), so both end the same way.
"""
from __future__ import annotations

import sys

import typer

from .errors import L2VError
from .terminal import terminal_safe


def new_app(help: str) -> typer.Typer:
    """A root app: help without arguments, no shell-completion options, no pretty tracebacks."""
    # rich_markup_mode=None: help strings are plain text, so "[default: 400]" and "l2v-search[ray]" are shown as
    # written instead of being eaten as Rich markup
    return typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                       rich_markup_mode=None, help=help)


def run(app: typer.Typer) -> None:
    """Run ``app`` on ``sys.argv`` and exit: user mistakes become one line on stderr and an exit code."""
    show_notices()
    try:
        code = app(standalone_mode=False)   # a command's typer.Exit(code) comes back as the return value here
        if isinstance(code, int) and code:
            sys.exit(code)
    except L2VError as err:
        typer.echo(f"error: {terminal_safe(err)}", err=True)   # messages quote file names and recorded values
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


def show_notices() -> None:
    """Print the library's ``l2v.notice`` records (e.g. the dtype an encoder runs in) on stderr, once."""
    import logging

    notice = logging.getLogger("l2v.notice")
    if not notice.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        notice.addHandler(handler)
        notice.setLevel(logging.INFO)
        notice.propagate = False


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
