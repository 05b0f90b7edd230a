#!/usr/bin/env bash
# The prepared GPU check of issue 15 (finishes in under 8 minutes on one H100-class GPU):
#   1. steps/s of the real training loop against pure forward+backward, mobilenetv3_large_100
#      and vit_tiny_patch16_224 at 224 px, batch 96 (aim: ratio >= 0.9);
#   2. aggregate steps/s and GPU utilisation with 1 and with 4 workers on one GPU;
#   3. `fasnas study estimate` of studies/mcio_template.yaml on that device.
# Usage: bash benchmarks/gpu_check.sh [DEVICE]      (DEVICE: cuda (default), cuda:N or cpu)
# With cpu it runs a reduced version (64 px, batch 24, a few steps) to show that it works.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE="${1:-cuda}"
PY="${PY:-.venv/bin/python}"
if [ "$DEVICE" = cpu ]; then
  SIZE=(--size 64 --batch 24 --steps 5 --seconds 5 --workers 1 2)
  ESTIMATE=(--samples 2 --steps 2)
else
  SIZE=(--size 224 --batch 96 --steps 50 --seconds 30 --workers 1 4)
  ESTIMATE=(--samples 8 --steps 10)
fi
echo "== loop efficiency and utilisation ($DEVICE)"
"$PY" benchmarks/bench_gpu.py --device "$DEVICE" "${SIZE[@]}"
echo "== study estimate studies/mcio_template.yaml"
"$PY" -m fasnas study estimate studies/mcio_template.yaml --device "$DEVICE" "${ESTIMATE[@]}"
