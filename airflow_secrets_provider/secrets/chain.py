"""Sources from configuration: each ``sources[i]`` entry of ``backend_kwargs`` becomes a ``Source``.

Kept apart from :mod:`.sources` (the ``Source`` base and the naming every source shares) because
it needs the kind registry, and the registry names source classes: in one module the two would
import each other.
"""

from __future__ import annotations

from collections.abc import Mapping

from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.core.redaction import shown
from airflow_secrets_provider.kinds import KINDS, SOURCE_KINDS
from airflow_secrets_provider.secrets.sources import Source


def build_source(config: object, index: int) -> Source:
    """A source from one ``sources[i]`` entry (a dict with ``kind``), or a ready ``Source``."""
    field = f"sources[{index}]"
    if isinstance(config, Source):
        return config
    if not isinstance(config, Mapping):
        raise SecretConfigError(field, f"must be an object with a 'kind', got {type(config).__name__}")
    kind = config.get("kind")
    entry = KINDS.get(kind) if isinstance(kind, str) else None
    if entry is None or entry.backend_source is None:
        given = shown(kind) if isinstance(kind, str) else f"a {type(kind).__name__}"
        raise SecretConfigError(f"{field}.kind", f"must be one of {list(SOURCE_KINDS)}, got {given}")
    return entry.source_class().from_config(config, field)
