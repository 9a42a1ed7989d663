"""What the chained backend looks ids up in: one ``Source`` per configured entry.

A source answers ``lookup(kind, id)`` for the three kinds Airflow asks about (``connections``,
``variables``, ``config``) with the stored string, or ``None`` when it does not hold the id.
Naming is shared: each kind has a prefix (``None`` turns the kind off for that source), a
separator and an optional lookup pattern (a regex the id must match, so a source is not asked,
and not charged a remote call, for ids it cannot hold); each source kind only decides how the
resulting name is spelled (``AIRFLOW_CONN_MY_DB``, ``airflow-connections-my-db``) and read.

Errors follow one rule the backend relies on: ``SecretAccessError`` when the store refused
access, any other exception for failures, and never a value in a message.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_secrets_provider.exceptions import SecretConfigError, drops_original_error
from airflow_secrets_provider.validation import is_secret_key

LOOKUP_KINDS = ("connections", "variables", "config")
_PATTERN_OPTIONS = frozenset(f"{kind}_lookup_pattern" for kind in LOOKUP_KINDS)
_NAMING_OPTIONS = _PATTERN_OPTIONS | {f"{kind}_prefix" for kind in LOOKUP_KINDS} | {"sep"}


@dataclass(frozen=True)
class Naming:
    """How an Airflow id becomes a name in a store.

    ``spell`` turns ``prefix + sep + id`` (or just ``id`` for an empty prefix) into the store's
    spelling and returns ``None`` when the store cannot hold such a name.
    """

    prefixes: Mapping[str, str | None]
    sep: str
    patterns: Mapping[str, re.Pattern[str] | None]
    spell: Callable[[str], str | None]

    def name_for(self, kind: str, identifier: str) -> str | None:
        prefix = self.prefixes.get(kind)
        if prefix is None:
            return None
        pattern = self.patterns.get(kind)
        if pattern is not None and not pattern.match(identifier):
            return None
        # As Airflow's own backends: a prefix given with its trailing separator is not doubled.
        return self.spell(
            f"{prefix.rstrip(self.sep) if self.sep else prefix}{self.sep}{identifier}" if prefix else identifier
        )


def spell_env(name: str) -> str | None:
    """Environment style, as Airflow's ``EnvironmentVariablesBackend``: upper case, nothing else.

    Characters are not replaced, so two ids (``my-db``, ``my_db``) never share one variable.
    """
    return name.upper() or None


def spell_secret_key(name: str) -> str | None:
    """A Kubernetes Secret key spelled like the env var; ids a key cannot spell are not looked up."""
    key = name.upper()
    return key if is_secret_key(key) else None


def spell_as_is(name: str) -> str | None:
    return name or None


@drops_original_error
def parse_patterns(config: Mapping[str, Any], field: str) -> dict[str, re.Pattern[str] | None]:
    """The ``<kind>_lookup_pattern`` options: an id is only looked up if the regex matches it."""
    patterns: dict[str, re.Pattern[str] | None] = {}
    for kind in LOOKUP_KINDS:
        key = f"{kind}_lookup_pattern"
        raw = config.get(key)
        if raw is None:
            patterns[kind] = None
            continue
        if not isinstance(raw, str):
            raise SecretConfigError(f"{field}.{key}", "must be a regular expression string")
        try:
            patterns[kind] = re.compile(raw)
        except re.error as err:
            raise SecretConfigError(f"{field}.{key}", f"is not a valid regular expression ({err})") from None
    return patterns


def parse_naming(
    config: Mapping[str, Any],
    field: str,
    defaults: Mapping[str, str | None],
    sep: str,
    spell: Callable[[str], str | None],
) -> Naming:
    """Read the shared naming options of a source, falling back to its kind's defaults."""
    prefixes: dict[str, str | None] = {}
    for kind in LOOKUP_KINDS:
        key = f"{kind}_prefix"
        prefix = config.get(key, defaults.get(kind))
        if prefix is not None and not isinstance(prefix, str):
            raise SecretConfigError(f"{field}.{key}", "must be a string, or null to disable this kind")
        prefixes[kind] = prefix
    sep_value = config.get("sep", sep)
    if not isinstance(sep_value, str):
        raise SecretConfigError(f"{field}.sep", "must be a string")
    return Naming(prefixes, sep_value, parse_patterns(config, field), spell)


