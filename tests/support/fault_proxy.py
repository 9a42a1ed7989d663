"""A fault-injecting HTTPS proxy in front of the real kube-apiserver (a test tool, not a double).

Clients reach the real API server through it with an ordinary kubeconfig (:meth:`FaultProxy.kubeconfig`:
the proxy's address, a throw-away CA that signed its certificate, the cluster's bearer token). It
ends TLS itself, so it sees each HTTP request and can answer it, drop it or hold it; everything it
does not fault is forwarded, over a TLS connection that verifies the API server against the
cluster's CA, and relayed back (streams such as watches are relayed chunk by chunk).

Faults (:class:`Fault`), chosen per request by rules (:meth:`FaultProxy.add`) or at random
(:meth:`FaultProxy.random_faults`):

* ``status``: an HTTP error without forwarding (``503``, ``500``, ``429`` with ``Retry-After``),
  a Kubernetes ``Status`` body;
* ``reset``: the connection is reset before the request is forwarded (the server never saw it);
* ``lost``: the request is forwarded and applied, then the connection is reset instead of the
  response being relayed (the client cannot know its write happened);
* ``stall``: the request is held, unanswered and unforwarded, until ``stall_seconds`` pass or
  the proxy stops (an API server that accepts and never answers);
* ``hang``: the request is forwarded and applied, then its response is held until
  ``stall_seconds`` pass or the proxy stops (the write happened; the client waits for an answer
  that never comes, until its own timeout).

Every injected fault is counted (:attr:`FaultProxy.injected`) for the figures in docs/cleanup.md.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import re
import socket
import socketserver
import ssl
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlsplit

import yaml

from tests.support.keyvault_standin import make_test_ca

if TYPE_CHECKING:
    from collections.abc import Iterator

    from devstack.kube_cluster import KubeCluster

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade"}


@dataclass(frozen=True)
class Fault:
    kind: str  # "status", "reset", "lost", "stall", "hang"
    status: int = 503
    retry_after: int | None = None
    stall_seconds: float = 3600.0

    @property
    def label(self) -> str:
        return f"{self.kind} {self.status}" if self.kind == "status" else self.kind


@dataclass
class Rule:
    """Fault requests whose method and path match, ``times`` times (None: every time)."""

    fault: Fault
    method: str | None = None
    path: str = ".*"
    times: int | None = 1
    skip: int = 0  # let this many matching requests through first

    def take(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        if not re.search(self.path, path):
            return False
        if self.skip > 0:
            self.skip -= 1
            return False
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


@dataclass
class _Random:
    rate: float
    faults: list[Fault]
    rng: random.Random
    methods: set[str] | None = None
    path: str = ".*"


@dataclass
class FaultProxy:
    """Start with :meth:`start`; stop with :meth:`stop` (or use as a context manager)."""

    upstream: str  # https://127.0.0.1:PORT of the real API server
    upstream_ca: Path | None
    workdir: Path
    rules: list[Rule] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)
    forwarded: int = 0
    log: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, fault label)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._random: _Random | None = None
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None
        ca, cert, key = make_test_ca(self.workdir / "proxy-tls")
        self.ca_file = Path(ca)
        self._server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._server_tls.load_cert_chain(cert, key)
        self._upstream_tls = ssl.create_default_context(cafile=str(self.upstream_ca) if self.upstream_ca else None)
        parts = urlsplit(self.upstream)
        self._upstream_host, self._upstream_port = parts.hostname or "127.0.0.1", parts.port or 443

    # -- control -------------------------------------------------------------------------

    def add(
        self, kind: str, *, method: str | None = None, path: str = ".*", times: int | None = 1, **fault: object
    ) -> Rule:
        rule = Rule(Fault(kind, **fault), method, path, times)  # type: ignore[arg-type]
        with self._lock:
            self.rules.append(rule)
        return rule

    def random_faults(
        self, rate: float, faults: list[Fault], *, seed: int, methods: set[str] | None = None, path: str = ".*"
    ) -> None:
        """Fault a ``rate`` share of matching requests, each with a fault drawn from ``faults``."""
        with self._lock:
            self._random = _Random(rate, faults, random.Random(seed), methods, path)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self._random = None

    @property
    def total_injected(self) -> int:
        return sum(self.injected.values())

    def _choose(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for rule in self.rules:
                if rule.take(method, path):
                    return rule.fault
            chance = self._random
            matches = chance and (chance.methods is None or method in chance.methods) and re.search(chance.path, path)
            if chance and matches and chance.rng.random() < chance.rate:
                return chance.rng.choice(chance.faults)
        return None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kubeconfig(self, token: str, path: Path | None = None) -> Path:
        """A kubeconfig that reaches the API server through this proxy with ``token``."""
        path = path or self.workdir / "proxy-kubeconfig.yaml"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "proxy", "cluster": {"server": self.url, "certificate-authority": str(self.ca_file)}}
            ],
            "users": [{"name": "admin", "user": {"token": token}}],
            "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "user": "admin"}}],
            "current-context": "proxy",
        }
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        path.chmod(0o600)
        return path

    # -- one client connection -----------------------------------------------------------

    def _serve(self, raw: socket.socket) -> None:
        try:
            conn = self._server_tls.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        upstream: http.client.HTTPSConnection | None = None
        reader = conn.makefile("rb")
        try:
            while not self._stopping.is_set():
                request = _read_request(reader)
                if request is None:
                    return
                method, target, headers, body = request
                fault = self._choose(method, target)
                if fault is not None:
                    with self._lock:
                        self.injected[fault.label] += 1
                        self.log.append((method, target, fault.label))
                if fault is not None and fault.kind == "status":
                    _write_status(conn, fault)
                    continue
                if fault is not None and fault.kind == "reset":
                    _reset(conn, reader)
                    return
                if fault is not None and fault.kind == "stall":
                    self._stopping.wait(fault.stall_seconds)
                    _reset(conn, reader)
                    return
                if upstream is None:
                    upstream = http.client.HTTPSConnection(
                        self._upstream_host, self._upstream_port, context=self._upstream_tls, timeout=600
                    )
                forward = {k: v for k, v in headers if k.lower() not in _HOP_BY_HOP and k.lower() != "host"}
                forward["Host"] = f"{self._upstream_host}:{self._upstream_port}"
                upstream.request(method, target, body=body, headers=forward)
                response = upstream.getresponse()
                if fault is not None and fault.kind == "lost":
                    response.read()  # the server applied the request; the client never hears of it
                    _reset(conn, reader)
                    return
                if fault is not None and fault.kind == "hang":
                    response.read()  # applied; the answer is held until the client gives up
                    self._stopping.wait(fault.stall_seconds)
                    _reset(conn, reader)
                    return
                with self._lock:
                    self.forwarded += 1
                _relay(conn, response)
                if response.will_close:
                    upstream.close()
                    upstream = None
        except (OSError, ssl.SSLError, http.client.HTTPException):
            return
        finally:
            if upstream is not None:
                upstream.close()
            with contextlib.suppress(OSError):
                reader.close()
                conn.close()


def _read_request(reader: BinaryIO) -> tuple[str, str, list[tuple[str, str]], bytes | None] | None:
    line = reader.readline(65537)
    if not line:
        return None
    method, target, _version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    headers: list[tuple[str, str]] = []
    while True:
        header = reader.readline(65537).decode("latin-1").rstrip("\r\n")
        if not header:
            break
        name, _, value = header.partition(":")
        headers.append((name.strip(), value.strip()))
    lower = {k.lower(): v for k, v in headers}
    body: bytes | None = None
    if "content-length" in lower:
        body = reader.read(int(lower["content-length"]))
    elif lower.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int(reader.readline().split(b";")[0], 16)
            if size == 0:
                reader.readline()
                break
            parts.append(reader.read(size))
            reader.readline()
        body = b"".join(parts)
    return method, target, headers, body


def _write_status(conn: socket.socket, fault: Fault) -> None:
    reason = http.client.responses.get(fault.status, "Error")
    body = json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "message": f"injected by the fault proxy: {fault.status}",
            "reason": "TooManyRequests" if fault.status == 429 else "InternalError",
            "code": fault.status,
        }
    ).encode()
    head = [f"HTTP/1.1 {fault.status} {reason}", "Content-Type: application/json", f"Content-Length: {len(body)}"]
    if fault.retry_after is not None:
        head.append(f"Retry-After: {fault.retry_after}")
    conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)


def _relay(conn: socket.socket, response: http.client.HTTPResponse) -> None:
    head = [f"HTTP/1.1 {response.status} {response.reason}"]
    head += [f"{k}: {v}" for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
    length = response.getheader("Content-Length")
    if length is not None and response.getheader("Transfer-Encoding") is None:
        body = response.read()
        head.append(f"Content-Length: {len(body)}")
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        return
    head.append("Transfer-Encoding: chunked")
    conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
    while True:
        chunk = response.read1(65536)
        if not chunk:
            break
        conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    conn.sendall(b"0\r\n\r\n")


def _reset(conn: socket.socket, reader: BinaryIO) -> None:
    """Close with RST (SO_LINGER 0): the client sees a reset, not an orderly end."""
    reader.close()  # the socket is only really closed once its file object is
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        conn.close()


@contextlib.contextmanager
def fault_proxy_for(cluster: KubeCluster, directory: Path) -> Iterator[FaultProxy]:
    """A started proxy in front of ``cluster``; it authenticates with the admin token of a
    cluster the tests started, so a cluster from ``KUBECONFIG`` skips (fails under CI)."""
    from tests.support.tiers import skip_or_fail

    if not cluster.admin_token:
        skip_or_fail("the fault proxy needs the bearer token of a cluster we started")
    with FaultProxy(cluster.server, cluster.ca_file, directory) as proxy:
        yield proxy
