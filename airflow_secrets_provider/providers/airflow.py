"""``airflow``: Airflow connections and variables delivered to the pod through the per-task Secret.

``with_secrets("airflow", {ENV_NAME: reference, ...})``; a reference is one of:

* ``"conn:<conn_id>.<field>"``: one field of a connection: ``host``, ``port``, ``login``,
  ``password``, ``schema``, ``uri`` (the connection's URI as Airflow's ``Connection.get_uri()``
  builds it), ``extra`` (the extra JSON as stored) or ``extra.<key>`` (one key of it; a value
  that is not a string is given as JSON);
* ``"conn:<conn_id>"``: the connection's URI (same as ``.uri``);
* ``"conn:<conn_id>.*"``: the whole connection, the env name being a prefix: ``<PREFIX>_HOST``,
  ``_PORT``, ``_LOGIN``, ``_PASSWORD``, ``_SCHEMA``, ``_URI`` and ``<PREFIX>_EXTRA_<KEY>`` for
  each key of ``extra`` (upper-cased, other characters than letters, digits and ``_`` become
  ``_``). Fields the connection does not have are left out;
* ``"var:<key>"``: a variable's value as stored (the key may contain dots);
* ``{"var": <key>, "deserialize_json": True, "path": "a.b.0"}``: a variable holding JSON, and
  optionally one value inside it (dict keys and list indexes separated by dots), a non-string
  result given as JSON. Also ``{"conn": <conn_id>, "field": <field>}``, the dict spelling of
  ``conn:``.

Nothing is read while a DAG is parsed. On the worker the values come from Airflow itself,
``Connection.get`` / ``Variable.get`` of the Task SDK, so the metadata DB, every configured
secrets backend (``ChainedSecretsBackend`` included) and the task's team apply exactly as they do
for a hook in the same task. Each value is registered with the masker as soon as it is read,
and goes only into the per-task Secret. Connection ids and variable keys are names and appear
in errors; values never do.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_secrets_provider.core.errors import (
    SecretAccessError,
    SecretConfigError,
    SecretNotFoundError,
    drops_original_error,
)
from airflow_secrets_provider.core.model import ResolveContext, ValueRequest
from airflow_secrets_provider.core.redaction import describe_names, keyed_field, shown
from airflow_secrets_provider.core.validation import check_env_name, literal_names, pending_template
from airflow_secrets_provider.core.values import SecretValues

KIND = "airflow"

FIELDS: tuple[str, ...] = ("host", "port", "login", "password", "schema", "uri", "extra")
"""The connection fields one reference can name (plus ``extra.<key>``)."""

WHOLE: tuple[str, ...] = ("host", "port", "login", "password", "schema", "uri")
"""The fields a whole-connection reference (``conn:<id>.*``) gives, as ``<PREFIX>_<FIELD>``."""

WHOLE_FIELD = "*"

_ID_RE = re.compile(r"(?!\.)[A-Za-z0-9_.\-#!()/]{1,250}(?<!\.)")
"""Connection ids and variable keys: Airflow's own characters, minus any that could join a
name to a value (``=``, ``:``, ``@``, whitespace), so an id is always safe to quote in an error."""

_CONN_RE = re.compile(r"(?P<id>.+?)(?:\.(?P<field>host|port|login|password|schema|uri|extra|\*)|\.extra\.(?P<key>.+))?")
_NOT_ENV_CHAR_RE = re.compile(r"[^A-Za-z0-9_]")
_DICT_OPTIONS = {"conn": ("conn", "field"), "var": ("var", "deserialize_json", "path")}


@dataclass(frozen=True)
class ConnRef:
    """One connection reference: ``field`` is one of :data:`FIELDS`, ``"*"`` or ``None`` with ``extra_key``."""

    env: str
    conn_id: str
    field: str | None = "uri"
    extra_key: str | None = None

    @property
    def what(self) -> str:
        part = f"extra.{self.extra_key}" if self.extra_key is not None else self.field
        return f"connection {self.conn_id!r} field {part!r}"

    def env_names(self) -> tuple[str, ...] | None:
        return None if self.field == WHOLE_FIELD else (self.env,)


@dataclass(frozen=True)
class VarRef:
    """One variable reference; ``path`` (dict keys / list indexes) implies ``deserialize_json``."""

    env: str
    key: str
    deserialize_json: bool = False
    path: tuple[str, ...] = ()

    @property
    def what(self) -> str:
        return f"variable {self.key!r}" + (f" path {'.'.join(self.path)!r}" if self.path else "")

    def env_names(self) -> tuple[str, ...]:
        return (self.env,)


Ref = ConnRef | VarRef


def whole_env_name(prefix: str, part: str) -> str:
    """``DB`` + ``password`` -> ``DB_PASSWORD``; extra keys: ``DB`` + ``extra.ssl-mode`` -> ``DB_EXTRA_SSL_MODE``."""
    return f"{prefix}_{_NOT_ENV_CHAR_RE.sub('_', part).upper()}"


@dataclass(frozen=True)
class AirflowSecrets(ValueRequest):
    """Connections and variables, looked up through Airflow on the worker (see the module docstring)."""

    refs: tuple[Ref, ...]

    kind = KIND

    def validate(self) -> None:
        seen: set[str] = set()
        for ref in self.refs:
            field = f"source[{ref.env!r}]"
            check_env_name(ref.env, "source key", KIND)
            the_id = ref.conn_id if isinstance(ref, ConnRef) else ref.key
            if not pending_template(the_id, field, KIND) and not _ID_RE.fullmatch(the_id):
                what = "connection id" if isinstance(ref, ConnRef) else "variable key"
                raise SecretConfigError(
                    field,
                    f"{shown(the_id, what)} is not a valid {what} (letters, digits and '_.-#!()/', "
                    "not starting or ending with '.', at most 250 characters)",
                    provider=KIND,
                )
            for name in ref.env_names() or ():
                if name in seen:
                    raise SecretConfigError(field, f"environment variable {name!r} is given twice", provider=KIND)
                seen.add(name)

    def env_names(self) -> tuple[str, ...] | None:
        names: list[str] = []
        for ref in self.refs:
            own = ref.env_names()
            if own is None:
                return None  # a whole connection's names depend on its fields: known on the worker
            names.extend(own)
        return tuple(names)

    def render(self, render_value: Callable[[Any], Any]) -> AirflowSecrets:
        """Connection ids and variable keys may be templates (``conn:{{ params.db }}.password``)."""
        refs: list[Ref] = []
        for ref in self.refs:
            if isinstance(ref, ConnRef):
                refs.append(dataclasses.replace(ref, conn_id=render_value(ref.conn_id)))
            else:
                refs.append(dataclasses.replace(ref, key=render_value(ref.key)))
        return dataclasses.replace(self, refs=tuple(refs))

    def describe(self) -> dict[str, Any]:
        return {"kind": KIND, "refs": [dataclasses.asdict(ref) for ref in self.refs]}

    @drops_original_error
    def resolve(self, context: ResolveContext) -> SecretValues:
        lookup = _Lookup(context.task_id)
        out: dict[str, str] = {}
        origin: dict[str, str] = {}
        for ref in self.refs:
            values = lookup.conn_values(ref) if isinstance(ref, ConnRef) else {ref.env: lookup.var_value(ref)}
            for name, value in values.items():
                if name in out:
                    raise SecretConfigError(
                        lookup.field(name),
                        f"environment variable {name!r} is given by both {origin[name]} and {ref.what}",
                        provider=KIND,
                    )
                out[name] = value
                origin[name] = ref.what
        return SecretValues(out)


class _Lookup:
    """The task's lookups for one resolve: each connection and variable is read once."""

    def __init__(self, task_id: str | None) -> None:
        self.task = f"task {task_id!r}, " if task_id else ""
        self.conns: dict[str, Any] = {}
        self.vars: dict[str, Any] = {}

    def field(self, env: str) -> str:
        return f"{self.task}env var {env!r}"

    def lacking(self, ref: Ref, problem: str) -> SecretConfigError:
        return SecretConfigError(self.field(ref.env), f"{ref.what}: {problem}", provider=KIND)

    # -- connections ------------------------------------------------------------------------

    def connection(self, ref: ConnRef) -> Any:
        found = self.conns.get(ref.conn_id)
        if found is None:
            found = self.conns[ref.conn_id] = _get_connection(ref.conn_id, self.field(ref.env))
        return found

    def extra(self, ref: ConnRef, conn: Any) -> dict[str, Any] | None:
        """The connection's extra as a dict (``None`` if it has none); not JSON is an error."""
        if not conn.extra:
            return None
        try:
            extra = json.loads(conn.extra)
        except ValueError:
            raise self.lacking(ref, "its extra is not JSON") from None
        if not isinstance(extra, dict):
            raise self.lacking(ref, f"its extra is JSON but not an object (a {type(extra).__name__})")
        return extra

    def conn_values(self, ref: ConnRef) -> dict[str, str]:
        conn = self.connection(ref)
        extra = self.extra(ref, conn)  # checked for every reference: uri and the whole form use it too
        if ref.field == WHOLE_FIELD:
            values = {whole_env_name(ref.env, name): _field_text(conn, name) for name in WHOLE}
            for key, value in (extra or {}).items():
                name = whole_env_name(ref.env, f"extra_{key}")
                if name in values:
                    raise SecretConfigError(
                        self.field(name),
                        f"{ref.what}: two fields or extra keys of the connection both become this name",
                        provider=KIND,
                    )
                values[name] = _json_text(value)
            _mask(values.values())
            return {name: value for name, value in values.items() if value is not None}
        if ref.extra_key is not None:
            if extra is None or ref.extra_key not in extra:
                raise self.lacking(ref, "the connection's extra has no such key")
            value = _json_text(extra[ref.extra_key])
        else:
            assert ref.field is not None
            value = _field_text(conn, ref.field)
        if value is None:
            raise self.lacking(ref, "the connection has no such field (it is empty)")
        _mask([value])
        return {ref.env: value}

    # -- variables ----------------------------------------------------------------------------

    def var_value(self, ref: VarRef) -> str:
        # Read as stored and decoded here: the SDK's own ``deserialize_json`` turns a value that
        # is not JSON into "not found" (after logging the decoder's traceback).
        if ref.key not in self.vars:
            self.vars[ref.key] = _get_variable(ref.key, self.field(ref.env))
        raw = str(self.vars[ref.key])
        _mask([raw])
        if not (ref.deserialize_json or ref.path):
            return raw
        try:
            found = json.loads(raw)
        except ValueError:
            raise self.lacking(ref, "the variable is not JSON") from None
        for step in ref.path:
            if isinstance(found, dict) and step in found:
                found = found[step]
            elif isinstance(found, list) and step.isdigit() and int(step) < len(found):
                found = found[int(step)]
            else:
                raise self.lacking(ref, f"the variable's JSON has nothing at {step!r}")
        text = _json_text(found)
        _mask([text])
        return text


