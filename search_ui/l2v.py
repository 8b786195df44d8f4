"""The one ``l2v`` command: every layer's sub-commands, gathered here, in the top layer.

Each layer keeps its commands next to its code and offers them through ``register(app)``; this module
imports each one explicitly, layer by layer from the bottom up (search_ui -> indexer -> adaptation
stays one-way: no lower layer knows this app):

* ``l2v encoder info|embed``, ``l2v encoders`` - ``adaptation.cli``
* ``l2v adapt``              - ``adaptation.training.cli``
* ``l2v pretrain``           - ``adaptation.pretraining.cli``
* ``l2v eval``               - ``adaptation.evaluation.cli``
* ``l2v index|search|status`` - ``indexer.cli``
* ``l2v ui|serve``           - ``search_ui.cli``
* ``l2v demo``               - ``search_ui.demo``

The command modules import their heavy libraries (torch, FAISS, Streamlit) inside the commands, so
``l2v --help`` stays fast. ``main()`` is the ``l2v`` script (``python -m search_ui.l2v`` too).
"""
from __future__ import annotations

from adaptation import cli as encoder_cli
from adaptation.commands import new_app, run
from adaptation.evaluation import cli as eval_cli
from adaptation.pretraining import cli as pretrain_cli
from adaptation.training import cli as adapt_cli
from indexer import cli as index_cli
from search_ui import cli as ui_cli
from search_ui import demo

app = new_app("L2V Search: decoder LLMs as text encoders (LLM2Vec), and search over your documents.")
for layer in (encoder_cli, adapt_cli, pretrain_cli, eval_cli, index_cli, ui_cli, demo):
    layer.register(app)


def main() -> None:
    """Entry point: user mistakes (``L2VError``) become one line on stderr and their exit code."""
    run(app)


if __name__ == "__main__":
    main()
