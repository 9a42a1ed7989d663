"""Presets: Kubeflow's PodDefault, without a CRD or a webhook.

A preset is a name, a description, a label selector and entries to add to a task's pod:
``env``, ``envFrom``, ``volumes``, ``volumeMounts`` (main container) and ``imagePullSecrets``.
Admins keep them in the cluster as ConfigMaps labelled ``airflow-secrets-provider/preset=true``
(key ``preset.yaml``; ``airflow-secrets presets apply -f``), or in a YAML file named by Airflow's
``[secrets_provider] presets_file`` option. ``SecretTaskOperator`` applies, at execute time,
every preset whose selector matches its pod's labels; merging follows PodDefault (see
:mod:`airflow_secrets_provider.pod_spec.merge`): identical entries are fine, conflicting ones fail the
task before anything is created, naming both sources. The applied presets' names are recorded
in the pod annotation ``airflow-secrets-provider/presets``.

The file and ConfigMap format (PodDefault's ``spec``, plus ``name``)::

    name: s3-credentials          # a ConfigMap's own name wins
    desc: S3 read access for the data team
    selector:
      matchLabels: {s3-credentials: "true"}
    env:
      - name: AWS_ACCESS_KEY_ID
        valueFrom: {secretKeyRef: {name: s3, key: access}}
    volumes:
      - {name: s3-config, secret: {secretName: s3}}
    volumeMounts:
      - {name: s3-config, mountPath: /etc/s3, readOnly: true}
    imagePullSecrets: [{name: regcred}]

Entries are references and plain configuration; like PodDefaults, a preset's literal ``value``
is visible in the pod spec, so secrets belong in ``valueFrom``/secret volumes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from kubernetes.client import models as k8s

from airflow_secrets_provider.config import SECTION
from airflow_secrets_provider.core.errors import SecretConfigError, drops_original_error
from airflow_secrets_provider.core.naming import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from airflow_secrets_provider.core.validation import check_secret_name
from airflow_secrets_provider.kube.client import serializer
from airflow_secrets_provider.pod_spec.merge import serialized

if TYPE_CHECKING:
    from airflow_secrets_provider.hooks.kubernetes import SecretsKubernetesHook

log = logging.getLogger(__name__)

PRESET_LABEL = "airflow-secrets-provider/preset"
PRESET_KEY = "preset.yaml"
APPLIED_ANNOTATION = "airflow-secrets-provider/presets"
CONFIG_SECTION = SECTION
CONFIG_FILE_OPTION = "presets_file"
CONFIG_CLUSTER_OPTION = "cluster_presets"

# field in the YAML -> (Preset attribute, model class name)
_FIELDS = {
    "env": ("env", "V1EnvVar"),
    "envFrom": ("env_from", "V1EnvFromSource"),
    "volumes": ("volumes", "V1Volume"),
    "volumeMounts": ("volume_mounts", "V1VolumeMount"),
    "imagePullSecrets": ("image_pull_secrets", "V1LocalObjectReference"),
}
_OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist"}


@dataclass(frozen=True)
class Selector:
    """A Kubernetes label selector (``matchLabels`` and ``matchExpressions``); empty matches nothing.

    PodDefault's empty selector would select every pod; here a preset must say whom it is for.
    """

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if not self.match_labels and not self.match_expressions:
            return False
        if any(labels.get(key) != value for key, value in self.match_labels):
            return False
        for key, operator, values in self.match_expressions:
            present = key in labels
            if operator == "In" and not (present and labels[key] in values):
                return False
            if operator == "NotIn" and present and labels[key] in values:
                return False
            if operator == "Exists" and not present:
                return False
            if operator == "DoesNotExist" and present:
                return False
        return True

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.match_labels:
            data["matchLabels"] = dict(self.match_labels)
        if self.match_expressions:
            data["matchExpressions"] = [
                {"key": k, "operator": o, **({"values": list(v)} if v else {})} for k, o, v in self.match_expressions
            ]
        return data


@dataclass(frozen=True)
class Preset:
    """One preset; ``origin`` says where it was read (``ConfigMap 'x' in namespace 'ns'``, a file)."""

    name: str
    selector: Selector
    origin: str
    description: str = ""
    env: tuple[k8s.V1EnvVar, ...] = ()
    env_from: tuple[k8s.V1EnvFromSource, ...] = ()
    volumes: tuple[k8s.V1Volume, ...] = ()
    volume_mounts: tuple[k8s.V1VolumeMount, ...] = ()
    image_pull_secrets: tuple[k8s.V1LocalObjectReference, ...] = field(default=())

    def describe(self) -> str:
        return f"preset {self.name!r} ({self.origin})"

    def spec(self) -> dict[str, Any]:
        """The preset as YAML/JSON (its own format, camelCase)."""
        data: dict[str, Any] = {"name": self.name, "desc": self.description, "selector": self.selector.as_dict()}
        for yaml_name, (attribute, _) in _FIELDS.items():
            items = getattr(self, attribute)
            if items:
                data[yaml_name] = [serialized(item) for item in items]
        return data


class _Response:
    """What ``ApiClient.deserialize`` reads: the official way to build models from JSON."""

    def __init__(self, data: object) -> None:
        self.data = json.dumps(data)


@drops_original_error
def _models(items: object, model: str, where: str) -> tuple[Any, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise SecretConfigError(where, "must be a list")
    built = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise SecretConfigError(f"{where}[{index}]", "must be an object")
        try:
            built.append(serializer().deserialize(_Response(item), model))
        except (ValueError, TypeError):
            raise SecretConfigError(f"{where}[{index}]", f"is not a valid {model[2:]}") from None
        if serialized(built[-1]) != _without_nulls(item):
            raise SecretConfigError(f"{where}[{index}]", f"has fields a {model[2:]} does not have")
    return tuple(built)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _selector(data: object, where: str) -> Selector:
    if not isinstance(data, dict) or not data:
        raise SecretConfigError(where, "is required (matchLabels and/or matchExpressions)")
    unknown = sorted(set(data) - {"matchLabels", "matchExpressions"})
    if unknown:
        raise SecretConfigError(f"{where}.{unknown[0]}", "is not a field of a label selector")
    labels = data.get("matchLabels") or {}
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise SecretConfigError(f"{where}.matchLabels", "must map label names to strings")
    expressions = []
    for index, expression in enumerate(data.get("matchExpressions") or []):
        here = f"{where}.matchExpressions[{index}]"
        if not isinstance(expression, dict) or not isinstance(expression.get("key"), str):
            raise SecretConfigError(here, "needs a key")
        operator = expression.get("operator")
        if operator not in _OPERATORS:
            raise SecretConfigError(f"{here}.operator", f"must be one of {sorted(_OPERATORS)}")
        values = expression.get("values") or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SecretConfigError(f"{here}.values", "must be a list of strings")
        if (operator in ("In", "NotIn")) != bool(values):
            raise SecretConfigError(
                f"{here}.values", f"{'required' if values == [] else 'not allowed'} with {operator}"
            )
        expressions.append((expression["key"], str(operator), tuple(values)))
    if not labels and not expressions:
        raise SecretConfigError(where, "is required (matchLabels and/or matchExpressions)")
    return Selector(tuple(sorted(labels.items())), tuple(expressions))


def parse_preset(data: object, origin: str, *, name: str | None = None, where: str = "preset") -> Preset:
    """A preset from its YAML/JSON form; errors name the field (``preset.env[0]``), never a value."""
    if not isinstance(data, dict):
        raise SecretConfigError(where, "must be an object")
    allowed = {"name", "desc", "description", "selector", *_FIELDS}
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise SecretConfigError(f"{where}.{unknown[0]}", "is not a field of a preset")
    preset_name = check_secret_name(name or data.get("name"), f"{where}.name")
    description = data.get("desc", data.get("description", "")) or ""
    if not isinstance(description, str):
        raise SecretConfigError(f"{where}.desc", "must be a string")
    built = {
        attribute: _models(data.get(yaml_name), model, f"{where}.{yaml_name}")
        for yaml_name, (attribute, model) in _FIELDS.items()
    }
    if not any(built.values()):
        raise SecretConfigError(where, "adds nothing (give env, envFrom, volumes, volumeMounts or imagePullSecrets)")
    return Preset(
        name=preset_name,
        selector=_selector(data.get("selector"), f"{where}.selector"),
        origin=origin,
        description=description,
        **built,
    )


@drops_original_error
def parse_presets_text(text: str, origin: str) -> list[Preset]:
    """A file of presets: a list, ``{"presets": [...]}``, or one preset (YAML or JSON)."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise SecretConfigError("presets", f"{origin} is not valid YAML{line}") from None
    items: list[object] = []
    for document in documents:
        if isinstance(document, dict) and "presets" in document and len(document) == 1:
            document = document["presets"]
        items.extend(document if isinstance(document, list) else [document])
    presets = [parse_preset(item, origin, where=f"presets[{index}]") for index, item in enumerate(items)]
    names = [p.name for p in presets]
    for index, preset_name in enumerate(names):
        if preset_name in names[:index]:
            raise SecretConfigError(f"presets[{index}].name", f"{preset_name!r} is defined twice in {origin}")
    return presets


