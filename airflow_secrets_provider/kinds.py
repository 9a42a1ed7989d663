"""The secret kinds, in one registry: what a task may request and what the backend may read.

``env``, ``file``, ``kubernetes`` and ``azure_vault`` are both a task-side provider
(``with_secrets(kind, source)``) and a backend source (``{"kind": ...}`` in the backend's
``sources``); ``inline`` and ``airflow`` (Airflow's own connections and variables) are task-side only. Both sides look kinds up here, so a kind cannot be
added to one and forgotten in the other's error message.

Entries name their implementation as ``"module:attribute"`` and are imported on first use: the
backend is built in every Airflow process (even ``airflow version``), which must not pay for the
Kubernetes or Azure SDKs it never calls.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_secrets_provider.core.model import RequestParser
    from airflow_secrets_provider.secrets.sources import Source


@dataclass(frozen=True)
class SecretKind:
    """One kind: its task-side request parser and its backend source class (either may be absent)."""

    name: str
    request_parser: str | None = None
    backend_source: str | None = None

    def parser(self) -> RequestParser:
        assert self.request_parser is not None
        parser: RequestParser = _load(self.request_parser)
        return parser

    def source_class(self) -> type[Source]:
        assert self.backend_source is not None
        source: type[Source] = _load(self.backend_source)
        return source


def _load(path: str) -> Any:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


_P = "airflow_secrets_provider.providers"
_S = "airflow_secrets_provider.secrets"

KINDS: dict[str, SecretKind] = {
    kind.name: kind
    for kind in (
        SecretKind("inline", f"{_P}.inline:parse"),
        SecretKind("env", f"{_P}.env:parse", f"{_S}.sources:EnvSource"),
        SecretKind("file", f"{_P}.file:parse", f"{_S}.file_source:FileSource"),
        SecretKind("kubernetes", f"{_P}.kubernetes:parse", f"{_S}.kubernetes_source:KubernetesSource"),
        SecretKind("azure_vault", f"{_P}.azure_vault:parse", f"{_S}.azure_source:AzureVaultSource"),
        # Task side only: the backend answering Airflow's lookups cannot itself look them up.
        SecretKind("airflow", f"{_P}.airflow:parse"),
    )
}

REQUEST_KINDS: tuple[str, ...] = tuple(name for name, kind in KINDS.items() if kind.request_parser)
"""Kinds a task may request with ``with_secrets``."""

SOURCE_KINDS: tuple[str, ...] = tuple(name for name, kind in KINDS.items() if kind.backend_source)
"""Kinds the secrets backend can read from."""
