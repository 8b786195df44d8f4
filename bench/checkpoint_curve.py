"""Score vs training steps on STS-B dev, from `l2v adapt` checkpoints saved along the way.

    python bench/checkpoint_curve.py START_ENCODER STEP SNAPSHOT.pt [SNAPSHOT.pt ...] [--out curve.jsonl]

START_ENCODER is what the step started from (the base for MNTP, the `mntp/` encoder for
SimCSE or supervised); each snapshot is a copy of `RUN/checkpoints/STEP/trainer_state.pt`
taken while the run went on. The step's fresh LoRA adapter is rebuilt exactly as `l2v adapt`
builds it (same run config), the snapshot's weights are loaded into it, and STS-B dev is scored
with plain texts (cosine Spearman x 100), the set this project tunes on (never STS-B test).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data"


def main() -> None:
    from jsonl import emit
    from adaptation.training.config import RUN_CONFIG, RunConfig
    from adaptation.training.model import add_lora, load_encoder
    from adaptation.evaluation import sts
    from adaptation.evaluation.base import EvalSettings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("start")
    parser.add_argument("step")
    parser.add_argument("snapshots", nargs="+", type=Path)
    parser.add_argument("--run", type=Path, required=True, help="the run directory (for its run_config.json)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    config = RunConfig.from_dict(json.loads((args.run / RUN_CONFIG).read_text()))
    step = config.step(args.step)
    data = sts.load(DATA / "stsbenchmark" / "sts-dev.csv")
    encoder = load_encoder(args.start, "float32", None, config.pooling)
    add_lora(encoder, step)
    params = {n: p for n, p in encoder.model.named_parameters() if p.requires_grad}
    for snapshot in sorted(args.snapshots):
        state = torch.load(snapshot, map_location="cpu", weights_only=False)
        with torch.no_grad():
            for name, param in params.items():
                param.copy_(state["params"][name])
        result = sts.run(encoder, data, EvalSettings(batch_size=64), "")  # exactly as `l2v eval` scores it
        row = {"step_name": args.step, "step": int(state["step"]), "sts_dev": round(100 * result.main_score, 2),
               "seconds": round(result.seconds, 1)}
        emit(row, args.out)


if __name__ == "__main__":
    main()
