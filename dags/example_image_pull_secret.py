"""An image pull secret: the pod names the registry credentials it may pull with.

``image_pull_secrets`` (KubernetesPodOperator's own argument) references the
``kubernetes.io/dockerconfigjson`` Secret ``registry-creds``; the kubelet uses it to pull from a
private registry. The credentials stay in the Secret and never appear in the pod spec.
"""

from __future__ import annotations

import pendulum
from _asp_examples import IMAGE, NAMESPACE, PULL_POLICY, TAGS, proof_command
from airflow.sdk import DAG
from kubernetes.client import models as k8s

from airflow_secrets_provider import SecretTaskOperator

with DAG(
    dag_id="example_image_pull_secret",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=[*TAGS, "image-pull-secret"],
    doc_md=__doc__,
) as dag:
    SecretTaskOperator(
        task_id="private_image",
        image=IMAGE,
        image_pull_policy=PULL_POLICY,
        namespace=NAMESPACE,
        image_pull_secrets=[k8s.V1LocalObjectReference(name="registry-creds")],
        **proof_command(),
    )
