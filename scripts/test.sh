#!/usr/bin/env bash
# The one test command: set up, lint, type-check, then every test tier.
# Extra arguments go to pytest (e.g. scripts/test.sh -k assembly).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate

echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy"
mypy
echo "== kube-apiserver (built once per machine, cached outside the repo)"
scripts/kube-apiserver.sh build
echo "== pytest"
python -m pytest "$@"
