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

**Once per process, not per hit.** Inside a task every ``mask_secret`` is also a message to
the supervisor, so registering a value again on each cache hit cost a round trip per lookup.
:func:`mask_value` remembers what it registered, and with which maskers' state: a masker that
was reset since (``reset_secrets_masker``, which the supervisor calls after loading the
secrets backends and before starting the task process) holds a new pattern set, and then
every value is registered again on its next hit. A forked process inherits the maskers with
the values in them (and their supervisor is the process that registered them).
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

STRUCTURAL_CONNECTION_FIELDS = frozenset({"conn_type"})
"""JSON connection fields that are a type name, not a secret: masking ``postgres`` would redact
the word from every log line."""


MaskerState = Callable[[], object]
"""Returns an object that changes (by identity) when a masker forgets its patterns."""


def _no_state() -> object:
    return object()  # state unknown: never equal, so values are registered every time


def _patterns_of(get_masker: Callable[[], Any]) -> MaskerState:
    def state() -> object:
        try:
            return get_masker().patterns  # ``reset_masker()`` replaces this set
        except Exception:
            return object()

    return state


@functools.cache
def _maskers() -> tuple[tuple[Callable[[Any], None], ...], tuple[MaskerState, ...]]:
    """Airflow's mask functions importable here, and how to see each masker's state (once)."""
    found: list[Callable[[Any], None]] = []
    states: list[MaskerState] = []
    try:
        from airflow.sdk.log import mask_secret as sdk_mask
    except ImportError:
        pass
    else:
        found.append(sdk_mask)
        try:
            from airflow.sdk._shared.secrets_masker import _secrets_masker as sdk_masker
        except ImportError:
            states.append(_no_state)
        else:
            states.append(_patterns_of(sdk_masker))
    try:
        from airflow._shared.secrets_masker import mask_secret as core_mask
    except ImportError:
        pass
    else:
        found.append(core_mask)
        try:
            from airflow._shared.secrets_masker import _secrets_masker as core_masker
        except ImportError:
            states.append(_no_state)
        else:
            states.append(_patterns_of(core_masker))
    return tuple(found), tuple(states)


class _Registered:
    """Values registered with the maskers while they were in the state ``states``."""

    __slots__ = ("states", "values")

    def __init__(self) -> None:
        self.states: tuple[object, ...] = ()
        self.values: set[tuple[str, bool]] = set()


_REGISTERED = _Registered()
MAX_REMEMBERED = 10_000
"""Values remembered as registered; beyond that the memory restarts (values are registered again)."""


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


def _current(registered: _Registered, states: tuple[MaskerState, ...]) -> bool:
    """Whether every masker is still in the state the remembered values were registered in."""
    seen = registered.states
    if len(seen) != len(states):
        return False
    for state, then in zip(states, seen, strict=True):  # noqa: SIM110  (a loop: runs on every cache hit)
        if state() is not then:
            return False
    return True


def mask_value(value: str, *, connection: bool = False) -> None:
    """Register ``value`` (and its leaves) with every Airflow masker importable here, once.

    Again only if a masker was reset since (see the module docstring). A no-op where Airflow is
    not installed (inside a plain task image).
    """
    maskers, states = _maskers()
    if not maskers:
        return
    registered, key = _REGISTERED, (value, connection)
    if key in registered.values and _current(registered, states):
        return
    if not _current(registered, states) or len(registered.values) >= MAX_REMEMBERED:
        registered.values = set()
        registered.states = tuple(state() for state in states)
    for secret in secret_strings(value, connection=connection):
        for mask in maskers:
            mask(secret)
    registered.values.add(key)


def forget_registrations() -> None:
    """Register every value again on its next lookup (tests that reset the maskers themselves)."""
    _REGISTERED.values = set()
