"""The pure core: the request model, validation, naming, redaction of names in messages, values, errors.

Nothing here imports Kubernetes, Azure or Airflow's runtime, so every rule about what a request
means and what is refused can be read and tested without a cluster, a vault or a metadata DB.
"""
