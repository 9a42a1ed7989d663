"""Reading a secrets file safely: regular files only, with a size cap, as UTF-8 text.

Three readers take a path from configuration (the ``file`` provider on the worker,
``set_secrets_from_file`` and the backend's ``file`` source). A plain ``open().read()`` on such a
path reads ``/dev/zero`` until memory runs out and blocks for ever on a FIFO; here the file is
opened without blocking, checked to be a regular file, and read up to
:data:`MAX_SECRETS_FILE_BYTES`. Errors name the field and describe the path (never quote a
path that may hold a value) and never the content.

``FileNotFoundError`` and ``PermissionError`` pass through: each reader gives them its own
meaning (a missing backend file is an empty store, a missing task file a missing secret).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from airflow_secrets_provider.core.errors import SecretConfigError, drops_original_error

MAX_SECRETS_FILE_BYTES = 2 * 1024 * 1024
"""The largest secrets file read (2 MiB). A Kubernetes Secret holds at most 1 MiB of values, so
a task's or project's file beyond this could never be used; backend files hold ids and values
of the same kind."""

FileIdentity = tuple[int, int, int, int]
"""``(device, inode, size, mtime in ns)``: a file whose identity is unchanged need not be re-read."""


@dataclass(frozen=True)
class FileText:
    """The text of a file and the identity it had when read."""

    text: str = field(repr=False)  # may hold values: never in a repr
    identity: FileIdentity


def identity_of(st: os.stat_result) -> FileIdentity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def current_identity(path: str) -> FileIdentity | None:
    """The identity of the file at ``path`` now, or None if it cannot be read (a stat, no read)."""
    try:
        return identity_of(os.stat(path))
    except (OSError, ValueError):  # ValueError: a NUL in the path (read_secrets_file reports it)
        return None


@drops_original_error
def read_secrets_file(
    path: str, field: str, *, provider: str | None, max_bytes: int = MAX_SECRETS_FILE_BYTES
) -> FileText:
    """The UTF-8 text of the regular file ``path``; errors name ``field``.

    :raises FileNotFoundError: no such file (the caller decides what that means).
    :raises PermissionError: not readable.
    :raises SecretConfigError: not a regular file, larger than ``max_bytes``, or not UTF-8.
    """
    if "\x00" in path:
        raise SecretConfigError(field, "the path contains a NUL character, which no file name can", provider=provider)
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise block; it is refused below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        raise SecretConfigError(field, _not_regular("a directory"), provider=provider) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SecretConfigError(field, _not_regular(_kind_of(st.st_mode)), provider=provider)
        if st.st_size > max_bytes:
            raise SecretConfigError(field, _too_big(st.st_size, max_bytes), provider=provider)
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        size = 0
        while size <= max_bytes:
            chunk = os.read(fd, min(1024 * 1024, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:  # it grew while being read
            raise SecretConfigError(field, _too_big(size, max_bytes), provider=provider)
    finally:
        os.close(fd)
    try:
        text = b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise SecretConfigError(field, "the file is not UTF-8 text", provider=provider) from None
    return FileText(text, identity_of(st))


def read_secrets_file_kind_check(path: str, field: str, *, provider: str | None) -> None:
    """Refuse ``path`` if it exists and is not a regular file (a ``stat``: nothing is opened).

    For readers that read later (the backend reads on lookup): a missing or unreadable path
    passes here and is the read's business.
    """
    if "\x00" in path:
        raise SecretConfigError(field, "the path contains a NUL character, which no file name can", provider=provider)
    try:
        st = os.stat(path)
    except OSError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise SecretConfigError(field, _not_regular(_kind_of(st.st_mode)), provider=provider)


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _not_regular(kind: str) -> str:
    return f"the path is {kind}; a secrets file must be a regular file"


def _too_big(size: int, max_bytes: int) -> str:
    return f"the file is {size} bytes, over the limit of {max_bytes} bytes ({max_bytes // (1024 * 1024)} MiB)"
