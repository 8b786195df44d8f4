"""The three LLM2Vec adaptation steps (MNTP, SimCSE, supervised contrastive) as one run.

``adapt(RunConfig(...))`` is the library entry point; ``l2v adapt`` is a thin
CLI over it (``cli.py``). One shared training loop (``loop.py``), which
``l2v pretrain`` runs too; each objective is one short module exposing a loss
over a batch.
"""
from typing import TYPE_CHECKING

from adaptation.lazy import lazy_exports

if TYPE_CHECKING:
    from .config import RunConfig, StepConfig, step_defaults
    from .run import adapt, plan

__getattr__, __all__ = lazy_exports(__name__, {".config": ["RunConfig", "StepConfig", "step_defaults"],
                                                ".run": ["adapt", "plan"]})
