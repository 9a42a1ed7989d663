#!/usr/bin/env bash
# Create .venv (Python 3.10+) and install the package with its test and dev tools.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
if ! pip show airflow-secrets-provider >/dev/null 2>&1 || [ "${ASP_REINSTALL:-0}" = 1 ] || [ pyproject.toml -nt .venv/.installed ]; then
  pip install --quiet --upgrade pip
  pip install --quiet -e ".[dev]"
  touch .venv/.installed
fi
