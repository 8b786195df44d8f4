"""Data-parallel adaptation under ``torchrun`` (gloo on CPU, nccl on GPU), one code path with 1 process.

The global batch (``--batch-size``) is what one process would take; each of the N ranks embeds a
contiguous slice of it. What makes N processes *equal* one (up to float summation order):

* contrastive steps gather every rank's embeddings, segment by segment (SimCSE: view 1, view 2;
  supervised: queries, positives, hard negatives), so the loss sees the same global matrix -- the
  in-batch negatives span the whole batch, as the paper's 8 x 64 = 512. The local slice of the
  gathered matrix is the rank's own tensor, so gradients flow into it; GradCache works unchanged
  (it caches the local embeddings and the loss gathers them).
* every rank computes the same loss, each gets the gradient through its own embeddings, and the
  LoRA gradients are **summed** across ranks once per step (not averaged): the sum is the full
  gradient. MNTP's loss is normalised by the *global* number of masked tokens for the same reason.
* batches and MNTP masks are pure functions of (seed, step), computed whole on every rank; dropout
  draws from each rank's own RNG, whose state is checkpointed per rank.

We sum gradients by hand rather than wrapping the model in ``DistributedDataParallel``: the
trainable LoRA tensors are a few MB, and GradCache runs several backward passes per step, which
DDP's bucketed hooks would each try to synchronise.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import torch


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job; ``Ranks()`` is the single-process job (every method a no-op)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """Only the main rank writes logs, checkpoints and step directories, and prints."""
        return self.rank == 0

    def shard(self, items: Sequence) -> list:
        """This rank's contiguous slice of a global batch (sizes differ by at most one)."""
        n = len(items)
        start = self.rank * n // self.world
        return list(items[start:(self.rank + 1) * n // self.world])

    def gather(self, local: torch.Tensor, sizes: Sequence[int]) -> torch.Tensor:
        """All ranks' rows, segment by segment, in rank order; gradients flow into this rank's ``local``.

        ``sizes``: this rank's rows per segment (they sum to ``len(local)``); may differ across ranks.
        """
        if not self.distributed:
            return local
        import torch.distributed as dist

        counts = torch.tensor(list(sizes), dtype=torch.long, device=local.device)
        all_counts = [torch.empty_like(counts) for _ in range(self.world)]
        dist.all_gather(all_counts, counts)
        longest = max(int(c.sum()) for c in all_counts)
        padded = local.new_zeros((longest, *local.shape[1:]))
        padded[:len(local)] = local.detach()
        rows = [torch.empty_like(padded) for _ in range(self.world)]
        dist.all_gather(rows, padded)
        rows[self.rank] = local
        pieces = []
        for segment in range(len(sizes)):
            for rank in range(self.world):
                begin = int(all_counts[rank][:segment].sum())
                pieces.append(rows[rank][begin:begin + int(all_counts[rank][segment])])
        return torch.cat(pieces)

    def sum_gradients(self, params: Sequence[torch.nn.Parameter]) -> None:
        """After the step's backward passes: every rank holds the full gradient."""
        if not self.distributed:
            return
        import torch.distributed as dist

        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        offset = 0
        for param, grad in zip(params, grads):
            param.grad = flat[offset:offset + grad.numel()].view_as(grad).clone()
            offset += grad.numel()

    def total(self, value: float) -> float:
        """Sum of a per-rank number (tokens, partial losses) over all ranks."""
        if not self.distributed:
            return value
        import torch.distributed as dist

        tensor = torch.tensor([float(value)], dtype=torch.float64)
        dist.all_reduce(tensor)
        return float(tensor.item())

    def broadcast(self, params: Sequence[torch.nn.Parameter]) -> None:
        """Start every rank from the main rank's adapter (same seed already makes them equal: belt and braces)."""
        if not self.distributed:
            return
        import torch.distributed as dist

        with torch.no_grad():
            for param in params:
                dist.broadcast(param.data, src=0)

    def all_objects(self, value) -> list:
        """Every rank's ``value`` (e.g. RNG states for a checkpoint), in rank order."""
        if not self.distributed:
            return [value]
        import torch.distributed as dist

        out = [None] * self.world
        dist.all_gather_object(out, value)
        return out

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def device(self) -> str | None:
        """Where this rank's model lives: its own GPU under torchrun, else the encoder's default."""
        if self.distributed and torch.cuda.is_available():
            return f"cuda:{self.local_rank}"
        return None


def join_from_environment() -> Ranks:
    """The job torchrun describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK), joined once."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    import torch.distributed as dist

    ranks = Ranks(rank=int(os.environ["RANK"]), world=world, local_rank=int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(ranks.local_rank)
        dist.init_process_group(backend)
    return ranks


def leave() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
