# The Airflow image of docker-compose.yml: the official Airflow image plus this provider.
#
#   docker compose build            (or: docker build -t airflow-secrets-provider:local .)
#
# Build args:
#   AIRFLOW_BASE_IMAGE  the image to extend (default: the official apache/airflow:3.3.2-python3.11);
#                       any image laid out like it works (a venv on PATH owned by user
#                       `airflow`, AIRFLOW_VERSION set, /entrypoint).
#   PIP_INSTALL_ARGS    extra pip arguments, e.g. "--no-index --no-build-isolation" when the base
#                       already holds every dependency and no package index is reachable
#                       (docs/compose.md: "Offline, or your own images").
ARG AIRFLOW_BASE_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_BASE_IMAGE}

ARG PIP_INSTALL_ARGS=""

USER airflow
COPY --chown=airflow:0 pyproject.toml README.md /opt/airflow-secrets-provider/src/
COPY --chown=airflow:0 airflow_secrets_provider /opt/airflow-secrets-provider/src/airflow_secrets_provider
# Pinning apache-airflow to the base image's version keeps pip from upgrading Airflow itself
# (the official image's advice for extending it).
RUN pip install --no-cache-dir ${PIP_INSTALL_ARGS} \
        "apache-airflow==${AIRFLOW_VERSION}" /opt/airflow-secrets-provider/src \
    && rm -rf /opt/airflow-secrets-provider/src/build
COPY --chown=airflow:0 docker/kube_init.py /opt/airflow-secrets-provider/kube_init.py
