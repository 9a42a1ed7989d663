"""The audit log: every change through the Python API is an Event on the Secret, names only."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from airflow_secrets_provider.core.naming import project_secret_name
from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook
from airflow_secrets_provider.kube.audit import event_body, history
from airflow_secrets_provider.kube.manifests import ManagedSecrets, parse_manifest
from airflow_secrets_provider.kube.projects import ProjectSecretsStore
from airflow_secrets_provider.kube.retry import RetryPolicy
from tests.support.canaries import canary
from tests.test_manifests import kubectl_yaml

FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01)


def test_event_body_carries_names_only() -> None:
    body = event_body(
        "set", actor="alice", namespace="ml", secret="airflow-project-secrets-p", keys=["B", "A"], project="p", uid="u1"
    )
    assert body.reason == "SecretKeysSet" and body.message == "alice set keys A, B (project 'p')"
    assert body.involved_object.uid == "u1" and body.involved_object.kind == "Secret"
    assert body.metadata.annotations["airflow-secrets-provider/keys"] == '["A", "B"]'
    assert body.metadata.labels["airflow-secrets-provider/project"] == "p"


@pytest.mark.kubernetes
def test_every_store_change_is_recorded(core: CoreV1Api, admin_client: ApiClient, kube_namespace: str) -> None:
    hook = SecretsKubernetesHook.for_client(core, FAST)
    store = ProjectSecretsStore(hook, kube_namespace, actor="pipeline-bot")
    value = canary("audit-store")
    store.set_secrets("p", {"A": value, "B": "b"})
    store.delete_keys("p", ["A"])
    assert store.delete_project("p") is True
    assert store.delete_project("p") is False  # nothing deleted, nothing recorded

    managed = ManagedSecrets(hook, kube_namespace, actor="pipeline-bot")
    managed.create(parse_manifest(kubectl_yaml("clearml", access=value)))
    managed.delete("clearml")

    records = history(hook, kube_namespace, project="p")
    assert [(r.action, r.keys, r.actor) for r in records] == [
        ("set", ("A", "B"), "pipeline-bot"),
        ("unset", ("A",), "pipeline-bot"),
        ("delete-project", ("B",), "pipeline-bot"),
    ]
    assert all(r.secret == project_secret_name("p") for r in records)
    assert [(r.action, r.keys) for r in history(hook, kube_namespace, secret="clearml")] == [
        ("create", ("access",)),
        ("delete", ("access",)),
    ]
    events = core.list_namespaced_event(kube_namespace).items
    assert len(events) == 5 and all(e.source.component == "airflow-secrets" for e in events)
    assert value not in json.dumps(admin_client.sanitize_for_serialization(events))


class _EventsRefused:
    """Test double around the real ``CoreV1Api``: only Event creation is refused (403)."""

    def __init__(self, api: CoreV1Api) -> None:
        self._api = api

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    def create_namespaced_event(self, *args: Any, **kwargs: Any) -> Any:
        raise ApiException(status=403, reason="Forbidden")


@pytest.mark.kubernetes
def test_a_change_that_cannot_be_recorded_is_kept_and_reported(
    core: CoreV1Api, kube_namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    hook = SecretsKubernetesHook.for_client(_EventsRefused(core), FAST)  # type: ignore[arg-type]
    store = ProjectSecretsStore(hook, kube_namespace)
    with caplog.at_level(logging.WARNING, logger="airflow_secrets_provider.kube.audit"):
        assert store.set_secrets("p", {"K": "v"}) == ["K"]
    assert store.list_keys("p") == ["K"]
    assert len(store.audit.failures) == 1 and "audit Event could not be recorded" in store.audit.failures[0]
    assert "403" in store.audit.failures[0]
    assert any("audit Event could not be recorded" in r.getMessage() for r in caplog.records)
