#!/usr/bin/env bash
# Set up and run the example DAG on the embedded default (no cluster, no cloud): first print the
# pod specs its tasks would create (references only), then run it end to end with real Airflow
# against a local kube-apiserver (built once per machine) and the kubelet stand-in.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# shellcheck disable=SC1091
. .venv/bin/activate
export AIRFLOW_HOME="${AIRFLOW_HOME:-$PWD/.airflow-home}"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_FOLDER="$PWD/dags"
mkdir -p "$AIRFLOW_HOME"
echo "== the pods example_secrets would create (dry run)"
airflow-secrets render dags/example_secrets.py
scripts/kube-node.sh build
python scripts/demo.py
