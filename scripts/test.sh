#!/usr/bin/env bash
# The one test command: set up, lint, type-check, build the docs, then every test tier.
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
echo "== docs (Sphinx, warnings are errors; output in docs/_build/html, git-ignored)"
scripts/docs.sh
echo "== Kubernetes binaries (built once per machine, cached outside the repo)"
scripts/kube-node.sh build
echo "== Docker engine (Debian docker.io; the pods tier starts a private one)"
scripts/docker-engine.sh install
echo "== chromium + chromium-driver for the browser test (Debian's; nothing downloads a browser)"
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  # shellcheck source=scripts/lib.sh
  . scripts/lib.sh
  apt_install chromium chromium-driver
fi
echo "== pytest"
python -m pytest "$@"
