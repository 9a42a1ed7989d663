"""``{"kind": "file", "connections_file": ..., "variables_file": ..., "config_file": ...}``.

One file per kind, keyed by the Airflow id, in the formats of Airflow's
``LocalFilesystemBackend``: ``.json`` and ``.yaml``/``.yml`` objects (a connection may be a URI
string or an object of connection fields; a non-string variable is returned as JSON), anything
else ``KEY=VALUE`` lines (``#`` comments, blank lines ignored). A kind without a file is off.

Files are read on lookup, not at construction (the backend is built in every Airflow process,
often before the file is mounted). A lookup the backend's cache lets through costs a ``stat``:
the file is read and parsed again only when its inode, size or modification time changed, so a
rotated file is picked up after the TTL and a large one is not re-read on every lookup. Only
regular files of at most 2 MiB are read (:mod:`airflow_secrets_provider.core.text_files`). Parse errors name the file and line,
never the content: YAML's own messages quote the offending line, so they are not passed on.
"""

from __future__ import annotations

import datetime
import json
import os
import threading
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, model_validator
from typing_extensions import Unpack

from airflow_secrets_provider.core.errors import SecretAccessError, SecretConfigError, drops_original_error
from airflow_secrets_provider.core.key_value import parse_key_value_lines
from airflow_secrets_provider.core.redaction import shown
from airflow_secrets_provider.core.text_files import (
    FileIdentity,
    FileText,
    current_identity,
    read_secrets_file,
    read_secrets_file_kind_check,
)
from airflow_secrets_provider.core.typed_options import validated
from airflow_secrets_provider.secrets.sources import (
    LOOKUP_KINDS,
    LookupPatterns,
    Naming,
    PatternOptions,
    Source,
    spell_as_is,
)

KIND = "file"
FORMATS = ("env", "json", "yaml")


