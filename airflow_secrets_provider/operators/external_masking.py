"""Masking of externally managed Secrets a task's pod references.

An externally managed Secret (``set_env_from_secret``, ``mount_secret``, the Pachyderm dicts,
native ``Secret`` objects, presets' ``secretKeyRef``s) is read by the kubelet when it starts the
pod; unless the worker reads it too, the masker does not know its values and a container that
prints one shows it in the task log (with ``get_logs=True``), the UI and the REST API.

``mask_external_secrets`` (the operator argument, or ``[secrets_provider]
mask_external_secrets``) has three modes. In each but ``False`` the worker reads, at execute
time and before anything is created, every such Secret the final pod spec references and
registers the referenced keys' values with the masker (only values; nothing is kept):

* ``"auto"`` (the default): where the launcher may not read one (403), it logs one warning
  naming the Secret and the RBAC flag that would allow the read (``airflow-secrets rbac
  launcher --readable-secret NAME``) and goes on: most launchers may read them, and one that
  may not still runs its task as before.
* ``True``: a refused read fails the task naming the Secret (the user asked for masking:
  running unmasked would be the silent failure).
* ``False``: never read (the launcher needs no ``get`` on them; values are not masked).

A Secret that does not exist is left to the pod-start check, which names it.

:func:`referenced_secrets` is pure; :func:`mask_referenced_secrets` does the reads.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Literal

from kubernetes.client import models as k8s

from airflow_secrets_provider.config import SECTION
from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.core.secret_data import decode_data
from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook
from airflow_secrets_provider.kube.errors import KubernetesAccessError, KubernetesNotFoundError

log = logging.getLogger(__name__)

CONFIG_SECTION = SECTION
CONFIG_OPTION = "mask_external_secrets"

AUTO: Literal["auto"] = "auto"
#: ``"auto"``, ``True`` or ``False`` (see the module's docstring).
MaskMode = bool | Literal["auto"]
READABLE_SECRET_FLAG = "airflow-secrets rbac launcher --readable-secret"

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


def check_mask_mode(value: object, field: str = CONFIG_OPTION) -> None:
    """The operator argument: ``None`` (Airflow's config decides), ``"auto"``, ``True`` or ``False``."""
    if value is None or value is True or value is False or value == AUTO:
        return
    raise SecretConfigError(field, 'must be "auto", True or False')


def configured_mask_external_secrets() -> MaskMode:
    """Airflow's ``[secrets_provider] mask_external_secrets`` (default ``"auto"``)."""
    from airflow_secrets_provider import config

    return config.get_bool_or_auto(CONFIG_OPTION)


def mask_referenced_secrets(
    hook: SecretsKubernetesHook,
    namespace: str,
    pod: k8s.V1Pod,
    skip: Iterable[str],
    *,
    strict: bool = True,
) -> list[str]:
    """Read each Secret ``pod`` references (but those in ``skip``) and mask the used keys' values.

    A refused read fails (``strict``, the ``True`` mode) or is logged once per Secret as a
    warning naming it and the RBAC flag that would allow it (``"auto"``). Returns the names of
    the Secrets whose values were registered with the masker.
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
            if not strict:
                log.warning(
                    "Cannot read Secret %s in namespace %s to mask its values (the launcher has no get on it): "
                    "a container that prints them shows them in the task log. Allow the read with `%s %s`, "
                    "or set mask_external_secrets=False to stop trying",
                    name,
                    namespace,
                    READABLE_SECRET_FLAG,
                    name,
                )
                continue
            raise SecretConfigError(
                "mask_external_secrets",
                f"cannot read Secret {name!r} in namespace {namespace!r} to mask its values: grant the "
                f"launcher get on it ({READABLE_SECRET_FLAG} {name}), or set mask_external_secrets to "
                "'auto' (warn and go on) or False",
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
