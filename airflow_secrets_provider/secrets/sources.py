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
from typing import Annotated, Any, ClassVar, Self, TypedDict

from pydantic import PlainValidator
from typing_extensions import Unpack

from airflow_secrets_provider.core.typed_options import Options, validated
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


def _regex(value: object) -> re.Pattern[str] | None:
    if value is None or isinstance(value, re.Pattern):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a regular expression string")
    try:
        return re.compile(value)
    except re.error as err:  # its message gives the position, not the pattern
        raise ValueError(f"is not a valid regular expression ({err})") from None


Regex = Annotated[re.Pattern[str] | None, PlainValidator(_regex)]


class PatternOptions(Options):
    """The model of :class:`LookupPatterns` (every source takes them)."""

    connections_lookup_pattern: Regex = None
    variables_lookup_pattern: Regex = None
    config_lookup_pattern: Regex = None

    def patterns(self) -> dict[str, re.Pattern[str] | None]:
        """The ``<kind>_lookup_pattern`` options: an id is only looked up if the regex matches it."""
        return {kind: getattr(self, f"{kind}_lookup_pattern") for kind in LOOKUP_KINDS}


class NamingModel(PatternOptions):
    """The model of :class:`NamingOptions`; a prefix not given is the kind's default."""

    connections_prefix: str | None = None
    variables_prefix: str | None = None
    config_prefix: str | None = None
    sep: str = "_"

    def naming(self, defaults: Mapping[str, str | None], spell: Callable[[str], str | None]) -> Naming:
        """The naming these options describe, falling back to the source kind's ``defaults``."""
        prefixes = {
            kind: getattr(self, f"{kind}_prefix") if f"{kind}_prefix" in self.model_fields_set else defaults.get(kind)
            for kind in LOOKUP_KINDS
        }
        return Naming(prefixes, self.sep, self.patterns(), spell)


class Source(ABC):
    """One store in the chain. ``lookup`` is what the backend calls; ``read`` what kinds implement."""

    kind: ClassVar[str]

    def __init__(self, naming: Naming, label: str) -> None:
        self.naming = naming
        self.label = label

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"

    options_model: ClassVar[type[Options]] = NamingModel
    """The kind's options as a typed model: ``__init__`` checks its keywords with it."""

    @classmethod
    def option_names(cls) -> frozenset[str]:
        """The options this kind takes (its keyword arguments, ``field`` aside)."""
        return frozenset(cls.options_model.model_fields)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], field: str) -> Self:
        """The source for one ``sources[i]`` object; an unknown option is an error naming it.

        A typo must not silently mean "use the default". Checked by the kind's model before
        ``__init__`` sees the keywords (a key that is no keyword would be a bare TypeError).
        """
        options = {key: value for key, value in config.items() if key != "kind"}
        validated(cls.options_model, options, field, provider=cls.kind)
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


def kind_prefixes(prefix: str) -> dict[str, str]:
    """``<prefix>CONN``, ``<prefix>VAR``, ``<prefix>CONFIG``: Airflow's environment spelling."""
    return {"connections": f"{prefix}CONN", "variables": f"{prefix}VAR", "config": f"{prefix}CONFIG"}


class EnvSourceOptions(NamingModel):
    prefix: str = "AIRFLOW_"


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
    options_model = EnvSourceOptions

    def __init__(self, *, prefix: str = "AIRFLOW_", field: str = "source", **naming: Unpack[NamingOptions]) -> None:
        options = validated(EnvSourceOptions, {"prefix": prefix, **naming}, field, provider=self.kind)
        super().__init__(
            options.naming(kind_prefixes(options.prefix), spell_env), f"{field} (env, prefix {options.prefix!r})"
        )

    def read(self, kind: str, name: str) -> str | None:
        return os.environ.get(name)
