#!/usr/bin/env bash
# Create .venv (Python 3.11+, pyproject's requires-python) and install the package with its test and dev tools.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  { echo "setup.sh: $PYTHON is older than Python 3.11 (set PYTHON=...)" >&2; exit 1; }

# Debian's python3 creates venvs only with python3-venv (ensurepip); install it if missing.
if ! "$PYTHON" -c 'import ensurepip' >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    # shellcheck source=scripts/lib.sh
    . scripts/lib.sh
    apt_install python3-venv
  else
    echo "setup.sh: $PYTHON cannot create virtual environments (no ensurepip)" >&2
    exit 1
  fi
fi

# A venv whose creation failed half way has a python but no activate script: start over.
if [ ! -f .venv/bin/activate ]; then
  rm -rf .venv
  "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
if ! pip show airflow-secrets-provider >/dev/null 2>&1 || [ "${ASP_REINSTALL:-0}" = 1 ] || [ pyproject.toml -nt .venv/.installed ]; then
  pip install --quiet --upgrade pip
  pip install --quiet -e ".[dev]"
  touch .venv/.installed
fi