def _field_text(conn: Any, name: str) -> str | None:
    """One field as text; ``None`` when the connection does not have it (unset or empty)."""
    if name == "uri":
        return str(conn.get_uri())
    value = getattr(conn, name)
    if value is None or value == "":
        return None
    return str(value)


def _json_text(value: Any) -> str:
    """A string as it is; anything else (numbers, booleans, objects) as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def _mask(values: Any) -> None:
    """Register with the task's masker at once: Airflow masks only password/extra, and variables by name."""
    from airflow.sdk.log import mask_secret

    for value in values:
        if value:
            mask_secret(value)


@drops_original_error
def _get_connection(conn_id: str, field: str) -> Any:
    """``Connection.get`` of the Task SDK: the task's own lookup path (backends, then the API server)."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException, AirflowSecretsBackendAccessDenied

    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        raise SecretNotFoundError(
            KIND, conn_id, f"Airflow's connections ({field}: no connection with this id)"
        ) from None
    except AirflowSecretsBackendAccessDenied:
        raise SecretAccessError(KIND, f"connection {conn_id!r} ({field})", "a secrets backend denied access") from None


@drops_original_error
def _get_variable(key: str, field: str) -> Any:
    """``Variable.get`` of the Task SDK (the value as stored), like ``_get_connection``."""
    from airflow.sdk import Variable
    from airflow.sdk.exceptions import AirflowRuntimeError, AirflowSecretsBackendAccessDenied, ErrorType

    try:
        return Variable.get(key)
    except AirflowRuntimeError as err:
        if err.error.error == ErrorType.VARIABLE_NOT_FOUND:
            raise SecretNotFoundError(KIND, key, f"Airflow's variables ({field}: no variable with this key)") from None
        raise
    except AirflowSecretsBackendAccessDenied:
        raise SecretAccessError(KIND, f"variable {key!r} ({field})", "a secrets backend denied access") from None


# -------------------------------------------------------------------------------------------
# Parsing (DAG parse time: names only, no lookups)


def _parse_conn(env: str, conn_id: object, field_name: object, where: str) -> ConnRef:
    if not isinstance(conn_id, str) or not conn_id:
        raise SecretConfigError(where, "the connection id must be a non-empty string", provider=KIND)
    if field_name is None or field_name == "uri":
        return ConnRef(env, conn_id)
    if not isinstance(field_name, str):
        raise SecretConfigError(where, f"field must be a string, got {type(field_name).__name__}", provider=KIND)
    if field_name.startswith("extra."):
        key = field_name[len("extra.") :]
        if not key:
            raise SecretConfigError(where, "'extra.' must be followed by a key of the extra", provider=KIND)
        return ConnRef(env, conn_id, None, key)
    if field_name not in (*FIELDS, WHOLE_FIELD):
        raise SecretConfigError(
            where,
            f"unknown connection field {shown(field_name, 'field')}; expected one of {[*FIELDS, 'extra.<key>', '*']}",
            provider=KIND,
        )
    return ConnRef(env, conn_id, field_name)


def _parse_text(env: str, text: str, where: str) -> Ref:
    prefix, sep, rest = text.partition(":")
    if sep and prefix == "conn" and rest:
        match = _CONN_RE.fullmatch(rest)
        assert match is not None  # ``.+?`` matches any non-empty text
        if match["key"] is not None:
            return ConnRef(env, match["id"], None, match["key"])
        return _parse_conn(env, match["id"], match["field"], where)
    if sep and prefix == "var" and rest:
        return VarRef(env, rest)
    raise SecretConfigError(
        where,
        "must be 'conn:<conn_id>[.<field>]', 'conn:<conn_id>.*', 'var:<key>' or a dict "
        "{'conn': ..., 'field': ...} / {'var': ..., 'deserialize_json': ..., 'path': ...}",
        provider=KIND,
    )


def _parse_dict(env: str, spec: Mapping[Any, Any], where: str) -> Ref:
    which = [name for name in _DICT_OPTIONS if name in spec]
    if len(which) != 1:
        raise SecretConfigError(where, "a dict reference needs exactly one of 'conn' or 'var'", provider=KIND)
    unknown = set(spec) - set(_DICT_OPTIONS[which[0]])
    if unknown:
        raise SecretConfigError(where, f"unknown option(s) {describe_names(unknown, 'option')}", provider=KIND)
    if which[0] == "conn":
        return _parse_conn(env, spec["conn"], spec.get("field"), where)
    key, deserialize, path = spec["var"], spec.get("deserialize_json", False), spec.get("path", ())
    if not isinstance(key, str) or not key:
        raise SecretConfigError(where, "the variable key must be a non-empty string", provider=KIND)
    if not isinstance(deserialize, bool):
        raise SecretConfigError(where, "deserialize_json must be True or False", provider=KIND)
    if isinstance(path, str):
        path = tuple(path.split(".")) if path else ()
    elif isinstance(path, (list, tuple)) and all(isinstance(step, (str, int)) for step in path):
        path = tuple(str(step) for step in path)
    else:
        raise SecretConfigError(where, "path must be 'a.b.0' or a list of keys and indexes", provider=KIND)
    if path and not deserialize:
        raise SecretConfigError(where, "a path needs 'deserialize_json': True", provider=KIND)
    if any(not step for step in path):
        raise SecretConfigError(where, "path has an empty step", provider=KIND)
    return VarRef(env, key, deserialize, path)


def parse(source: object) -> AirflowSecrets:
    if not isinstance(source, Mapping):
        raise SecretConfigError(
            "source", f"must be a dict of env var name -> reference, got {type(source).__name__}", provider=KIND
        )
    if not source:
        raise SecretConfigError("source", "must name at least one connection or variable", provider=KIND)
    refs: list[Ref] = []
    for env, spec in source.items():
        # Env names are never rendered (like inline keys): they must be plain names.
        with literal_names():
            check_env_name(env, "source key", KIND)
        where = keyed_field("source", env)
        if isinstance(spec, str):
            refs.append(_parse_text(env, spec, where))
        elif isinstance(spec, Mapping):
            refs.append(_parse_dict(env, spec, where))
        else:
            raise SecretConfigError(where, f"must be a string or a dict, got {type(spec).__name__}", provider=KIND)
    request = AirflowSecrets(tuple(refs))
    request.validate()
    return request


__all__ = ["FIELDS", "KIND", "WHOLE", "AirflowSecrets", "ConnRef", "VarRef", "parse", "whole_env_name"]
