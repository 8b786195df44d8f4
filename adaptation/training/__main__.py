"""``python -m adaptation.training adapt ...``: ``l2v adapt`` on its own, ending the same way (one-line errors).

What ``l2v adapt --nproc N`` launches under ``torch.distributed.run``, and what to give torchrun yourself
across several nodes; the training layer names no layer above it.
"""
from adaptation.commands import new_app, run

from .cli import register

app = new_app("LLM2Vec adaptation (l2v adapt) without the rest of the l2v command line.")


@app.callback()
def _group() -> None:
    """Keeps ``adapt`` a sub-command, as in ``l2v adapt``."""


register(app)

if __name__ == "__main__":
    run(app)
