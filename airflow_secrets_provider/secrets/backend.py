"""``ChainedSecretsBackend``: Airflow's connections, variables and config from the provider's stores.

Configure it as ``[secrets] backend`` (and/or ``[workers] secrets_backend``)::

    [secrets]
    backend = airflow_secrets_provider.secrets.ChainedSecretsBackend
    backend_kwargs = {"sources": [
        {"kind": "env", "prefix": "MYCO_"},
        {"kind": "file", "connections_file": "/etc/airflow/conns.yaml", "variables_file": "/etc/airflow/vars.json"},
        {"kind": "kubernetes", "namespace": "airflow", "project": "platform"},
        {"kind": "azure_vault", "vault_url": "https://my-vault.vault.azure.net", "variables_prefix": null}
      ], "cache_ttl_seconds": 300, "negative_cache_ttl_seconds": 60}

Sources are asked in order; the first that holds an id wins. See docs/backend.md
(the "Secrets backend" page) for each kind's naming.

Promises kept here rather than in each source:

* **Cheap construction.** Airflow builds the backend at import time in every process (even
  ``airflow version``), so ``__init__`` only validates configuration; clients are built on
  first lookup and shared per process.
* **Cache + single flight** (:mod:`.cache`): repeated and concurrent lookups of one id reach
  the stores once per TTL; a miss is remembered for ``negative_cache_ttl_seconds`` unless a
  source failed during that lookup (the miss might then be wrong).
* **Masking.** Every returned value, and every string leaf of a JSON value, is registered with
  Airflow's masker whatever the id is called (:mod:`.masking`).
* **Errors.** A store that denies access raises ``AirflowSecretsBackendAccessDenied`` so Airflow
  does not fall through to a less protected backend. Any other failure is logged by source and
  id, without value or foreign exception text, and the next source is tried; a lookup nobody
  answered returns ``None`` so Airflow moves on to its next backend.

The base class is the task SDK's ``airflow.sdk.bases.secrets_backend.BaseSecretsBackend``: the
SDK is installed wherever Airflow runs (core depends on it), both the core and SDK loaders
call ``_set_connection_class`` on whatever backend they build, and
``deserialize_connection`` then gives a core ``Connection`` in the API server and CLI and an
SDK ``Connection`` in tasks.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Annotated, Any

from airflow.sdk.bases.secrets_backend import BaseSecretsBackend
from pydantic import AfterValidator, BeforeValidator, Field

from airflow_secrets_provider.core.errors import SecretAccessError, SecretsProviderError
from airflow_secrets_provider.core.typed_options import Count, Finite, Options, validated
from airflow_secrets_provider.secrets.cache import LoadResult, LookupCache
from airflow_secrets_provider.secrets.chain import build_source
from airflow_secrets_provider.secrets.masking import mask_value
from airflow_secrets_provider.secrets.sources import Source

log = logging.getLogger(__name__)

DEFAULT_CACHE_TTL_SECONDS = 300.0
DEFAULT_NEGATIVE_CACHE_TTL_SECONDS = 60.0

TEAM_SEP = "___"
_TEAM_SCOPED_ID_RE = re.compile(rf"_[^_]+{TEAM_SEP}.+")
"""Airflow's spelling of a team's own id, ``_<team>___<id>`` (``AIRFLOW_CONN__<TEAM>___<ID>``)."""


def team_scoped_id(team_name: str, identifier: str) -> str:
    """The id a team's own connection or variable is stored under, as Airflow's env backend spells it."""
    return f"_{team_name}{TEAM_SEP}{identifier}"


def _json_text(value: object) -> object:
    """A per-key override (``AIRFLOW__SECRETS__BACKEND_KWARG__SOURCES``) holds JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError("is not valid JSON") from None
    return value


def _not_negative(value: float) -> float:
    if value < 0:
        raise ValueError("must not be negative (0 turns caching off)")
    return value


Lifetime = Annotated[Finite, AfterValidator(_not_negative)]


class BackendOptions(Options):
    """``backend_kwargs``: every option of the backend, checked before anything is built.

    Values may be strings (per-key overrides arrive as text).
    """

    sources: Annotated[list[Any], BeforeValidator(_json_text), Field(min_length=1)] = [{"kind": "env"}]
    cache_ttl_seconds: Lifetime = DEFAULT_CACHE_TTL_SECONDS
    negative_cache_ttl_seconds: Lifetime = DEFAULT_NEGATIVE_CACHE_TTL_SECONDS
    cache_max_entries: Annotated[Count, Field(ge=1)] = 10_000


