"""Register secret values with Airflow's log masker, every leaf of them.

Airflow's own lookups mask a connection's password and extra, and a variable only when its
*name* looks sensitive (``password``, ``token`` ...). ``mask_secret({"user": .., "pw": ..})``
likewise only hides dict leaves under sensitive-looking keys. Values this provider returns are
secrets whatever they are called, so we register the whole string and, for JSON, every string
leaf ourselves, each without a name (a name would make the masker apply its key filter).

Two maskers exist in one process when both airflow-core and the task SDK are loaded
(``airflow._shared.secrets_masker`` and ``airflow.sdk._shared.secrets_masker`` are separate
copies with separate state). ``airflow.sdk.log.mask_secret`` feeds the SDK one and, inside a
task, the supervisor; the core one filters core processes' logs (API server, CLI). Values are
registered with both, as Airflow does for its own sensitive config.

The masker ignores strings shorter than ``[logging] min_length_masked_secret`` (5 by default).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

STRUCTURAL_CONNECTION_FIELDS = frozenset({"conn_type"})
"""JSON connection fields that are a type name, not a secret: masking ``postgres`` would redact
the word from every log line."""


def _maskers() -> list[Callable[[Any], None]]:
    found: list[Callable[[Any], None]] = []
    try:
        from airflow.sdk.log import mask_secret as sdk_mask
    except ImportError:
        pass
    else:
        found.append(sdk_mask)
    try:
        from airflow._shared.secrets_masker import mask_secret as core_mask
    except ImportError:
        pass
    else:
        found.append(core_mask)
    return found


def _leaves(value: Any, skip_keys: frozenset[str] = frozenset()) -> Iterator[str]:
    if isinstance(value, str):
        yield value
        # A JSON connection's ``extra`` may itself be JSON text (Connection.from_json accepts it).
        if value.strip()[:1] in ("{", "["):
            with contextlib.suppress(ValueError):
                yield from _leaves(json.loads(value))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield str(value)  # a numeric PIN or key is a secret too; the masker ignores short ones
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in skip_keys:
                yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)


def secret_strings(value: str, *, connection: bool = False) -> list[str]:
    """The strings to register for ``value``: itself (and without surrounding whitespace, as a
    file's trailing newline is rarely printed), JSON string leaves, a URI's password."""
    stripped = value.strip()
    out = [value, stripped]
    if stripped[:1] in ("{", "["):
        with contextlib.suppress(ValueError):
            parsed = json.loads(stripped)
            out.extend(_leaves(parsed, STRUCTURAL_CONNECTION_FIELDS if connection else frozenset()))
    elif "://" in stripped:
        # A connection URI, or a config value or variable that is one (``sql_alchemy_conn``):
        # its password, raw and decoded. For a connection also the values of its query, which
        # are the connection's extras (``__extra__`` JSON, ``sas=``); for other URIs the query
        # is usually plain options (``sslmode=require``) that would be redacted everywhere.
        with contextlib.suppress(ValueError):
            parts = urlsplit(stripped)
            if parts.password:
                out.extend({parts.password, unquote(parts.password)})
            for _, query_value in parse_qsl(parts.query) if connection else ():
                out.append(query_value)
                if query_value.strip()[:1] in ("{", "["):
                    with contextlib.suppress(ValueError):
                        out.extend(_leaves(json.loads(query_value)))
    return list(dict.fromkeys(s for s in out if s))


def mask_value(value: str, *, connection: bool = False) -> None:
    """Register ``value`` (and its leaves) with every Airflow masker importable here.

    A no-op where Airflow is not installed (inside a plain task image).
    """
    maskers = _maskers()
    if not maskers:
        return
    for secret in secret_strings(value, connection=connection):
        for mask in maskers:
            mask(secret)
