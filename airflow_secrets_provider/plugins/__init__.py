"""The Secrets page in the Airflow UI: an Airflow 3 plugin (FastAPI app + a top-level nav view).

:mod:`.secrets_page` is the plugin class (``airflow.plugins`` entry point), :mod:`.api` the
FastAPI app it mounts, :mod:`.access` how Airflow's auth manager decides who may read or change
keys, :mod:`.cluster` which cluster and namespace the page manages (the api-server's identity).
"""

URL_PREFIX = "/secrets-provider"
"""Where Airflow mounts the page's app (not one of Airflow's reserved prefixes)."""
