"""The Kubernetes side: the one client (:mod:`.client`), errors and retries, the project store,
manifests, presets in ConfigMaps, audit Events, RBAC rendering, the namespace layout, per-task Secrets.

The Airflow hook these build on, ``SecretsKubernetesHook``, lives in ``hooks/`` as Airflow's
providers keep their hooks; everything else that talks to the API server is here.
"""