class ChainedSecretsBackend(BaseSecretsBackend):
    """Connections, variables and ``*_secret`` config from an ordered chain of sources.

    :param sources: ``[{"kind": "env" | "file" | "kubernetes" | "azure_vault", ...}, ...]``
        (or ready :class:`~airflow_secrets_provider.secrets.sources.Source` objects, from code).
    :param cache_ttl_seconds: how long a found value is reused; 0 disables.
    :param negative_cache_ttl_seconds: how long a miss is remembered; 0 disables.
    :param cache_max_entries: bound on remembered ids (oldest dropped first).
    """

    def __init__(
        self,
        sources: Sequence[object] | str = ({"kind": "env"},),
        cache_ttl_seconds: float | str = DEFAULT_CACHE_TTL_SECONDS,
        negative_cache_ttl_seconds: float | str = DEFAULT_NEGATIVE_CACHE_TTL_SECONDS,
        cache_max_entries: int | str = 10_000,
        **unknown: object,
    ) -> None:
        super().__init__()
        # Airflow passes backend_kwargs as keywords: ``**unknown`` turns a typo into an error
        # naming the option (BackendOptions forbids it) instead of a bare TypeError.
        options = validated(
            BackendOptions,
            {
                "sources": sources,
                "cache_ttl_seconds": cache_ttl_seconds,
                "negative_cache_ttl_seconds": negative_cache_ttl_seconds,
                "cache_max_entries": cache_max_entries,
                **unknown,
            },
            root="backend_kwargs",
        )
        self.sources: list[Source] = [build_source(config, i) for i, config in enumerate(options.sources)]
        self.cache: LookupCache[tuple[str, str], str] = LookupCache(
            options.cache_ttl_seconds, options.negative_cache_ttl_seconds, max_entries=options.cache_max_entries
        )
        for source in self.sources:
            source.use_cache_ttl(self.cache.ttl, self.cache.negative_ttl)

    def __repr__(self) -> str:
        return f"ChainedSecretsBackend(sources={[s.label for s in self.sources]!r}, cache={self.cache!r})"

    # -- Airflow's interface -----------------------------------------------------------------

    def get_conn_value(self, conn_id: str, team_name: str | None = None) -> str | None:
        """A connection as a URI or JSON string; a team's own connection first (see :meth:`lookup`)."""
        return self.lookup("connections", conn_id, team_name)

    def get_variable(self, key: str, team_name: str | None = None) -> str | None:
        """A variable's value (masked whatever its key is called); a team's own variable first."""
        return self.lookup("variables", key, team_name)

    def get_config(self, key: str) -> str | None:
        """The value behind a ``*_secret`` config option (e.g. ``sql_alchemy_conn_secret``)."""
        return self.lookup("config", key)

    # -- the chain ---------------------------------------------------------------------------

    def lookup(self, kind: str, identifier: str, team_name: str | None = None) -> str | None:
        """``kind`` is ``connections``, ``variables`` or ``config``; cached, single flight, masked.

        Scoped by team as Airflow's own backends are: with a ``team_name`` the team's own id
        (``_<team>___<id>``, e.g. ``AIRFLOW_VAR__ML___REGION``) is asked first, then the global
        one. An id spelled as a team's own is never served by a plain lookup, so no task reaches
        another team's secrets by naming them.
        """
        if TEAM_SEP in identifier and _TEAM_SCOPED_ID_RE.fullmatch(identifier):
            return None
        if team_name:
            value = self._lookup_id(kind, team_scoped_id(team_name, identifier))
            if value is not None:
                return value
        return self._lookup_id(kind, identifier)

    def _lookup_id(self, kind: str, identifier: str) -> str | None:
        value = self.cache.get((kind, identifier), self._load, kind, identifier)
        if value is not None:
            # On a hit too, but mask_value registers a value once per process (and again only if
            # a masker was reset since, as the supervisor does before it starts a task process).
            mask_value(value, connection=kind == "connections")
        return value

    def _load(self, kind: str, identifier: str) -> LoadResult[str]:
        failed = False
        for source in self.sources:
            try:
                value = source.lookup(kind, identifier)
            except SecretAccessError as err:
                from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied

                raise AirflowSecretsBackendAccessDenied(
                    f"{source.label} denied access looking up {kind} {identifier!r}: {err}"
                ) from None
            except SecretsProviderError as err:
                failed = True
                log.warning("%s failed looking up %s %r: %s", source.label, kind, identifier, err)
                continue
            except Exception as err:
                # Foreign messages (YAML, HTTP clients) may quote content: type name only.
                failed = True
                log.warning(
                    "%s failed looking up %s %r (%s); trying the next source",
                    source.label,
                    kind,
                    identifier,
                    type(err).__name__,
                )
                continue
            if value is not None:
                log.debug("%s found %s %r", source.label, kind, identifier)
                # After a failing source, a later source's hit is served but not cached: the
                # failing one comes first in the chain and may hold another value once it recovers.
                return LoadResult(value, cacheable=not failed)
        return LoadResult(None, cacheable=not failed)
