#!/usr/bin/env bash
# Run the test suite (creates .venv on first use), in parallel over the machine's cores (at most 4).
#   bash scripts/test.sh           the full suite (what CI runs; about 10 minutes on 2 cores)
#   bash scripts/test.sh --quick   every module, without the slow end-to-end tests (a few minutes)
# Further arguments go to pytest, e.g. `bash scripts/test.sh --quick -k sampler`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
args=()
if [ "${1:-}" = "--quick" ]; then
  shift
  args=(-m "not slow")
fi
cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
workers=${EFFICIENTTRAIN_TEST_WORKERS:-$(( cores < 4 ? cores : 4 ))}
exec .venv/bin/python -m pytest -n "$workers" --dist worksteal "${args[@]}" "$@"