@drops_original_error
def load_presets_file(path: str | Path) -> list[Preset]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        raise SecretConfigError(f"[{CONFIG_SECTION}] {CONFIG_FILE_OPTION}", f"cannot read {str(path)!r}") from None
    except UnicodeDecodeError:
        raise SecretConfigError(f"[{CONFIG_SECTION}] {CONFIG_FILE_OPTION}", f"{str(path)!r} is not UTF-8") from None
    return parse_presets_text(text, f"file {str(path)!r}")


def configured_presets_file() -> str | None:
    """Airflow's ``[secrets_provider] presets_file`` (``AIRFLOW__SECRETS_PROVIDER__PRESETS_FILE``)."""
    from airflow_secrets_provider import config

    return config.get_str(CONFIG_FILE_OPTION)


def cluster_presets_enabled() -> bool:
    """Airflow's ``[secrets_provider] cluster_presets`` (default true).

    False saves each launch the ``list`` of preset ConfigMaps, for deployments whose presets
    all live in ``presets_file`` (or that use none).
    """
    from airflow_secrets_provider import config

    return config.get_bool(CONFIG_CLUSTER_OPTION)


def preset_config_map(preset_data: Mapping[str, Any], name: str) -> k8s.V1ConfigMap:
    """The ConfigMap that stores a preset in the cluster."""
    body = {k: v for k, v in preset_data.items() if k != "name"}
    return k8s.V1ConfigMap(
        api_version="v1",
        kind="ConfigMap",
        metadata=k8s.V1ObjectMeta(name=name, labels={PRESET_LABEL: "true", MANAGED_BY_LABEL: MANAGED_BY_VALUE}),
        data={PRESET_KEY: yaml.safe_dump(body, sort_keys=False)},
    )


