"""Shared helpers of the training tests (data paths, tiny step configs, one-thread fixture)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from adaptation.training import step_defaults

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WIKITEXT = DATA / "wikitext-2" / "raw" / "wiki.test.raw"
WIKI1M = DATA / "wiki1m-sample" / "wiki1m_sample.txt"
BANKING = DATA / "banking77" / "train.csv"
needs_data = pytest.mark.skipif(not WIKI1M.is_file() or not WIKITEXT.is_file(),
                                reason=f"shared data not found at {DATA} (clone with ../shared beside the repo)")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from threads; on a busy 2-core box one thread is 2-3x faster."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny_steps(mntp_steps: int = 4, simcse_steps: int = 4, mntp_batch: int = 4, simcse_batch: int = 8,
               **simcse_overrides):
    """MNTP on Wikitext-2 and SimCSE on wiki1m at toy sizes with a high lr (tiny models learn fast)."""
    mntp = step_defaults("mntp")
    mntp.max_steps, mntp.batch_size, mntp.max_length, mntp.lr = mntp_steps, mntp_batch, 64, 2e-3
    mntp.data = [str(WIKITEXT)]
    simcse = step_defaults("simcse")
    simcse.max_steps, simcse.batch_size, simcse.max_length, simcse.lr = simcse_steps, simcse_batch, 32, 1e-3
    simcse.data = [str(WIKI1M)]
    for key, value in simcse_overrides.items():
        setattr(simcse, key, value)
    return [mntp, simcse]
