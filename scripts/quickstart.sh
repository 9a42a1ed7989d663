#!/usr/bin/env bash
# README command 1: set up and run the whole stack in the foreground (Ctrl-C stops everything):
# Airflow 3 (api-server + UI, scheduler, dag-processor, triggerer; LocalExecutor; SQLite) with
# this provider and ChainedSecretsBackend, the example DAGs in dags/, and a local Kubernetes.
#
#   scripts/quickstart.sh [--port 8080] [--home DIR]   foreground
#   scripts/quickstart.sh --detach [--port N] [--home DIR]   background; returns once ready
#   scripts/quickstart.sh stop [--home DIR]            stop a detached stack
#   scripts/quickstart.sh status [--home DIR]
#
# The stack lives in devstack/airflow_stack.py; the home defaults to .airflow-stack/ (ASP_STACK_HOME).
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
stop | status)
    [ -x .venv/bin/python ] || { echo "quickstart.sh: no .venv here; nothing was started" >&2; exit 0; }
    exec .venv/bin/python -m devstack.airflow_stack "$@"
    ;;
esac

scripts/setup.sh
# The local Kubernetes is built once per machine (about 10 minutes); progress shows here.
scripts/kube-node.sh build >/dev/null
exec .venv/bin/python -m devstack.airflow_stack up "$@"