def preset_from_config_map(config_map: k8s.V1ConfigMap) -> Preset:
    meta = config_map.metadata
    origin = f"ConfigMap {meta.name!r} in namespace {meta.namespace!r}"
    text = (config_map.data or {}).get(PRESET_KEY)
    if text is None:
        raise SecretConfigError("presets", f"{origin} has no key {PRESET_KEY!r}")
    return parse_preset(_one_document(text, origin), origin, name=meta.name)


@drops_original_error
def _one_document(text: str, origin: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise SecretConfigError("presets", f"{origin} does not hold one YAML document") from None


def cluster_presets(hook: SecretsKubernetesHook, namespace: str) -> list[Preset]:
    """Every preset ConfigMap in ``namespace``, by name."""
    items = hook.list_config_maps(namespace, f"{PRESET_LABEL}=true").items
    return [preset_from_config_map(item) for item in sorted(items, key=lambda c: c.metadata.name)]


def all_presets(hook: SecretsKubernetesHook | None, namespace: str, presets_file: str | None) -> list[Preset]:
    """The cluster's presets (when ``hook`` is given) and the file's; a name defined in both is an error."""
    found = list(cluster_presets(hook, namespace)) if hook is not None else []
    if presets_file:
        found += load_presets_file(presets_file)
    seen: dict[str, Preset] = {}
    for preset in found:
        if preset.name in seen:
            raise SecretConfigError(
                "presets", f"preset {preset.name!r} is defined by {seen[preset.name].origin} and by {preset.origin}"
            )
        seen[preset.name] = preset
    return found


def matching(presets: Iterable[Preset], labels: Mapping[str, str]) -> tuple[Preset, ...]:
    """The presets whose selector matches ``labels``, in name order (a stable merge order)."""
    return tuple(sorted((p for p in presets if p.selector.matches(labels)), key=lambda p: p.name))


def applied_names(presets: Sequence[Preset]) -> str:
    return ",".join(p.name for p in presets)
