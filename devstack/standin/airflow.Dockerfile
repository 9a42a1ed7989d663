# TEST DOUBLE of the official apache/airflow image, for machines that reach no image registry.
#
# Built by devstack/images.py from a Debian rootfs (scripts/rootfs.sh) and a wheelhouse the host
# filled (containers reach no package index). It copies only the parts of the official image's
# layout that docker-compose.yml and ./Dockerfile rely on: a venv at /home/airflow/.local on
# PATH owned by user `airflow` (uid 50000, gid 0), AIRFLOW_HOME=/opt/airflow, AIRFLOW_VERSION,
# `curl` for health checks, and an /entrypoint that runs Airflow subcommands and honours
# _AIRFLOW_DB_MIGRATE / _AIRFLOW_WWW_USER_CREATE (standin-airflow-entrypoint.sh).
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE} AS venv
RUN useradd --uid 50000 --gid 0 --create-home --home-dir /home/airflow airflow
USER airflow
COPY --chown=airflow:0 wheelhouse /tmp/wheelhouse
RUN python3 -m venv /home/airflow/.local \
    && /home/airflow/.local/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheelhouse \
        -r /tmp/wheelhouse/requirements.txt

FROM ${DEBIAN_IMAGE}
ARG AIRFLOW_VERSION
RUN useradd --uid 50000 --gid 0 --create-home --home-dir /home/airflow airflow \
    && mkdir -p /opt/airflow/dags /opt/airflow/logs && chown -R 50000:0 /opt/airflow && chmod -R g+rwX /opt/airflow
COPY --from=venv --chown=airflow:0 /home/airflow/.local /home/airflow/.local
COPY standin-airflow-entrypoint.sh /entrypoint
ENV VIRTUAL_ENV=/home/airflow/.local \
    PATH=/home/airflow/.local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW_UID=50000 \
    AIRFLOW_VERSION=${AIRFLOW_VERSION} \
    PYTHONUNBUFFERED=1
USER 50000
WORKDIR /opt/airflow
ENTRYPOINT ["/usr/bin/dumb-init", "--", "/entrypoint"]
CMD []
