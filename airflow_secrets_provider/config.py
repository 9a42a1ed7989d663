"""The ``[secrets_provider]`` options: declared once, read only here, through Airflow's configuration.

Why one module: each option's type, default and description live in :data:`OPTIONS`, which
``get_provider_info()["config"]`` publishes (so ``airflow config list`` shows them, and Airflow
merges the defaults into its configuration), and every read goes through :func:`get_str`,
:func:`get_bool` or :func:`get_float` with that declared default. Booleans are parsed by Airflow's
``conf.getboolean`` (one parser); a bad value is a ``SecretConfigError`` naming the option, never
Airflow's own message (which quotes the value). Reads happen when an option is needed (execute
time, a CLI command, the backend's first lookup), never when a DAG is parsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from airflow_secrets_provider.core.errors import SecretConfigError, drops_original_error

SECTION = "secrets_provider"

OptionType = Literal["string", "boolean", "float"]


@dataclass(frozen=True)
class Option:
    """One ``[secrets_provider]`` option as Airflow's provider metadata declares it."""

    name: str
    type: OptionType
    default: str
    description: str
    example: str | None = None
    sensitive: bool = False

    @property
    def field(self) -> str:
        """How errors name it: ``[secrets_provider] name``."""
        return f"[{SECTION}] {self.name}"

    def metadata(self) -> dict[str, Any]:
        """The entry in ``get_provider_info()["config"]`` (cncf.kubernetes' own format)."""
        return {
            "description": self.description,
            "version_added": None,
            "type": self.type,
            "example": self.example,
            "default": self.default,
            "sensitive": self.sensitive,
        }


def _options(*options: Option) -> dict[str, Option]:
    return {option.name: option for option in options}


OPTIONS: dict[str, Option] = _options(
    Option(
        "project_namespace",
        "string",
        "",
        "Namespace-per-project layout: the namespace of each project, a template containing "
        "'{project}' exactly once (e.g. 'ml-{project}'). Empty: the shared-namespace layout.\n",
        example="ml-{project}",
    ),
    Option(
        "presets_file",
        "string",
        "",
        "A YAML file of presets (env, envFrom, volumes, image pull secrets added to matching pods) "
        "for every SecretTaskOperator. Empty: none.\n",
        example="/etc/airflow/presets.yaml",
    ),
    Option(
        "cluster_presets",
        "boolean",
        "True",
        "Whether each launch also lists the preset ConfigMaps stored in the pod's namespace. False "
        "saves that request when every preset lives in presets_file (or none are used).\n",
    ),
    Option(
        "mask_external_secrets",
        "string",
        "auto",
        "Whether SecretTaskOperator also reads every Kubernetes Secret its pod references by itself "
        "(secretKeyRef, envFrom, volumes) and registers the used values with the log masker. 'auto': "
        "read those the launcher may read, and log one warning per Secret it may not (naming the RBAC "
        "flag that allows it); True: a refused read fails the task; False: never read. A task's own "
        "mask_external_secrets argument overrides it.\n",
        example="auto",
    ),
    Option(
        "kube_request_timeout",
        "float",
        "60",
        "Client-side timeout, in seconds (positive), of every Kubernetes API request this package "
        "makes, KubernetesPodOperator's pod calls included: a server that never answers fails the "
        "request (and it is retried) instead of hanging.\n",
    ),
    Option(
        "cleanup_on_task_end",
        "boolean",
        "True",
        "Whether the cleanup listener deletes the pods and per-task Secrets of a task instance once it has ended.\n",
    ),
    Option(
        "cleanup_operators",
        "string",
        "SecretTaskOperator",
        "Comma-separated task types (operator class names) the cleanup listener handles; '*' means every task type.\n",
    ),
    Option(
        "cleanup_namespaces",
        "string",
        "",
        "Comma-separated namespaces the cleanup listener looks for leftovers in. Empty: every "
        "namespace (needs a cluster-wide pod list).\n",
        example="airflow,ml-team-a",
    ),
    Option(
        "cleanup_kube_config_file",
        "string",
        "",
        "A kube config file for the cleanup listener's Kubernetes identity (scheduler and API "
        "server). Empty: the connection in cleanup_kubernetes_conn_id.\n",
    ),
    Option(
        "cleanup_kubernetes_conn_id",
        "string",
        "kubernetes_default",
        "The Airflow Kubernetes connection the cleanup listener uses when no cleanup_kube_config_file is set.\n",
    ),
    Option(
        "ui_namespace",
        "string",
        "",
        "The Secrets page's home namespace. Empty: the connection's or kube config context's "
        "namespace, else default.\n",
    ),
    Option(
        "ui_kube_config",
        "string",
        "",
        "A kube config file for the Secrets page's Kubernetes identity (API server). Empty: "
        "$KUBECONFIG, ~/.kube/config, or the pod's service account.\n",
    ),
    Option(
        "ui_context",
        "string",
        "",
        "The kube config context the Secrets page uses. Empty: the kube config's current context.\n",
    ),
    Option(
        "ui_conn_id",
        "string",
        "",
        "An Airflow Kubernetes connection for the Secrets page, instead of a kube config.\n",
    ),
)
"""Every option the package reads, in the order ``airflow config list`` shows them."""


