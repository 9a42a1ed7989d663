"""Pure checks for names and paths that end up in a Kubernetes object.

Kubernetes rejects a bad name only when an object is created, which for a task means after
some objects may already exist. Checking here, at construction and again after templates are
rendered, means a task with a bad name fails before it creates anything.
"""

from __future__ import annotations

import contextlib
import contextvars
import posixpath
import re
from collections.abc import Iterator
from typing import TypeGuard

from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.core.redaction import CONTROL_CHARACTER_RE, rendered_text, shown

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_RE = re.compile(rf"^{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*$")
_DNS1123_LABEL_RE = re.compile(rf"^{_DNS1123_LABEL}$")
_PLAIN_SECRET_KEY_RE = re.compile(r"(?!\.\.)(?!\.\Z)[-._a-zA-Z0-9]{1,253}")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NOT_ENV_CHAR_RE = re.compile(r"[^A-Za-z0-9_]")

MAX_SUBDOMAIN_LENGTH = 253
MAX_LABEL_LENGTH = 63


def is_templated(value: object) -> bool:
    """True for a string that still holds Jinja markup and so cannot be checked yet."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


_LITERAL_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar("asp_literal_only", default=False)


@contextlib.contextmanager
def literal_names(*, rendered: bool = False) -> Iterator[None]:
    """Within this block, a name that still holds Jinja markup is an error, not "check later".

    Used once templates have been rendered (a name that renders to ``{{ ...`` would otherwise
    reach the API server unchecked) and for inputs that are never rendered (inline keys).
    ``rendered=True`` also stops :func:`shown` quoting anything: rendered text may come from
    a variable or a connection, so even a name-like one may be a value.
    """
    token = _LITERAL_ONLY.set(True)
    try:
        with rendered_text(rendered):
            yield
    finally:
        _LITERAL_ONLY.reset(token)


def pending_template(value: object, field: str, provider: str | None = None) -> bool:
    """True when ``value`` is a template to be checked after rendering.

    Inside :func:`literal_names` a templated value is rejected instead. The message does not
    quote it: rendered text may hold anything a template produced, values included.
    """
    if not is_templated(value):
        return False
    if _LITERAL_ONLY.get():
        raise SecretConfigError(
            field,
            "still contains '{{' or '{%' after rendering (or is never rendered); it must be a plain name",
            provider=provider,
        )
    return True


MAX_PATH_LENGTH = 1024
"""The longest mount path or item path accepted (characters). Linux allows 4096 bytes; a secret
volume's path is joined to the kubelet's own pod directory, so a documented, lower bound keeps
every accepted path usable."""
MAX_FILE_NAME_BYTES = 255
"""The longest path component (UTF-8 bytes): the limit of every Linux file system."""


def _require_str(value: object, field: str, provider: str | None) -> str:
    if not isinstance(value, str):
        raise SecretConfigError(field, f"must be a string, got {type(value).__name__}", provider=provider)
    if not value:
        raise SecretConfigError(field, "must not be empty", provider=provider)
    return value


def is_plain_secret_name(value: object) -> TypeGuard[str]:
    """A valid Kubernetes Secret name, not a template: what :func:`check_secret_name` accepts as is."""
    return (
        type(value) is str and len(value) <= MAX_SUBDOMAIN_LENGTH and _DNS1123_SUBDOMAIN_RE.fullmatch(value) is not None
    )


def is_plain_env_name(value: object) -> TypeGuard[str]:
    """A valid environment variable name, not a template: what :func:`check_env_name` accepts as is."""
    return type(value) is str and _ENV_NAME_RE.fullmatch(value) is not None


def check_secret_name(value: object, field: str, provider: str | None = None) -> str:
    """A Kubernetes Secret name: a DNS-1123 subdomain of at most 253 characters."""
    # Fast path for the common case (a valid plain name: no braces, so not a template); the
    # same checks, in one regex match, before the ones below that explain a failure.
    if is_plain_secret_name(value):
        return value
    name = _require_str(value, field, provider)
    if pending_template(name, field, provider):
        return name
    _check_length(name, MAX_SUBDOMAIN_LENGTH, "Kubernetes Secret name", field, provider)
    if len(name) > MAX_SUBDOMAIN_LENGTH or not _DNS1123_SUBDOMAIN_RE.fullmatch(name):
        raise SecretConfigError(
            field,
            f"{shown(name)} is not a valid Kubernetes Secret name (lowercase letters, digits, '-' and '.', "
            f"starting and ending with a letter or digit, at most {MAX_SUBDOMAIN_LENGTH} characters)",
            provider=provider,
        )
    return name


def check_label_name(value: object, field: str, provider: str | None = None) -> str:
    """A DNS-1123 label (project names, which become part of Secret names and labels)."""
    if type(value) is str and len(value) <= MAX_LABEL_LENGTH and _DNS1123_LABEL_RE.fullmatch(value):
        return value  # fast path: valid and plain (see check_secret_name)
    name = _require_str(value, field, provider)
    if pending_template(name, field, provider):
        return name
    _check_length(name, MAX_LABEL_LENGTH, "name", field, provider)
    if len(name) > MAX_LABEL_LENGTH or not _DNS1123_LABEL_RE.fullmatch(name):
        raise SecretConfigError(
            field,
            f"{shown(name)} is not a valid name (lowercase letters, digits and '-', starting and ending "
            f"with a letter or digit, at most {MAX_LABEL_LENGTH} characters)",
            provider=provider,
        )
    return name


def is_secret_key(key: str) -> bool:
    """Whether ``key`` can be a key of a Kubernetes Secret's ``data``."""
    # One match: at most 253 of [-._a-zA-Z0-9], not "." and not starting with "..".
    return _PLAIN_SECRET_KEY_RE.fullmatch(key) is not None


def check_secret_key(value: object, field: str, provider: str | None = None) -> str:
    """A key inside a Kubernetes Secret's ``data``: ``[-._a-zA-Z0-9]+``, not ``.`` or ``..``."""
    if type(value) is str and is_secret_key(value):
        return value  # fast path: valid and plain (see check_secret_name)
    key = _require_str(value, field, provider)
    if pending_template(key, field, provider):
        return key
    _check_length(key, MAX_SUBDOMAIN_LENGTH, "secret key", field, provider)
    if not is_secret_key(key):
        raise SecretConfigError(
            field,
            f"{shown(key)} is not a valid secret key (letters, digits, '-', '_' and '.'; not '.' or '..')",
            provider=provider,
        )
    return key


def check_env_name(value: object, field: str, provider: str | None = None) -> str:
    """An environment variable name a shell and ``$(VAR)`` expansion can use: a C identifier."""
    if is_plain_env_name(value):
        return value  # fast path (see check_secret_name): valid and plain (see check_secret_name)
    name = _require_str(value, field, provider)
    if pending_template(name, field, provider):
        return name
    if not _ENV_NAME_RE.fullmatch(name):
        raise SecretConfigError(
            field,
            f"{shown(name)} is not a valid environment variable name (letters, digits and '_', not starting with a digit)",
            provider=provider,
        )
    return name


def _check_length(text: str, limit: int, what: str, field: str, provider: str | None) -> None:
    """The length rule on its own, so an over-long name is reported as too long (and not shown)."""
    if len(text) > limit:
        raise SecretConfigError(
            field,
            f"is not a valid {what}: too long ({len(text)} characters, at most {limit}; not shown)",
            provider=provider,
        )


def _check_path_text(path: str, what: str, field: str, provider: str | None) -> None:
    """What the kubelet and Linux refuse in any path: control characters and over-long names."""
    if CONTROL_CHARACTER_RE.search(path):
        raise SecretConfigError(
            field, f"{what} must not contain a control character (NUL, newline, tab ...)", provider=provider
        )
    _check_length(path, MAX_PATH_LENGTH, what, field, provider)
    for part in path.split("/"):
        size = len(part.encode("utf-8"))
        if size > MAX_FILE_NAME_BYTES:
            raise SecretConfigError(
                field,
                f"{what} has a component of {size} bytes; a file or directory name has at most "
                f"{MAX_FILE_NAME_BYTES} bytes (UTF-8)",
                provider=provider,
            )


def check_mount_path(value: object, field: str, provider: str | None = None) -> str:
    """An absolute container path without ``..`` components (it would escape the intended dir).

    Also refused: ``/`` itself (a volume over the container's root), control characters,
    more than :data:`MAX_PATH_LENGTH` characters, a component over :data:`MAX_FILE_NAME_BYTES` bytes.
    """
    path = _require_str(value, field, provider)
    if pending_template(path, field, provider):
        return path
    _check_path_text(path, "mount path", field, provider)
    if not path.startswith("/"):
        raise SecretConfigError(field, f"mount path {shown(path)} must be absolute", provider=provider)
    if ".." in path.split("/"):
        raise SecretConfigError(field, f"mount path {shown(path)} must not contain '..'", provider=provider)
    if ":" in path:
        raise SecretConfigError(field, f"mount path {shown(path)} must not contain ':'", provider=provider)
    if normalize_mount_path(path) == "/":
        raise SecretConfigError(field, "mount path must not be '/' (the container's root)", provider=provider)
    return path


def check_item_path(value: object, field: str, provider: str | None = None) -> str:
    """A file name inside a secret volume: relative, no ``..`` component (kubelet rejects both).

    The same length and character limits as :func:`check_mount_path` apply.
    """
    path = _require_str(value, field, provider)
    if pending_template(path, field, provider):
        return path
    _check_path_text(path, "item path", field, provider)
    if path.startswith("/"):
        raise SecretConfigError(field, f"item path {shown(path)} must be relative", provider=provider)
    if ".." in path.split("/") or path.startswith(".."):
        raise SecretConfigError(field, f"item path {shown(path)} must not contain '..'", provider=provider)
    return path


def normalize_mount_path(path: str) -> str:
    """The form used to detect two mounts at the same place (``/a/b/``, ``//a/b`` and ``/a/b`` collide).

    ``posixpath.normpath`` keeps a leading ``//`` (POSIX leaves its meaning to the system);
    in a container it is plain ``/``.
    """
    if is_templated(path):
        return path
    normalized = posixpath.normpath(path)
    return "/" + normalized.lstrip("/") if normalized.startswith("/") else normalized


_KEY_VAULT_SECRET_NAME_RE = re.compile(r"[0-9A-Za-z-]{1,127}")
_KEY_VAULT_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]")


def is_key_vault_secret_name(name: str) -> bool:
    """Key Vault secret names are 1-127 letters, digits and ``-``; the service answers 400 to others.

    The one copy of the rule: requests, the reader, the backend's naming and ``get_secret`` use it.
    """
    return _KEY_VAULT_SECRET_NAME_RE.fullmatch(name) is not None


def is_key_vault_name(name: str) -> bool:
    """A vault's own name (``<name>.vault.azure.net``): 3-24 letters, digits and ``-``, starting
    with a letter and not ending with ``-``."""
    return _KEY_VAULT_NAME_RE.fullmatch(name) is not None


def env_name_for_key(key: str) -> str:
    """The environment variable a secret key is exposed as inside a task.

    Keys that are already valid names are used as they are (``AWS_KEY`` -> ``AWS_KEY``). Other
    characters become ``_`` and a leading digit gets a ``_`` prefix, so Azure Key Vault names
    such as ``my-secret`` become ``my_secret``; case is kept. ``get_secret("my-secret")`` applies
    the same rule, so code can use either spelling.
    """
    name = _NOT_ENV_CHAR_RE.sub("_", key)
    if name and name[0].isdigit():
        name = f"_{name}"
    return name
