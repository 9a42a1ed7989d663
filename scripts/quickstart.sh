#!/usr/bin/env bash
# Set up and run the example DAG's secret assembly on the embedded default: no cluster, no
# cloud. Prints each task's pod spec as Kubernetes would receive it (references only) and
# checks that no secret value from the DAG appears in it or in the serialized DAG.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
export AIRFLOW_HOME="${AIRFLOW_HOME:-$PWD/.airflow-home}"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_FOLDER="$PWD/dags"
mkdir -p "$AIRFLOW_HOME"
airflow-secrets render dags/example_secrets.py "$@"
