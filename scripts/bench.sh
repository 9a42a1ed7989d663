#!/usr/bin/env bash
# The one benchmark command (not part of the pass/fail tests): every scenario of benchmarks/,
# ours and the alternative interleaved in one run; results in benchmarks/results/latest.{md,json}.
# Extra arguments go to `python -m benchmarks` (e.g. --quick, --only parse,lookup).
#
# The Microsoft Azure provider (the alternative AzureKeyVaultBackend) is not a dependency of this
# package: it is installed, without its many dependencies, into an overlay directory outside the
# repo (keyed by its version) that only the benchmark process puts on its path. What it imports
# beyond that (azure-identity, azure-keyvault-secrets, Airflow) is this venv's own copy.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/python ] || scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate

MS_AZURE_VERSION="15.2.1"
MSREST_VERSION="0.7.1"
overlay="${HOME}/.cache/airflow-secrets-provider/bench-overlay-msazure-${MS_AZURE_VERSION}-msrest-${MSREST_VERSION}"
if [ ! -f "$overlay/.complete" ]; then
  rm -rf "$overlay"
  python -m pip install --quiet --no-deps --target "$overlay" \
    "apache-airflow-providers-microsoft-azure==${MS_AZURE_VERSION}" "msrest==${MSREST_VERSION}"
  touch "$overlay/.complete"
fi
export ASP_BENCH_OVERLAY="$overlay"
# Appended (not prepended): the venv's packages win, the overlay only adds what is missing.
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$overlay"
# Operators log every pod build at INFO through Airflow's logging: keep the output to the results.
export AIRFLOW__LOGGING__LOGGING_LEVEL="${AIRFLOW__LOGGING__LOGGING_LEVEL:-WARNING}"
exec python -m benchmarks "$@"
