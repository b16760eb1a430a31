#!/usr/bin/env bash
# The prepared GPU check (at most about 8 minutes on one GPU): the crop operator against the FFT
# reference on CUDA (fp32, bf16), the bare training step of resnet50 and deit_small at 160/192/224
# (bf16, channels-last), and the probe's predicted speedup. Writes benchmarks/results/gpu.md.
# Without CUDA it prints one line and exits 0.
#
#   bash benchmarks/gpu_check.sh            # uses .venv/bin/python if present, else python3
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
exec timeout 480 "$PY" -m benchmarks.gpu_check "$@"