def detect_format(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext == ".json":
        return "json"
    if ext in (".yaml", ".yml"):
        return "yaml"
    return "env"


def parse_key_value_text(text: str, origin: str) -> dict[str, str]:
    """``KEY=VALUE`` lines; keys are Airflow ids, so ``my-db`` is fine (unlike env names)."""
    return parse_key_value_lines(text, origin, provider=KIND, check_key=lambda key, field, provider: key)


@drops_original_error
def _parse_structured(text: str, origin: str, fmt: str) -> dict[str, Any]:
    if fmt == "json":
        try:
            data = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as err:
            raise SecretConfigError(f"{origin} line {err.lineno}", "is not valid JSON", provider=KIND) from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text) if text.strip() else {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"{origin} line {mark.line + 1}" if mark is not None else origin
            raise SecretConfigError(where, "is not valid YAML", provider=KIND) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SecretConfigError(origin, "must hold an object mapping ids to values", provider=KIND)
    return data


def serialize(kind: str, identifier: str, value: Any, origin: str) -> str:
    """The string Airflow expects: URI or JSON for connections, JSON for structured variables."""
    if isinstance(value, str):
        return value
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()  # YAML reads `2024-01-01` as a date; a variable is text
    if kind == "connections":
        if not isinstance(value, dict):
            raise SecretConfigError(
                f"{origin}[{identifier!r}]", "a connection must be a URI or an object", provider=KIND
            )
        fields = dict(value)
        if "extra_dejson" in fields:
            fields["extra"] = fields.pop("extra_dejson")
        fields.pop("conn_id", None)
        return json.dumps(fields, default=_iso)
    return json.dumps(value, default=_iso)


def _iso(value: object) -> str:
    """Dates and times nested in YAML values serialise as ISO text."""
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def check_not_special_file(path: str, field: str) -> None:
    """Refuse, at construction, a path that exists and is no regular file (``/dev/zero``, a FIFO).

    A stat, no read: files are read on lookup (they may be mounted after the backend is built,
    so a missing file is fine here), but a device, FIFO, socket or directory is a configuration
    error now, named by its option, rather than on every later lookup.
    """
    read_secrets_file_kind_check(path, field, provider=KIND)


@drops_original_error
def read_file_text(path: str, field: str) -> FileText | None:
    """The file's text, or None when there is no file (an empty store, not an error)."""
    try:
        return read_secrets_file(path, field, provider=KIND)
    except FileNotFoundError:
        return None
    except PermissionError:
        raise SecretAccessError(KIND, shown(path, "file path"), "permission denied") from None


def parse_file_values(text: str, origin: str, fmt: str) -> dict[str, Any]:
    """The id -> value mapping of one file's text."""
    if fmt == "env":
        return dict(parse_key_value_text(text, origin))
    return _parse_structured(text, origin, fmt)


def read_file_values(path: str, fmt: str, field: str = "file") -> dict[str, Any]:
    """The id -> value mapping of one file. A missing file is an empty store, not an error."""
    read = read_file_text(path, field)
    return {} if read is None else parse_file_values(read.text, field, fmt)


def _file_path(value: str | None) -> str | None:
    if value is not None and not value:
        raise ValueError("must be a file path")
    return value


FilePath = Annotated[str | None, AfterValidator(_file_path)]


class FileSourceOptions(PatternOptions):
    """The model of a ``file`` source's options (see :class:`FileSource`)."""

    connections_file: FilePath = None
    variables_file: FilePath = None
    config_file: FilePath = None
    format: Literal["env", "json", "yaml"] | None = None

    @model_validator(mode="after")
    def _some_file(self) -> Self:
        if self.connections_file is None and self.variables_file is None and self.config_file is None:
            raise ValueError("needs at least one of connections_file, variables_file, config_file")
        return self


class FileSource(Source):
    """One file per kind, keyed by the Airflow id (no prefixes); a kind without a file is off.

    :param connections_file: JSON, YAML or ``KEY=VALUE`` file of connections (URI or object).
    :param variables_file: the same for variables.
    :param config_file: the same for config values.
    :param format: ``env``, ``json`` or ``yaml``; by default each file's extension decides.
    :param field: where this configuration came from, for error messages (``sources[0]``).
    :param patterns: :class:`~airflow_secrets_provider.secrets.sources.LookupPatterns`.
    """

    kind = KIND
    options_model = FileSourceOptions

    def __init__(
        self,
        *,
        connections_file: str | None = None,
        variables_file: str | None = None,
        config_file: str | None = None,
        format: str | None = None,
        field: str = "source",
        **patterns: Unpack[LookupPatterns],
    ) -> None:
        options = validated(
            FileSourceOptions,
            {
                "connections_file": connections_file,
                "variables_file": variables_file,
                "config_file": config_file,
                "format": format,
                **patterns,
            },
            field,
            provider=KIND,
        )
        files = {kind: path for kind in LOOKUP_KINDS if (path := getattr(options, f"{kind}_file")) is not None}
        for kind, path in files.items():
            check_not_special_file(path, f"{field}.{kind}_file")
        # One file per kind, keyed by id: no prefix; a kind without a file is off.
        prefixes = {kind: ("" if kind in files else None) for kind in LOOKUP_KINDS}
        super().__init__(Naming(prefixes, "", options.patterns(), spell_as_is), f"{field} (file)")
        self.files = files
        self.format = options.format
        self._field = field
        # Parsed files by kind, with the identity (inode, size, mtime) they were read at: a
        # lookup costs a stat, and a file is read and parsed again only once it changed.
        self._parsed: dict[str, tuple[FileIdentity, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def values(self, kind: str) -> dict[str, Any]:
        """The parsed file of ``kind``, re-read only when the file changed since the last read."""
        path = self.files[kind]
        field = f"{self._field}.{kind}_file"
        now = current_identity(path)
        with self._lock:
            cached = self._parsed.get(kind)
        if cached is not None and now is not None and cached[0] == now:
            return cached[1]
        read = read_file_text(path, field)
        if read is None:
            with self._lock:
                self._parsed.pop(kind, None)
            return {}
        origin = f"{field} ({shown(path, 'file path')})"
        values = parse_file_values(read.text, origin, self.format or detect_format(path))
        with self._lock:
            self._parsed[kind] = (read.identity, values)
        return values

    def read(self, kind: str, name: str) -> str | None:
        values = self.values(kind)
        if name not in values or values[name] is None:
            return None
        return serialize(kind, name, values[name], f"{self._field}.{kind}_file")
