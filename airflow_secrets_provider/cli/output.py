"""How commands print: aligned tables for people, ``-o json|yaml`` for scripts.

Everything printed here is names, keys, times and references that commands assemble
themselves; no command hands a Secret's data to these functions.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

OUTPUT_FORMATS = ("table", "json", "yaml")


def emit(data: Any, output: str, *, columns: Sequence[str] = (), rows: Sequence[Sequence[object]] = ()) -> None:
    """Print ``data`` as JSON/YAML, or the ``columns``/``rows`` table (``output == "table"``)."""
    if output == "json":
        json.dump(data, sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
    elif output == "yaml":
        import yaml

        yaml.safe_dump(data, sys.stdout, sort_keys=False)
    else:
        sys.stdout.write(table(columns, rows))


def table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns separated by three spaces, like kubectl's."""
    cells = [[str(c) for c in columns], *[["-" if v is None or v == "" else str(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"


def message(text: str, output: str, data: Mapping[str, Any]) -> None:
    """A one-line confirmation for people, or ``data`` for scripts."""
    if output == "table":
        sys.stdout.write(text + "\n")
    else:
        emit(dict(data), output)
