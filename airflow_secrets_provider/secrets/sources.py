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

import inspect
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypedDict

from typing_extensions import Unpack

from airflow_secrets_provider.core.errors import SecretConfigError, drops_original_error
from airflow_secrets_provider.core.redaction import describe_names, is_shown
from airflow_secrets_provider.core.validation import is_secret_key

LOOKUP_KINDS = ("connections", "variables", "config")


class LookupPatterns(TypedDict, total=False):
    """Options every source takes: which ids it is asked for at all.

    :param connections_lookup_pattern: a regular expression a connection id must match (from
        its start) for the source to be asked; unset, every id is.
    :param variables_lookup_pattern: the same for variable keys.
    :param config_lookup_pattern: the same for config keys.
    """

    connections_lookup_pattern: str | None
    variables_lookup_pattern: str | None
    config_lookup_pattern: str | None


class NamingOptions(LookupPatterns, total=False):
    """Options of every source that stores all kinds in one namespace of names.

    :param connections_prefix: prefix of connection names (``None`` stops the source serving
        connections, ``""`` means no prefix); each kind has its default.
    :param variables_prefix: the same for variables.
    :param config_prefix: the same for config.
    :param sep: what joins prefix and id; a prefix given with a trailing ``sep`` is not doubled.
    """

    connections_prefix: str | None
    variables_prefix: str | None
    config_prefix: str | None
    sep: str


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

    # Options a ``**options`` parameter of ``__init__`` stands for (a TypedDict's keys).
    EXTRA_OPTIONS: ClassVar[frozenset[str]] = frozenset(NamingOptions.__annotations__)

    @classmethod
    def option_names(cls) -> frozenset[str]:
        """The options this kind takes: its keyword arguments (``field`` is not an option)."""
        params = inspect.signature(cls.__init__).parameters.values()
        names = {p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name != "field"}
        if any(p.kind is p.VAR_KEYWORD for p in params):
            names |= cls.EXTRA_OPTIONS
        return frozenset(names)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], field: str) -> Self:
        """The source for one ``sources[i]`` object; an unknown option is an error naming it.

        A typo must not silently mean "use the default".
        """
        options = {key: value for key, value in config.items() if key != "kind"}
        unknown = sorted(set(options) - cls.option_names(), key=str)
        if unknown:
            name = unknown[0]
            if isinstance(name, str) and is_shown(name):
                raise SecretConfigError(f"{field}.{name}", "is not a known option for this source kind")
            raise SecretConfigError(
                field, f"{describe_names(unknown[:1], 'option name')} is not a known option for this source kind"
            )
        return cls(field=field, **options)  # type: ignore[call-arg]  # subclasses take keywords

    def lookup(self, kind: str, identifier: str) -> str | None:
        name = self.naming.name_for(kind, identifier)
        if name is None:
            return None
        return self.read(kind, name)

    @abstractmethod
    def read(self, kind: str, name: str) -> str | None:
        """The value stored under ``name`` (already spelled for this store), or ``None``."""

    def use_cache_ttl(self, ttl: float, negative_ttl: float) -> None:
        """The backend's cache lifetimes, for a source that reads many ids in one call.

        The backend caches per id; a store that answers every id of a Secret with one read
        caches that read for as long, so K ids cost one call per TTL, not K. Most sources read
        one id per call and ignore this.
        """
        del ttl, negative_ttl


class EnvSource(Source):
    """Environment variables of the process doing the lookup.

    ``{"kind": "env"}`` reads ``AIRFLOW_CONN_<ID>``, ``AIRFLOW_VAR_<KEY>``, ``AIRFLOW_CONFIG_<KEY>``;
    ``{"kind": "env", "prefix": "MYCO_"}`` reads ``MYCO_CONN_<ID>`` ... Unlike Airflow's own
    environment backend, what it returns is cached and masked whatever the variable's name.

    :param prefix: what every variable name starts with (``AIRFLOW_``); the kinds' prefixes are
        ``<prefix>CONN``, ``<prefix>VAR`` and ``<prefix>CONFIG``.
    :param field: where this configuration came from, for error messages (``sources[0]``).
    :param naming: :class:`NamingOptions`.
    """

    kind = "env"

    def __init__(self, *, prefix: str = "AIRFLOW_", field: str = "source", **naming: Unpack[NamingOptions]) -> None:
        if not isinstance(prefix, str):
            raise SecretConfigError(f"{field}.prefix", "must be a string")
        defaults = {"connections": f"{prefix}CONN", "variables": f"{prefix}VAR", "config": f"{prefix}CONFIG"}
        super().__init__(parse_naming(naming, field, defaults, "_", spell_env), f"{field} (env, prefix {prefix!r})")

    def read(self, kind: str, name: str) -> str | None:
        return os.environ.get(name)