def provider_config() -> dict[str, Any]:
    """``get_provider_info()["config"]``: the section with every declared option."""
    return {
        SECTION: {
            "description": "Options of airflow-secrets-provider (SecretTaskOperator, its cleanup "
            "listener, presets and the Secrets page).\n",
            "options": {name: option.metadata() for name, option in OPTIONS.items()},
        }
    }


def _declared(name: str) -> Option:
    return OPTIONS[name]  # a KeyError here is a bug: every option read must be declared


def get_str(name: str) -> str | None:
    """The option's text, stripped; ``None`` when it is empty (unset options read their default)."""
    from airflow.configuration import conf

    option = _declared(name)
    value = conf.get(SECTION, name, fallback=option.default)
    text = str(value if value is not None else "").strip()
    return text or None


def get_list(name: str) -> list[str]:
    """A comma-separated option's non-empty, stripped items."""
    return [item.strip() for item in (get_str(name) or "").split(",") if item.strip()]


@drops_original_error
def get_bool(name: str) -> bool:
    """A boolean option, parsed by Airflow's ``conf.getboolean``; a bad value names the option only.

    An empty value (``AIRFLOW__SECRETS_PROVIDER__X=``) means the declared default.
    """
    from airflow.configuration import conf

    option = _declared(name)
    if get_str(name) is None:
        return option.default.lower() == "true"
    try:
        return conf.getboolean(SECTION, name, fallback=option.default.lower() == "true")
    except Exception:  # AirflowConfigException quotes the value
        raise SecretConfigError(option.field, "must be True or False") from None


@drops_original_error
def get_bool_or_auto(name: str) -> bool | Literal["auto"]:
    """``"auto"`` (any case) or a boolean option's value; an empty value means the declared default."""
    from airflow.configuration import conf

    option = _declared(name)
    text = get_str(name) or option.default
    if text.lower() == "auto":
        return "auto"
    try:
        return conf.getboolean(SECTION, name)
    except Exception:  # AirflowConfigException quotes the value
        raise SecretConfigError(option.field, "must be auto, True or False") from None


@drops_original_error
def get_float(name: str) -> float:
    """A float option, parsed by Airflow's ``conf.getfloat``; a bad value names the option only.

    An empty value means the declared default.
    """
    from airflow.configuration import conf

    option = _declared(name)
    if get_str(name) is None:
        return float(option.default)
    try:
        return conf.getfloat(SECTION, name, fallback=float(option.default))
    except Exception:  # AirflowConfigException quotes the value
        raise SecretConfigError(option.field, "must be a number") from None
