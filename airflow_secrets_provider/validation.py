"""Pure checks for names and paths that end up in a Kubernetes object.

Kubernetes rejects a bad name only when an object is created, which for a task means after
some objects may already exist. Checking here, at construction and again after templates are
rendered, means a task with a bad name fails before it creates anything.
"""

from __future__ import annotations

import posixpath
import re

from airflow_secrets_provider.exceptions import SecretConfigError

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_RE = re.compile(rf"^{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*$")
_DNS1123_LABEL_RE = re.compile(rf"^{_DNS1123_LABEL}$")
_SECRET_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NOT_ENV_CHAR_RE = re.compile(r"[^A-Za-z0-9_]")

MAX_SUBDOMAIN_LENGTH = 253
MAX_LABEL_LENGTH = 63


def is_templated(value: object) -> bool:
    """True for a string that still holds Jinja markup and so cannot be checked yet."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


_MAY_HOLD_A_VALUE_RE = re.compile(r"[=\s:@]")
MAX_SHOWN_LENGTH = 253


def shown(text: str) -> str:
    """Quote a rejected name for an error message, unless it may carry a value.

    Users sometimes type ``NAME=VALUE`` (or a URI, or a whole line) where a name belongs; quoting
    that back would put the value in a log. Such text is described instead of shown.
    """
    if len(text) > MAX_SHOWN_LENGTH or _MAY_HOLD_A_VALUE_RE.search(text):
        return "the given text (not shown: it contains '=', ':', '@' or whitespace and may hold a value)"
    return repr(text)


def _require_str(value: object, field: str, provider: str | None) -> str:
    if not isinstance(value, str):
        raise SecretConfigError(field, f"must be a string, got {type(value).__name__}", provider=provider)
    if not value:
        raise SecretConfigError(field, "must not be empty", provider=provider)
    return value


def check_secret_name(value: object, field: str, provider: str | None = None) -> str:
    """A Kubernetes Secret name: a DNS-1123 subdomain of at most 253 characters."""
    name = _require_str(value, field, provider)
    if is_templated(name):
        return name
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
    name = _require_str(value, field, provider)
    if is_templated(name):
        return name
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
    return (
        len(key) <= MAX_SUBDOMAIN_LENGTH
        and _SECRET_KEY_RE.fullmatch(key) is not None
        and key not in (".", "..")
        and not key.startswith("..")
    )


def check_secret_key(value: object, field: str, provider: str | None = None) -> str:
    """A key inside a Kubernetes Secret's ``data``: ``[-._a-zA-Z0-9]+``, not ``.`` or ``..``."""
    key = _require_str(value, field, provider)
    if is_templated(key):
        return key
    if not is_secret_key(key):
        raise SecretConfigError(
            field,
            f"{shown(key)} is not a valid secret key (letters, digits, '-', '_' and '.'; not '.' or '..')",
            provider=provider,
        )
    return key


def check_env_name(value: object, field: str, provider: str | None = None) -> str:
    """An environment variable name a shell and ``$(VAR)`` expansion can use: a C identifier."""
    name = _require_str(value, field, provider)
    if is_templated(name):
        return name
    if not _ENV_NAME_RE.fullmatch(name):
        raise SecretConfigError(
            field,
            f"{shown(name)} is not a valid environment variable name (letters, digits and '_', not starting with a digit)",
            provider=provider,
        )
    return name


def check_mount_path(value: object, field: str, provider: str | None = None) -> str:
    """An absolute container path without ``..`` components (it would escape the intended dir)."""
    path = _require_str(value, field, provider)
    if is_templated(path):
        return path
    if not path.startswith("/"):
        raise SecretConfigError(field, f"mount path {shown(path)} must be absolute", provider=provider)
    if ".." in path.split("/"):
        raise SecretConfigError(field, f"mount path {shown(path)} must not contain '..'", provider=provider)
    if ":" in path:
        raise SecretConfigError(field, f"mount path {shown(path)} must not contain ':'", provider=provider)
    return path


def check_item_path(value: object, field: str, provider: str | None = None) -> str:
    """A file name inside a secret volume: relative, no ``..`` component (kubelet rejects both)."""
    path = _require_str(value, field, provider)
    if is_templated(path):
        return path
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