def check_options(config: Mapping[str, Any], field: str, allowed: frozenset[str], *, naming: bool = True) -> None:
    """Unknown options are errors: a typo must not silently mean "use the default"."""
    shared = _NAMING_OPTIONS if naming else _PATTERN_OPTIONS
    unknown = sorted(set(config) - allowed - shared - {"kind"})
    if unknown:
        raise SecretConfigError(f"{field}.{unknown[0]}", "is not a known option for this source kind")


def require_str(config: Mapping[str, Any], key: str, field: str, *, optional: bool = False) -> str | None:
    value = config.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise SecretConfigError(f"{field}.{key}", "must be a non-empty string")
    return value


class Source(ABC):
    """One store in the chain. ``lookup`` is what the backend calls; ``read`` what kinds implement."""

    kind: ClassVar[str]

    def __init__(self, naming: Naming, label: str) -> None:
        self.naming = naming
        self.label = label

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"

    def lookup(self, kind: str, identifier: str) -> str | None:
        name = self.naming.name_for(kind, identifier)
        if name is None:
            return None
        return self.read(kind, name)

    @abstractmethod
    def read(self, kind: str, name: str) -> str | None:
        """The value stored under ``name`` (already spelled for this store), or ``None``."""


class EnvSource(Source):
    """Environment variables of the process doing the lookup.

    ``{"kind": "env"}`` reads ``AIRFLOW_CONN_<ID>``, ``AIRFLOW_VAR_<KEY>``, ``AIRFLOW_CONFIG_<KEY>``;
    ``{"kind": "env", "prefix": "MYCO_"}`` reads ``MYCO_CONN_<ID>`` ... Unlike Airflow's own
    environment backend, what it returns is cached and masked whatever the variable's name.
    """

    kind = "env"
    OPTIONS = frozenset({"prefix"})

    def __init__(self, naming: Naming, label: str, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(naming, label)
        self._environ = environ

    @classmethod
    def from_config(cls, config: Mapping[str, Any], field: str) -> EnvSource:
        check_options(config, field, cls.OPTIONS)
        prefix = config.get("prefix", "AIRFLOW_")
        if not isinstance(prefix, str):
            raise SecretConfigError(f"{field}.prefix", "must be a string")
        defaults = {"connections": f"{prefix}CONN", "variables": f"{prefix}VAR", "config": f"{prefix}CONFIG"}
        return cls(parse_naming(config, field, defaults, "_", spell_env), f"{field} (env, prefix {prefix!r})")

    def read(self, kind: str, name: str) -> str | None:
        environ = self._environ if self._environ is not None else os.environ
        return environ.get(name)


def build_source(config: object, index: int) -> Source:
    """A source from one ``sources[i]`` entry (a dict with ``kind``), or a ready ``Source``."""
    field = f"sources[{index}]"
    if isinstance(config, Source):
        return config
    if not isinstance(config, Mapping):
        raise SecretConfigError(field, f"must be an object with a 'kind', got {type(config).__name__}")
    kind = config.get("kind")
    if kind == "env":
        return EnvSource.from_config(config, field)
    if kind == "file":
        from airflow_secrets_provider.secrets.file_source import FileSource

        return FileSource.from_config(config, field)
    if kind == "kubernetes":
        from airflow_secrets_provider.secrets.kubernetes_source import KubernetesSource

        return KubernetesSource.from_config(config, field)
    if kind == "azure_vault":
        from airflow_secrets_provider.secrets.azure_source import AzureVaultSource

        return AzureVaultSource.from_config(config, field)
    raise SecretConfigError(
        f"{field}.kind", f"must be one of ['env', 'file', 'kubernetes', 'azure_vault'], got {kind!r}"
    )
