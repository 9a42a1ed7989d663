#!/bin/bash
# TEST DOUBLE of the official Airflow image's /entrypoint: the subset docker-compose.yml uses.
# `_AIRFLOW_DB_MIGRATE=true` migrates the metadata DB, `_AIRFLOW_WWW_USER_CREATE=true` creates
# the admin user from _AIRFLOW_WWW_USER_USERNAME / _AIRFLOW_WWW_USER_PASSWORD (kept if it
# exists), then an Airflow subcommand (`api-server`) runs as `airflow api-server` and anything
# else (`bash`, `python`, `airflow ...`, a path) runs as given.
set -euo pipefail

if [[ "${_AIRFLOW_DB_MIGRATE:-false}" == "true" ]]; then
    airflow db migrate
fi
if [[ "${_AIRFLOW_WWW_USER_CREATE:-false}" == "true" ]]; then
    user=${_AIRFLOW_WWW_USER_USERNAME:-admin}
    if airflow users list --output plain 2>/dev/null | awk '{print $2}' | grep -qx "$user"; then
        echo "entrypoint: user $user exists"
    else
        airflow users create --username "$user" --password "${_AIRFLOW_WWW_USER_PASSWORD:?}" \
            --firstname Airflow --lastname Admin --email "$user@example.invalid" --role Admin
    fi
fi

if [[ $# -eq 0 ]]; then
    exec bash
fi
case "$1" in
bash | sh | python | python3 | airflow | /*) exec "$@" ;;
*) exec airflow "$@" ;;
esac
