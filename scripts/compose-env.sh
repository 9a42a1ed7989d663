#!/usr/bin/env bash
# Write the git-ignored .env that docker-compose.yml reads its secrets from.
#
# Why a script: the compose file holds no secret literal, so a fresh checkout has none to start
# with; this generates each value once, from the kernel's random source. Idempotent: values
# already in the file are kept (a changed Fernet key would make stored connections unreadable,
# a changed DB password would lock Airflow out of its existing volume), missing ones are added.
# Values are never printed. Usage: scripts/compose-env.sh [PATH] (default: .env next to the
# compose file; ENV_FILE_PATH is honoured too).
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:-${ENV_FILE_PATH:-.env}}

# URL-safe random text: it sits inside the database URL, so no '/', '+', '@' or ':'.
random_token() { head -c "$1" /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '='; }
# A Fernet key is the URL-safe base64 of 32 random bytes, padding kept.
fernet_key() { head -c 32 /dev/urandom | base64 -w0 | tr '+/' '-_'; }

# The host user owns files the containers write to bind mounts; root gets the image's user.
uid=$(id -u)
[ "$uid" = 0 ] && uid=50000

umask 077
touch "$target"
chmod 600 "$target"

add() {  # add NAME=VALUE unless NAME is already set in the file
  local name=$1 value=$2
  if ! grep -q "^${name}=" "$target"; then
    printf '%s=%s\n' "$name" "$value" >>"$target"
    added+=("$name")
  fi
}

added=()
add AIRFLOW_UID "$uid"
add FERNET_KEY "$(fernet_key)"
add AIRFLOW_API_SECRET_KEY "$(random_token 32)"
add AIRFLOW_JWT_SECRET "$(random_token 48)"
add POSTGRES_PASSWORD "$(random_token 24)"
add _AIRFLOW_WWW_USER_USERNAME admin
add _AIRFLOW_WWW_USER_PASSWORD "$(random_token 18)"
add K3S_TOKEN "$(random_token 32)"
# The example project's Secret (airflow-project-secrets-fraud in namespace ml): every
# ASP_PROJECT_SECRET_<KEY> line becomes key <KEY> of it (add your own the same way).
add ASP_PROJECT_SECRET_AWS_KEY "$(random_token 20)"
add ASP_PROJECT_SECRET_DB_PASSWORD "$(random_token 20)"
add ASP_PROJECT_SECRET_AIRFLOW_VAR_DEMO_TOKEN "$(random_token 20)"
# Read by the example DAG's `env` request from the worker's environment.
add MY_ENV_SECRET "$(random_token 20)"

if [ ${#added[@]} -eq 0 ]; then
  echo "compose-env: $target already complete (nothing changed)" >&2
else
  echo "compose-env: wrote ${added[*]} to $target (mode 600; values not shown)" >&2
fi
