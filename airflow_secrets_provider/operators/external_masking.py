"""Opt-in masking of externally managed Secrets a task's pod references.

By default the worker never reads an externally managed Secret (``set_env_from_secret``,
``mount_secret``, the Pachyderm dicts, native ``Secret`` objects, presets' ``secretKeyRef``s):
the kubelet reads it when it starts the pod, and the launcher needs no ``get`` on it. The price
is that the masker does not know those values, so a container that prints one shows it in the
task log (with ``get_logs=True``).

``SecretTaskOperator(mask_external_secrets=True)`` (or ``[secrets_provider]
mask_external_secrets = True``) closes that: at execute time, before anything is created, the
worker reads every such Secret the final pod spec references and registers the referenced keys'
values with the masker. Only values; nothing is kept. The launcher then needs ``get`` on each of
those Secrets (``airflow-secrets rbac launcher --readable-secret NAME``); a refused read fails
the task naming the Secret (the user asked for masking: running unmasked would be the silent
failure). A Secret that does not exist is left to the pod-start check, which names it.

:func:`referenced_secrets` is pure; :func:`mask_referenced_secrets` does the reads.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from kubernetes.client import models as k8s

from airflow_secrets_provider.config import SECTION
from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.core.secret_data import decode_data
from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook
from airflow_secrets_provider.kube.errors import KubernetesAccessError, KubernetesNotFoundError

log = logging.getLogger(__name__)

CONFIG_SECTION = SECTION
CONFIG_OPTION = "mask_external_secrets"

#: ``None`` means every key of the Secret (``envFrom``, a volume without ``items``).
KeySelection = frozenset[str] | None


def _add(found: dict[str, KeySelection], name: str | None, keys: Iterable[str] | None) -> None:
    if not name:
        return
    if keys is None or found.get(name, frozenset()) is None:
        found[name] = None
        return
    found[name] = frozenset(found.get(name) or frozenset()) | frozenset(keys)


def referenced_secrets(pod: k8s.V1Pod) -> dict[str, KeySelection]:
    """Every Secret ``pod`` references for its containers, with the keys it uses (None: all)."""
    found: dict[str, KeySelection] = {}
    spec = pod.spec
    if spec is None:
        return found
    for container in [*(spec.init_containers or []), *(spec.containers or [])]:
        for env in container.env or []:
            ref = env.value_from.secret_key_ref if env.value_from else None
            if ref is not None:
                _add(found, ref.name, [ref.key])
        for source in container.env_from or []:
            if source.secret_ref is not None:
                _add(found, source.secret_ref.name, None)
    for volume in spec.volumes or []:
        if volume.secret is not None:
            items = volume.secret.items
            _add(found, volume.secret.secret_name, [item.key for item in items] if items else None)
        if volume.projected is not None:
            for projection in volume.projected.sources or []:
                if projection.secret is not None:
                    items = projection.secret.items
                    _add(found, projection.secret.name, [item.key for item in items] if items else None)
    return found


def configured_mask_external_secrets() -> bool:
    """Airflow's ``[secrets_provider] mask_external_secrets`` (default ``False``)."""
    from airflow_secrets_provider import config

    return config.get_bool(CONFIG_OPTION)


def mask_referenced_secrets(
    hook: SecretsKubernetesHook,
    namespace: str,
    pod: k8s.V1Pod,
    skip: Iterable[str],
) -> list[str]:
    """Read each Secret ``pod`` references (but those in ``skip``) and mask the used keys' values.

    Returns the names of the Secrets whose values were registered with the masker.
    """
    from airflow_secrets_provider.operators.resolve import register_value

    skipped = set(skip)
    masked: list[str] = []
    for name, keys in sorted(referenced_secrets(pod).items()):
        if name in skipped:
            continue
        try:
            secret = hook.read_secret(name, namespace)
        except KubernetesNotFoundError:
            log.info("Secret %s does not exist (yet); nothing of it to mask", name)
            continue
        except KubernetesAccessError:
            raise SecretConfigError(
                "mask_external_secrets",
                f"cannot read Secret {name!r} in namespace {namespace!r} to mask its values: grant the "
                f"launcher get on it (airflow-secrets rbac launcher --readable-secret {name}) or turn "
                "mask_external_secrets off",
            ) from None
        data = secret.data or {}
        wanted = data if keys is None else {key: data[key] for key in sorted(keys) if key in data}
        for key, raw in decode_data(wanted, f"Secret {name!r} in namespace {namespace!r}", provider="secret").items():
            try:
                register_value(raw.decode("utf-8"))
            except UnicodeDecodeError:  # binary (a keystore): no line of text a log could show
                log.info("Key %s of Secret %s is not UTF-8 text; not masked", key, name)
        masked.append(name)
    return masked
