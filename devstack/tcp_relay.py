"""A TCP relay from one local address to another, in a background thread.

Why: the local Kubernetes API server listens on 127.0.0.1 only, and containers on a Docker
bridge cannot reach the host's loopback. The compose test therefore listens on the engine's
bridge gateway address (which containers reach as ``host-gateway``) and forwards each
connection to the API server's loopback port, bytes unchanged: TLS still ends at the API
server, so its certificate (which names ``kubernetes``) is what the containers verify.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class TcpRelay:
    """Accept on ``(listen_host, listen_port)`` and forward each connection to ``target``.

    ``listen_port`` 0 picks a free port (see :attr:`port`). Stop with :meth:`close` (or use it as
    a context manager); open connections are closed with it.
    """

    def __init__(self, listen_host: str, target: tuple[str, int], listen_port: int = 0) -> None:
        self._target = target
        self._server = socket.create_server((listen_host, listen_port))
        self._server.settimeout(0.5)
        self.host = listen_host
        self.port: int = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept_loop, name=f"tcp-relay-{self.port}", daemon=True)
        self._thread.start()

    def __enter__(self) -> TcpRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._pump, args=(client,), daemon=True).start()

    def _pump(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self._target, timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        client.settimeout(None)
        with self._lock:
            self._conns.update((client, upstream))
        peers = {client: upstream, upstream: client}
        sel = selectors.DefaultSelector()
        for sock in peers:
            sel.register(sock, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.5):
                    src: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = src.recv(65536)
                    if not data:
                        return
                    peers[src].sendall(data)
        except OSError:
            return
        finally:
            sel.close()
            with self._lock:
                for sock in peers:
                    self._conns.discard(sock)
                    with contextlib.suppress(OSError):
                        sock.close()

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._server.close()
        with self._lock:
            for sock in list(self._conns):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)
