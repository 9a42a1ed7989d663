"""Resolve once, attach an immutable result (operators/resolve.py, operators/attach.py).

Requests that resolve on the worker without any Kubernetes call (``inline``, ``file``), so no
cluster is needed: what is checked is the shape of the result and where it goes.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
import secrets
from pathlib import Path

import pytest
from airflow.providers.cncf.kubernetes.k8s_model import K8SModel

from airflow_secrets_provider import SecretTaskOperator, with_secrets
from airflow_secrets_provider.core.naming import task_secret_name
from airflow_secrets_provider.operators.resolve import ResolvedSecrets


def _operator(tmp_path: Path, **kwargs: object) -> tuple[SecretTaskOperator, dict[str, str]]:
    values = {"INLINE_A": secrets.token_hex(16), "FILE_B": secrets.token_hex(16)}
    path = tmp_path / "s.txt"
    path.write_text(f"FILE_B={values['FILE_B']}\n")
    kwargs.setdefault("namespace", "ns")
    op = SecretTaskOperator(
        task_id="once",
        image="busybox:1.36",
        kubernetes_conn_id=None,  # no Airflow connection to look up
        apply_presets=False,  # no cluster to list preset ConfigMaps in (tests/test_presets.py has them)
        secrets=[with_secrets("inline", {"INLINE_A": values["INLINE_A"]}), with_secrets("file", str(path))],
        **kwargs,  # type: ignore[arg-type]
    )
    return op, values


def test_execute_resolves_into_one_immutable_value(tmp_path: Path) -> None:
    op, values = _operator(tmp_path)
    assert op.resolved is None  # nothing is resolved when the DAG is parsed
    returned = op.prepare_secrets()
    resolved = op.resolved
    assert isinstance(resolved, ResolvedSecrets)
    assert dict(returned) == dict(resolved.values) == values
    assert resolved.namespace == "ns"
    assert sorted(key for keys in resolved.keys.values() for key in keys) == ["FILE_B", "INLINE_A"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        resolved.namespace = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        resolved.keys[next(iter(resolved.keys))] = ()  # type: ignore[index]
    assert all(value not in repr(resolved) for value in values.values())
    # Airflow may copy or pickle an operator after execute() began: the value survives both.
    assert copy.deepcopy(resolved) == resolved == pickle.loads(pickle.dumps(resolved))


def test_the_pod_gets_the_resolution_through_a_k8s_model_and_the_operator_keeps_its_own_secrets(
    tmp_path: Path,
) -> None:
    op, _ = _operator(tmp_path)
    op.prepare_secrets()
    model = op.attachment()
    assert isinstance(model, K8SModel) and model.resolved is op.resolved
    pod = op.build_pod_request_obj(dry_run=True)
    env = {e.name: e.value_from.secret_key_ref for e in pod.spec.containers[0].env if e.value_from}
    # The file's keys were resolved, so they are listed instead of an envFrom of the whole Secret.
    assert {name: ref.name for name, ref in env.items()} == dict.fromkeys(
        ["INLINE_A", "FILE_B"], task_secret_name(pod.metadata.name)
    )
    assert op.secrets == []  # the model was handed to KPO's build, never left on the operator


def test_resolving_again_makes_a_new_value_and_leaves_the_old_one_alone(tmp_path: Path) -> None:
    op, values = _operator(tmp_path)
    op.prepare_secrets()
    first = op.resolved
    assert first is not None
    (tmp_path / "s.txt").write_text(f"FILE_B={secrets.token_hex(16)}\n")
    op.prepare_secrets()
    assert op.resolved is not first
    assert dict(first.values) == values  # what an earlier execution resolved is not changed


def test_the_namespace_is_the_one_of_the_pod_kpo_builds(tmp_path: Path) -> None:
    """A pod template may name the namespace; the secrets are checked where the pod will run."""
    template = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"namespace": "from-template"},
        "spec": {"containers": []},
    }
    op, _ = _operator(tmp_path, namespace=None, pod_template_dict=template)
    op.prepare_secrets()
    assert op.resolved is not None
    assert op.resolved.namespace == "from-template" == op.build_pod_request_obj(dry_run=True).metadata.namespace
