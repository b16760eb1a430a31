#!/usr/bin/env bash
# Run the test suite (creates .venv on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
