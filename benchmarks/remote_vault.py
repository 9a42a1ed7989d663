"""The Key Vault stand-in in a process of its own, for timings that model a remote vault.

A real vault's TLS handshakes and request handling run on Microsoft's servers. The stand-in in
the benchmark's own process runs them on the client's interpreter: its handler threads then
compete with the client being measured for the GIL, and a cold start (eight new TLS
connections, each handshaken on both sides in one process) is charged for the server's share
too. In a child process the client pays only for its own work plus the injected latency.

:class:`RemoteKeyVault` forwards attribute reads and method calls to a
:class:`tests.support.keyvault_standin.KeyVaultStandIn` living in a ``spawn``-ed child (no
fork of a process with threads); results travel by pickle, so ``request_log`` works as usual.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any


def _serve(conn: Connection) -> None:
    """Child: run the stand-in and answer ``(name, (args, kwargs) or None)`` until told ``None``."""
    from tests.support.keyvault_standin import KeyVaultStandIn

    with KeyVaultStandIn() as vault:
        conn.send("ready")
        while True:
            message = conn.recv()
            if message is None:
                break
            name, call = message
            try:
                found = getattr(vault, name)
                conn.send(("ok", found(*call[0], **call[1]) if call is not None else found))
            except Exception as err:  # sent back and raised in the parent
                conn.send(("error", f"{type(err).__name__}: {err}"))
    conn.close()


class RemoteKeyVault:
    """A ``KeyVaultStandIn`` in a child process; use as a context manager."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_end = context.Pipe()
        self._process = context.Process(target=_serve, args=(child_end,), name="keyvault-standin", daemon=True)

    def __enter__(self) -> RemoteKeyVault:
        self._process.start()
        if self._conn.recv() != "ready":
            raise RuntimeError("the Key Vault stand-in process did not start")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._conn.send(None)
        finally:
            self._process.join(timeout=30)
            if self._process.is_alive():
                self._process.kill()
            self._conn.close()

    def _ask(self, name: str, call: tuple[tuple[Any, ...], dict[str, Any]] | None) -> Any:
        self._conn.send((name, call))
        status, value = self._conn.recv()
        if status == "error":
            raise RuntimeError(f"Key Vault stand-in {name}: {value}")
        return value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        from tests.support.keyvault_standin import KeyVaultStandIn

        # Methods become a forwarding call; properties and plain attributes come back as values.
        if callable(getattr(KeyVaultStandIn, name, None)):
            return lambda *args, **kwargs: self._ask(name, (args, kwargs))
        return self._ask(name, None)
