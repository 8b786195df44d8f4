#!/usr/bin/env bash
# Issue 13's GPU checks in one run (CUDA needed; sized for ~8 minutes on one H200). Writes every result
# under $OUT (default bench/out/gpu): the gpu-marked tests (flash-attention varlen packed == padded sdpa,
# bf16 vs fp32, faiss-gpu == CPU, the dtype probe), encoding tokens/s and % of bf16 peak for the default
# encoder and a ~1B random Llama, and `l2v adapt` steps/s with peak GPU memory.
#   bash bench/gpu_check.sh            # then copy the tables into BENCHMARKS.md with the machine named
set -uo pipefail
OUT=${OUT:-bench/out/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
timeout 240 python -m pytest -q -m gpu -p no:cacheprovider tests 2>&1 | tee "$OUT/pytest-gpu.log"
timeout 180 python bench/bench_encode.py --model data/encoders/l2v-smollm2 --dtypes float32,bfloat16 \
    --batch-sizes 32,128 --texts 1024 2>&1 | tee "$OUT/encode-default.md"
timeout 240 python bench/bench_encode.py --random-llama 2048,16,16 --dtypes bfloat16 --batch-sizes 32,128 \
    --texts 1024 2>&1 | tee "$OUT/encode-1b.md"
timeout 180 python bench/bench_training.py --steps 5 --dtypes bfloat16 2>&1 | tee "$OUT/training.md"
