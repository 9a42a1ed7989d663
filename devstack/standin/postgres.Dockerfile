# TEST DOUBLE of the official postgres image, for machines that reach no image registry:
# Debian's postgresql-15 (from the same rootfs as the Airflow stand-in) with an entrypoint that
# honours POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB on an empty data directory, and
# `pg_isready` on PATH for the health check.
ARG DEBIAN_IMAGE
FROM ${DEBIAN_IMAGE}
RUN ln -s /usr/lib/postgresql/15/bin/pg_isready /usr/local/bin/pg_isready \
    && mkdir -p /var/lib/postgresql/data /run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /run/postgresql
COPY standin-postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PGDATA=/var/lib/postgresql/data
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
