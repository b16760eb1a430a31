#!/usr/bin/env bash
# The main job on the built-in default: baseline vs EfficientTrain on the demo data (a few minutes on 2 CPU cores).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/efficienttrain demo "$@"
