"""The ``KEY=VALUE`` text format (MLRun's secrets file), shared by every reader of it.

Three readers with three key rules use it: the ``file`` provider (keys become environment
variable names), project secrets' ``set_secrets_from_file`` (keys are Secret keys) and the
backend's ``file`` source (keys are Airflow ids). The format itself is one: ``#`` comments and
blank lines are skipped, lines end at ``\n`` or ``\r\n`` only, the first ``=`` separates key and value, both are stripped, a key
appears once. A line holds one value: any other character that ``str.splitlines`` ends a line at
(a lone ``\r``, U+2028, U+2029, ``\v``, ``\f``, ``\x1c``-``\x1e``, ``\x85``) is refused, since an
editor or another tool may show the value as two lines (or the file as more keys than were
read). Errors name the origin and the line number only, never the line: it may hold a value,
and a malformed line's text before ``=`` may be part of one.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from airflow_secrets_provider.core.errors import SecretConfigError

#: What ``str.splitlines`` ends a line at, but ``\n`` (the format's line end; ``\r\n`` is
#: removed with it). Named by code point in errors, never shown.
LINE_SEPARATORS = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def parse_key_value_lines(
    text: str, origin: str, *, provider: str, check_key: Callable[[str, str, str], object]
) -> dict[str, str]:
    """Parse ``KEY=VALUE`` text; ``check_key(key, field, provider)`` validates each key.

    Errors name ``origin`` and the line number only, never the line (it may hold a value).
    """
    values: dict[str, str] = {}
    first_line: dict[str, int] = {}
    # Lines end at "\n" (or "\r\n") only: str.splitlines() also splits on Unicode line
    # separators (U+2028, vertical tab ...), which would turn one value into a second key;
    # a line holding one of them is refused (the file would show more lines than were read).
    has_separators = LINE_SEPARATORS.search(text.replace("\r\n", "\n")) is not None
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        separator = LINE_SEPARATORS.search(line) if has_separators else None
        line = line.strip()
        if separator is not None and line and not line.startswith("#"):
            raise SecretConfigError(
                f"{origin} line {number}",
                f"holds a line separator (U+{ord(separator.group()):04X}) other tools show as a line break; "
                "a secrets file holds one value per line, ended by \\n or \\r\\n "
                "(keep multi-line values in a Kubernetes Secret)",
                provider=provider,
            )
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        field = f"{origin} line {number}"
        if not sep or not key:
            raise SecretConfigError(field, "expected KEY=VALUE", provider=provider)
        if not _key_is_valid(key, check_key, provider):
            # The text before '=' is not shown: on a malformed line it may be part of a value.
            raise SecretConfigError(
                field, "the key before '=' is not a valid name (expected KEY=VALUE)", provider=provider
            )
        if key in values:
            raise SecretConfigError(
                field, f"repeats the key of line {first_line[key]} (each key once)", provider=provider
            )
        values[key] = value.strip()
        first_line[key] = number
    return values


def _key_is_valid(key: str, check_key: Callable[[str, str, str], object], provider: str) -> bool:
    try:
        check_key(key, "key", provider)
    except SecretConfigError:
        return False
    return True
