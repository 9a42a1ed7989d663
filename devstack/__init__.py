"""The local development stack: a Kubernetes node, local images and Airflow's services.

Used by the quickstart (``scripts/``) and by the test suite; never shipped in the wheel and never
imported by ``airflow_secrets_provider``. Tests import from here, never the reverse.
"""
