#!/usr/bin/env bash
# Build the documentation site (Sphinx, docs/) with warnings as errors:
#   scripts/docs.sh [OUTDIR]     default docs/_build/html (git-ignored)
# -E re-reads every page and module each time: an incremental build would skip unchanged pages
# and so not repeat their warnings, and would not notice a changed docstring at all.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-docs/_build/html}
if [ -z "${VIRTUAL_ENV:-}" ]; then
  scripts/setup.sh
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi
doctrees=$(mktemp -d)
trap 'rm -rf "$doctrees"' EXIT
python -m sphinx -W --keep-going -E -q -d "$doctrees" -b html docs "$out"
echo "docs: $out/index.html"
