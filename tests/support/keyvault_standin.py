"""A test double of the Azure Key Vault *service* (and of the token endpoints it relies on).

It replaces the service, not the client: tests use the real ``azure-keyvault-secrets``
``SecretClient`` and the real ``azure-identity`` credentials, which talk HTTPS to this local
server exactly as they would talk to ``https://<vault>.vault.azure.net`` and to Entra ID. That
way the code under test is exercised through the SDK's own challenge authentication, retry
policy, paging and error mapping, instead of through a mock that only mirrors our assumptions
about them. No Key Vault emulator is installable from PyPI, npm or Debian (the known ones are
container images), hence this stand-in.

What it serves, on 127.0.0.1 with free ports (nothing leaves the loopback interface):

* Over TLS (``KeyVaultStandIn.url``), with a throw-away CA from :func:`make_test_ca`:

  - a Key Vault secrets API subset (``GET/PUT/PATCH/DELETE /secrets/...``, ``GET /secrets``
    with ``nextLink`` paging), guarded by Key Vault's challenge authentication;
  - Entra ID (AAD) endpoints for the client-credentials flow:
    ``GET /{tenant}/v2.0/.well-known/openid-configuration`` and
    ``POST /{tenant}/oauth2/v2.0/token``, so ``ClientSecretCredential(...,
    authority=standin.url, disable_instance_discovery=True, connection_verify=ca)`` works.
    MSAL refuses non-HTTPS authorities, which is why this lives on the TLS listener.

* Over plain HTTP (``KeyVaultStandIn.identity_endpoint``): an App Service style managed
  identity endpoint (``IDENTITY_ENDPOINT`` + ``IDENTITY_HEADER``). The real one is plain HTTP on
  localhost too, so ``ManagedIdentityCredential()`` needs nothing but the two environment
  variables (see :meth:`KeyVaultStandIn.managed_identity_env`) -- no CA configuration.

Behaviour copied from the real service (and where it knowingly differs):

* The first request without ``Authorization`` gets 401 with
  ``WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>",
  resource="https://vault.azure.net"``. Later requests must carry a bearer token this stand-in
  issued, for the vault resource and not expired; otherwise 401 again (with the challenge, as
  the service does, so the SDK re-authenticates).
* ``GET`` of a disabled secret (or disabled version): 403, code ``Forbidden``, message
  "Operation get is not allowed on a disabled secret.", ``innererror.code`` ``SecretDisabled``
  -- the body the real service returns. Disabled secrets are still listed.
* Unknown secret or version: 404, code ``SecretNotFound`` (the SDK raises
  ``ResourceNotFoundError``). Invalid names (not ``[0-9a-zA-Z-]{1,127}``): 400 ``BadParameter``.
* List items carry ``id`` (without version), ``attributes``, ``contentType`` and ``tags`` but
  never ``value``. Page size: ``maxresults`` 1..25 (default 25, as the service), else 400.
* Every vault request must carry ``api-version`` (any value is accepted), else 400.
* ``DELETE`` is minimal: it removes the secret at once and answers without ``recoveryId``, i.e.
  like a vault without soft-delete, so ``begin_delete_secret`` finishes without polling.
  ``/deletedsecrets`` is not implemented.

Fault injection and observability are the point of having a stand-in at all: see
:meth:`~KeyVaultStandIn.inject_latency`, :meth:`~KeyVaultStandIn.fail_next`,
:meth:`~KeyVaultStandIn.deny_all`, :attr:`~KeyVaultStandIn.request_log` and
:meth:`~KeyVaultStandIn.count`. Faults and latency apply by default to vault API requests only
(``/secrets...``), so that scripting "the vault throttles" does not accidentally break token
acquisition; pass ``path_prefix`` to target a token endpoint (or ``"/"`` for everything).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import http
import ipaddress
import json
import logging
import os
import re
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_TENANT_ID",
    "VAULT_RESOURCE",
    "KeyVaultStandIn",
    "RequestRecord",
    "SecretVersion",
    "make_test_ca",
]

logger = logging.getLogger(__name__)

DEFAULT_TENANT_ID = "11111111-2222-4333-8444-555555555555"
DEFAULT_CLIENT_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
DEFAULT_CLIENT_SECRET = "stand-in-client-secret"
VAULT_RESOURCE = "https://vault.azure.net"
"""The resource Key Vault names in its challenge; tokens must be issued for it."""
CHALLENGE_AUTHORITY = "https://login.microsoftonline.com"
"""What the real challenge names as authority; the SDK only takes the tenant from it."""

MAX_PAGE_SIZE = 25
"""The service's upper bound (and default) for ``maxresults``."""
RECOVERY_LEVEL = "Recoverable+Purgeable"
_SECRET_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_TOKEN_PATH = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token$")
_OIDC_PATH = re.compile(r"^/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration$")
_VAULT_PREFIXES = ("/secrets", "/deletedsecrets")
IDENTITY_PATH = "/msi/token"
_NOT_FOUND_MESSAGE = (
    "A secret with (name/id) {name} was not found in this key vault. If you recently deleted "
    "this secret you may be able to recover it using the correct recovery command. For help "
    "resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
)


# --------------------------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------------------------


def _signing_key_usage(*, certificates: bool) -> x509.KeyUsage:
    """Digital signature (EC keys sign TLS handshakes), plus cert/CRL signing for a CA."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=certificates,
        crl_sign=certificates,
        encipher_only=False,
        decipher_only=False,
    )


def make_test_ca(directory: str | os.PathLike[str]) -> tuple[str, str, str]:
    """Create a throw-away CA and a server certificate for ``localhost`` / ``127.0.0.1``.

    The SDK refuses bearer authentication over plain HTTP, so the stand-in must speak TLS, and
    a client can only trust it through a CA file (``connection_verify=ca`` or
    ``REQUESTS_CA_BUNDLE``). A separate CA (rather than one self-signed leaf) keeps the
    certificates shaped like real ones, which also satisfies strict X.509 verification
    (key usages, subject/authority key identifiers).

    Returns ``(ca_cert_path, server_cert_path, server_key_path)`` as strings (PEM files in
    ``directory``), directly usable as ``connection_verify``.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    not_before = now - datetime.timedelta(hours=1)
    not_after = now + datetime.timedelta(days=7)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Key Vault stand-in test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_signing_key_usage(certificates=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_signing_key_usage(certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    ca_path = out / "ca.pem"
    cert_path = out / "server.pem"
    key_path = out / "server-key.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return str(ca_path), str(cert_path), str(key_path)


# --------------------------------------------------------------------------------------------
# Data held by the stand-in
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretVersion:
    """One stored version of a secret, as the service keeps it (times are epoch seconds)."""

    name: str
    version: str
    value: str
    content_type: str | None
    tags: Mapping[str, str] | None
    enabled: bool
    created: int
    updated: int
    not_before: int | None = None
    expires: int | None = None


@dataclass(frozen=True)
class RequestRecord:
    """One request the stand-in answered: what tests assert call counts and timings on."""

    method: str
    path: str
    """Path without the query string."""
    query: str
    status: int
    time: float
    """Wall-clock time (``time.time()``) when the response was ready to send."""
    duration: float
    """Seconds spent handling the request, including injected latency."""


@dataclass
class _Gather:
    barrier: threading.Barrier
    path_prefix: str | None
    authorized_only: bool = False


@dataclass(frozen=True)
class _Fault:
    status: int
    retry_after: int | None
    retry_after_ms: int | None
    path_prefix: str | None
    method: str | None
    code: str | None
    message: str | None


@dataclass(frozen=True)
class _IssuedToken:
    audience: str
    expires_on: int
    principal: str


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> _Response:
    all_headers = {"Content-Type": "application/json; charset=utf-8"}
    all_headers.update(headers or {})
    return _Response(status, json.dumps(payload).encode(), all_headers)


def _vault_error(
    status: int,
    code: str,
    message: str,
    inner_code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> _Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if inner_code:
        error["innererror"] = {"code": inner_code}  # the wire spelling azure-core reads
    return _json_response(status, {"error": error}, headers)


def _aad_error(status: int, error: str, description: str, code: int) -> _Response:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return _json_response(
        status,
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description}",
            "error_codes": [code],
            "timestamp": now,
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        },
    )


def _status_code_name(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase.replace(" ", "")
    except ValueError:
        return f"Http{status}"


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    """A threading HTTP(S) server that can close its keep-alive connections on stop.

    ``shutdown()`` alone only stops accepting; handler threads parked on an idle keep-alive
    connection would linger until the client goes away. Tracking connections lets
    :meth:`KeyVaultStandIn.stop` end them and join their threads.
    """

    daemon_threads = True
    allow_reuse_address = False

    def __init__(
        self,
        standin: KeyVaultStandIn,
        ssl_context: ssl.SSLContext | None,
        listener: str,
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.standin = standin
        self.ssl_context = ssl_context
        self.listener = listener
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.ssl_context is not None:
            # Handshake in the handler thread, not here: a stalled client must not block accept.
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up, or that do not trust the CA, are normal in tests; no tracebacks.
        logger.debug("stand-in connection from %s ended with an error", client_address, exc_info=True)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections[connection] = threading.current_thread()

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.pop(connection, None)

    def close_connections(self, timeout: float = 2.0) -> None:
        with self._connections_lock:
            connections = list(self._connections.items())
        for connection, _thread in connections:
            # socket.socket.shutdown, not SSLSocket.shutdown: the latter drops the SSL object
            # under the feet of the handler thread still reading from it.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(connection, socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for _connection, thread in connections:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    """Thin adapter: parse the request, let :class:`KeyVaultStandIn` answer, log the result."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    disable_nagle_algorithm = True  # otherwise each request costs ~50 ms (Nagle + delayed ACK)
    timeout = 60  # an idle keep-alive connection eventually ends on its own
    server: _Server

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
        super().setup()
        self.server.track(self.request)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.request)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("stand-in %s: " + format, self.server.listener, *args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        started = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            response = self.server.standin._handle(self.server.listener, self.command, parts.path, query, headers, body)
        except Exception:  # pragma: no cover - a bug in the stand-in; answer like a 500
            logger.exception("stand-in failed handling %s %s", self.command, self.path)
            response = _vault_error(500, "InternalServerError", "stand-in error")
        # Log before answering: once the client has the response, a test may read the log.
        self.server.standin._record(
            RequestRecord(
                method=self.command,
                path=parts.path,
                query=parts.query,
                status=response.status,
                time=time.time(),
                duration=time.monotonic() - started,
            )
        )
        self.send_response(response.status)
        for name, value in {"x-ms-request-id": str(uuid.uuid4()), **response.headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body:
            self.wfile.write(response.body)
        self.wfile.flush()


# --------------------------------------------------------------------------------------------
# The stand-in
# --------------------------------------------------------------------------------------------


class KeyVaultStandIn:
    """A local, in-memory Azure Key Vault (secrets) plus Entra ID and managed identity endpoints.

    Use as a context manager (or call :meth:`start` / :meth:`stop`). Point the real SDK at it::

        with KeyVaultStandIn() as vault:
            credential = ClientSecretCredential(
                vault.tenant_id, vault.client_id, vault.client_secret,
                authority=vault.authority, disable_instance_discovery=True,
                connection_verify=vault.ca_file,
            )
            client = SecretClient(vault.url, credential, verify_challenge_resource=False,
                                  connection_verify=vault.ca_file)

    ``verify_challenge_resource=False`` is needed because the challenge names
    ``vault.azure.net`` while the vault lives on 127.0.0.1; the SDK otherwise refuses.

    All methods are thread-safe: the servers answer from their own (daemon) threads while the
    test thread scripts faults and reads counters.
    """

    def __init__(
        self,
        *,
        tenant_id: str = DEFAULT_TENANT_ID,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        identity_header: str | None = None,
        token_lifetime: int = 3600,
        cert_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """Configure (but do not start) the stand-in.

        ``client_id``/``client_secret`` are the only application credentials the token
        endpoint accepts; ``identity_header`` is the ``IDENTITY_HEADER`` value the managed
        identity endpoint demands (random by default). ``cert_dir`` keeps the generated CA
        and server certificate there; by default they go to a temporary directory removed by
        :meth:`stop`.
        """
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.identity_header = identity_header or secrets.token_hex(16)
        self.token_lifetime = token_lifetime
        self._cert_dir = Path(cert_dir) if cert_dir is not None else None
        self._owned_cert_dir: str | None = None
        self._ca_file: str | None = None

        self._lock = threading.Lock()
        self._secrets: dict[str, list[SecretVersion]] = {}
        self._tokens: dict[str, _IssuedToken] = {}
        self._faults: deque[_Fault] = deque()
        self._latency: tuple[float, str | None] = (0.0, None)
        self._gather: _Gather | None = None
        self._in_flight = 0
        self.max_in_flight = 0
        """Most gathered requests (see :meth:`gather_requests`) handled at one time."""
        self._deny_status: int | None = None
        self._log: list[RequestRecord] = []

        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self._tls_server: _Server | None = None
        self._identity_server: _Server | None = None

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self) -> KeyVaultStandIn:
        """Generate the certificates and start both listeners on free loopback ports."""
        if self._servers:
            raise RuntimeError("KeyVaultStandIn is already running")
        if self._cert_dir is None:
            self._owned_cert_dir = tempfile.mkdtemp(prefix="keyvault-standin-")
            cert_dir: str | os.PathLike[str] = self._owned_cert_dir
        else:
            cert_dir = self._cert_dir
        ca_file, cert_file, key_file = make_test_ca(cert_dir)
        self._ca_file = ca_file
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_file, key_file)

        self._tls_server = _Server(self, context, "tls")
        self._identity_server = _Server(self, None, "identity")
        self._servers = [self._tls_server, self._identity_server]
        for server in self._servers:
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},  # keeps stop() fast
                name=f"keyvault-standin-{server.listener}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop accepting, end open connections, join the threads, remove temporary certs."""
        for server in self._servers:
            server.shutdown()
        for server in self._servers:
            server.close_connections()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers = []
        self._threads = []
        self._tls_server = None
        self._identity_server = None
        if self._owned_cert_dir is not None:
            shutil.rmtree(self._owned_cert_dir, ignore_errors=True)
            self._owned_cert_dir = None

    def __enter__(self) -> KeyVaultStandIn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- addresses ---------------------------------------------------------------------

    def _require(self, server: _Server | None) -> _Server:
        if server is None:
            raise RuntimeError("KeyVaultStandIn is not running; call start() first")
        return server

    @property
    def port(self) -> int:
        """Port of the TLS listener (vault API and Entra ID endpoints)."""
        return int(self._require(self._tls_server).server_address[1])

    @property
    def url(self) -> str:
        """The vault URL, ``https://127.0.0.1:PORT``: pass it as ``vault_url``."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        """The Entra ID authority host to give credentials (same listener as the vault)."""
        return self.url

    @property
    def ca_file(self) -> str:
        """PEM file of the CA that signed the server certificate (``connection_verify``)."""
        if self._ca_file is None:
            raise RuntimeError("KeyVaultStandIn is not running; call start() first")
        return self._ca_file

    @property
    def identity_endpoint(self) -> str:
        """The App Service style managed identity endpoint (plain HTTP, like the real one)."""
        port = int(self._require(self._identity_server).server_address[1])
        return f"http://127.0.0.1:{port}{IDENTITY_PATH}"

    def managed_identity_env(self) -> dict[str, str]:
        """``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` for ``ManagedIdentityCredential``.

        Also unset ``IDENTITY_SERVER_THUMBPRINT``, ``IMDS_ENDPOINT`` and ``MSI_ENDPOINT`` in
        the test: with those, azure-identity picks Service Fabric, Azure Arc or Azure ML.
        """
        return {"IDENTITY_ENDPOINT": self.identity_endpoint, "IDENTITY_HEADER": self.identity_header}

    def reader_options(self, **overrides: Any) -> dict[str, Any]:
        """Flat options for ``AzureVaultReader.from_options`` that authenticate to this stand-in."""
        return {
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "authority": self.authority,
            "disable_instance_discovery": True,
            "connection_verify": self.ca_file,
            "verify_challenge_resource": False,
            **overrides,
        }

    def backend_source(self, **overrides: Any) -> dict[str, Any]:
        """A ``ChainedSecretsBackend`` ``azure_vault`` source pointing at this stand-in."""
        return {"kind": "azure_vault", "vault_url": self.url, **self.reader_options(**overrides)}

    # ---- the store -----------------------------------------------------------------------

    def set_secret(
        self,
        name: str,
        value: str,
        *,
        enabled: bool = True,
        content_type: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Add a new version of ``name`` directly (no HTTP, not logged); returns the version id."""
        if not _SECRET_NAME.match(name):
            raise ValueError(f"invalid Key Vault secret name: {name!r}")
        with self._lock:
            return self._add_version(name, value, enabled, content_type, tags, None, None).version

    def delete_secret(self, name: str) -> bool:
        """Remove ``name`` with all its versions; returns whether it existed."""
        with self._lock:
            return self._secrets.pop(name.lower(), None) is not None

    def secret_versions(self, name: str) -> list[SecretVersion]:
        """All stored versions of ``name``, oldest first (empty if unknown)."""
        with self._lock:
            return list(self._secrets.get(name.lower(), []))

    def secret_names(self) -> list[str]:
        """Names of all stored secrets, sorted."""
        with self._lock:
            return sorted(versions[-1].name for versions in self._secrets.values())

    def _add_version(
        self,
        name: str,
        value: str,
        enabled: bool,
        content_type: str | None,
        tags: Mapping[str, str] | None,
        not_before: int | None,
        expires: int | None,
    ) -> SecretVersion:
        # Caller holds self._lock. Names are case-insensitive in Key Vault; keep the first
        # spelling, as the service does.
        now = int(time.time())
        versions = self._secrets.setdefault(name.lower(), [])
        stored_name = versions[0].name if versions else name
        version = SecretVersion(
            name=stored_name,
            version=uuid.uuid4().hex,
            value=value,
            content_type=content_type,
            tags=MappingProxyType(dict(tags)) if tags is not None else None,  # read-only snapshots
            enabled=enabled,
            created=now,
            updated=now,
            not_before=not_before,
            expires=expires,
        )
        versions.append(version)
        return version

    # ---- fault injection -------------------------------------------------------------------

    def inject_latency(self, seconds: float, *, path_prefix: str | None = None) -> None:
        """Delay every matching request by ``seconds`` (0 turns it off).

        ``path_prefix=None`` means vault API requests only; ``"/"`` means every request.
        """
        with self._lock:
            self._latency = (max(0.0, seconds), path_prefix)

    def gather_requests(
        self, n: int, *, path_prefix: str | None = None, timeout: float = 30.0, authorized_only: bool = False
    ) -> None:
        """Hold matching requests until ``n`` are in the handler together, then release them.

        Proves concurrency without timing anything: with a client that sends ``n`` requests
        at once, :attr:`max_in_flight` reaches ``n``; with a serial one the first request
        waits ``timeout`` (a bounded wait), every later one passes, and it stays lower.
        ``path_prefix=None`` means vault API requests only. ``authorized_only`` leaves requests
        without an ``Authorization`` header (Key Vault challenges) out of the gathering.
        """
        with self._lock:
            self._gather = _Gather(threading.Barrier(n, timeout=timeout), path_prefix, authorized_only)
            self._in_flight = 0
            self.max_in_flight = 0

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        *,
        retry_after: int | None = None,
        retry_after_ms: int | None = None,
        path_prefix: str | None = None,
        method: str | None = None,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``n`` matching requests with ``status`` instead of serving them.

        Faults queue up in order; each is consumed by the first request it matches.
        ``retry_after`` sets ``Retry-After`` (whole seconds, as Key Vault sends when
        throttling); ``retry_after_ms`` sets ``retry-after-ms``, which azure-core also honours
        and which keeps tests fast. On vault paths a fault hits only requests that passed the
        challenge authentication, so it lands on the request the test cares about rather than on
        the SDK's unauthenticated probe. ``path_prefix=None`` means vault API requests only.
        """
        fault = _Fault(status, retry_after, retry_after_ms, path_prefix, method, code, message)
        with self._lock:
            self._faults.extend([fault] * n)

    def deny_all(self, enabled: bool = True, *, status: int = 403) -> None:
        """While enabled, answer every authenticated vault request with ``status``.

        Models a principal that authenticates fine but lacks permission (access policy or
        RBAC): 403 ``Forbidden`` with inner code ``AccessDenied``.
        """
        with self._lock:
            self._deny_status = status if enabled else None

    def clear_faults(self) -> None:
        """Drop queued faults, latency and ``deny_all``."""
        with self._lock:
            self._faults.clear()
            self._latency = (0.0, None)
            self._gather = None
            self._deny_status = None

    def revoke_tokens(self) -> None:
        """Forget every issued token, so the next vault request gets 401 and re-authenticates."""
        with self._lock:
            self._tokens.clear()

    @property
    def issued_token_count(self) -> int:
        """How many tokens the Entra ID and managed identity endpoints have issued (and kept)."""
        with self._lock:
            return len(self._tokens)

    # ---- observability -------------------------------------------------------------------

    @property
    def request_log(self) -> list[RequestRecord]:
        """A snapshot of every request answered since start (or :meth:`reset_counts`)."""
        with self._lock:
            return list(self._log)

    def count(self, method: str | None = None, path_prefix: str | None = None) -> int:
        """How many logged requests match ``method`` (e.g. ``"GET"``) and ``path_prefix``."""
        with self._lock:
            return sum(
                1
                for record in self._log
                if (method is None or record.method == method.upper())
                and (path_prefix is None or record.path.startswith(path_prefix))
            )

    def reset_counts(self) -> None:
        """Clear the request log (the store, tokens and faults are untouched)."""
        with self._lock:
            self._log.clear()

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._log.append(record)

    # ---- request handling ------------------------------------------------------------------

    @staticmethod
    def _in_scope(path: str, path_prefix: str | None) -> bool:
        if path_prefix is None:
            return path.startswith(_VAULT_PREFIXES)
        return path.startswith(path_prefix)

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if self._in_scope(path, fault.path_prefix) and (fault.method is None or fault.method.upper() == method):
                    del self._faults[index]
                    return fault
        return None

    def _fault_response(self, fault: _Fault, path: str) -> _Response:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        if fault.retry_after_ms is not None:
            headers["retry-after-ms"] = str(fault.retry_after_ms)
        if fault.status == 429:
            code = fault.code or "Throttled"
            message = fault.message or (
                "Request was not processed because too many requests were received. Reason: injected by the stand-in"
            )
        else:
            code = fault.code or _status_code_name(fault.status)
            message = fault.message or f"Injected failure ({fault.status})"
        if path.startswith(_VAULT_PREFIXES):
            return _vault_error(fault.status, code, message, headers=headers)
        response = _json_response(fault.status, {"error": code, "error_description": message}, headers)
        return response

    def _handle(
        self,
        listener: str,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> _Response:
        """Answer one request; ``headers`` has lower-cased names."""
        with self._lock:
            latency, latency_prefix = self._latency
            gather = self._gather
        if latency and self._in_scope(path, latency_prefix):
            time.sleep(latency)
        if (
            gather is not None
            and self._in_scope(path, gather.path_prefix)
            and (not gather.authorized_only or "authorization" in headers)
        ):
            with self._lock:
                self._in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self._in_flight)
            with contextlib.suppress(threading.BrokenBarrierError):  # fewer than n came: let it through
                gather.barrier.wait()
            try:
                return self._dispatch(listener, method, path, query, headers, body)
            finally:
                with self._lock:
                    self._in_flight -= 1
        return self._dispatch(listener, method, path, query, headers, body)

    def _dispatch(
        self,
        listener: str,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> _Response:

        if listener == "identity":
            fault = self._take_fault(method, path)
            if fault is not None:
                return self._fault_response(fault, path)
            return self._handle_identity(method, path, query, headers)

        if path.startswith(_VAULT_PREFIXES):
            return self._handle_vault(method, path, query, headers, body)

        fault = self._take_fault(method, path)
        if fault is not None:
            return self._fault_response(fault, path)
        oidc = _OIDC_PATH.match(path)
        if oidc and method == "GET":
            return self._handle_openid_configuration(oidc.group("tenant"))
        token = _TOKEN_PATH.match(path)
        if token and method == "POST":
            return self._handle_client_credentials(token.group("tenant"), body)
        return _json_response(404, {"error": "not_found", "error_description": f"no route {path}"})

    # -- Entra ID ---------------------------------------------------------------------------

    def _handle_openid_configuration(self, tenant: str) -> _Response:
        if tenant != self.tenant_id:
            return _aad_error(400, "invalid_tenant", f"Tenant '{tenant}' not found.", 90002)
        base = f"{self.url}/{tenant}"
        return _json_response(
            200,
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{self.url}/{tenant}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": f"{self.url}/oidc/userinfo",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "oid"],
                "tenant_region_scope": None,
                "cloud_instance_name": "microsoftonline.com",
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": "graph.microsoft.com",
            },
        )

    def _handle_client_credentials(self, tenant: str, body: bytes) -> _Response:
        if tenant != self.tenant_id:
            return _aad_error(400, "invalid_request", f"Tenant '{tenant}' not found.", 90002)
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
        if form.get("grant_type") != "client_credentials":
            return _aad_error(
                400,
                "unsupported_grant_type",
                "The stand-in supports only the client_credentials grant.",
                70003,
            )
        if form.get("client_id") != self.client_id:
            return _aad_error(
                400,
                "unauthorized_client",
                f"Application with identifier '{form.get('client_id')}' was not found in the directory '{tenant}'.",
                700016,
            )
        if form.get("client_secret") != self.client_secret:
            return _aad_error(
                401,
                "invalid_client",
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                f"the client secret value, not the client secret ID, for a secret added to app "
                f"'{self.client_id}'.",
                7000215,
            )
        scopes = form.get("scope", "").split()
        resources = [s[: -len("/.default")] for s in scopes if s.endswith("/.default")]
        if len(resources) != 1:
            return _aad_error(
                400,
                "invalid_scope",
                f"The provided value for scope {form.get('scope')} is not valid. Client "
                "credential flows must have a scope value with /.default suffixed to the "
                "resource identifier (application ID URI).",
                1002012,
            )
        token, _expires_on = self._issue_token(resources[0], principal=self.client_id)
        return _json_response(
            200,
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": token,
            },
        )

    # -- managed identity --------------------------------------------------------------------

    def _handle_identity(
        self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> _Response:
        if path != IDENTITY_PATH or method != "GET":
            return _json_response(404, {"statusCode": 404, "message": f"no route {path}"})
        if headers.get("x-identity-header") != self.identity_header:
            return _json_response(401, {"statusCode": 401, "message": "X-IDENTITY-HEADER is missing or wrong."})
        resource = query.get("resource")
        if not query.get("api-version") or not resource:
            return _json_response(400, {"statusCode": 400, "message": "api-version and resource are required."})
        principal = query.get("client_id") or query.get("mi_res_id") or query.get("object_id")
        token, expires_on = self._issue_token(resource, principal=principal or "system-assigned")
        return _json_response(
            200,
            {
                "access_token": token,
                "expires_on": str(expires_on),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": query.get("client_id") or DEFAULT_CLIENT_ID,
            },
        )

    def _issue_token(self, resource: str, *, principal: str) -> tuple[str, int]:
        token = "standin." + secrets.token_urlsafe(32)
        expires_on = int(time.time()) + self.token_lifetime
        with self._lock:
            self._tokens[token] = _IssuedToken(resource.rstrip("/"), expires_on, principal)
        return token, expires_on

    # -- the vault ---------------------------------------------------------------------------

    def _challenge(self, message: str) -> _Response:
        challenge = f'Bearer authorization="{CHALLENGE_AUTHORITY}/{self.tenant_id}", resource="{VAULT_RESOURCE}"'
        return _vault_error(401, "Unauthorized", message, headers={"WWW-Authenticate": challenge})

    def _check_token(self, headers: Mapping[str, str]) -> _Response | None:
        authorization = headers.get("authorization") or ""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return self._challenge("AKV10000: Request is missing a Bearer or PoP token.")
        with self._lock:
            issued = self._tokens.get(token.strip())
        if issued is None:
            return self._challenge("Unauthorized: the bearer token was not issued by this vault's tenant.")
        if issued.expires_on <= time.time():
            return self._challenge("Unauthorized: the bearer token has expired.")
        if issued.audience != VAULT_RESOURCE:
            return self._challenge(f"Unauthorized: invalid audience '{issued.audience}'.")
        return None

    def _handle_vault(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> _Response:
        # Order as the service: authenticate (the SDK's first probe has no token and no body),
        # then authorize, then throttle/fail, then validate and serve.
        unauthenticated = self._check_token(headers)
        if unauthenticated is not None:
            return unauthenticated
        with self._lock:
            deny_status = self._deny_status
        if deny_status is not None:
            return _vault_error(
                deny_status,
                _status_code_name(deny_status) if deny_status != 403 else "Forbidden",
                f"The user, group or application '{self.client_id}' does not have secrets "
                f"{method.lower()} permission on key vault '127.0.0.1'.",
                inner_code="AccessDenied",
            )
        fault = self._take_fault(method, path)
        if fault is not None:
            return self._fault_response(fault, path)
        if "api-version" not in query:
            return _vault_error(400, "BadParameter", "The 'api-version' parameter is missing.")

        segments = path.split("/")[1:]  # "/secrets/a/" -> ["secrets", "a", ""]
        if segments[0] != "secrets":
            return _vault_error(404, "NotFound", f"The stand-in does not implement {path}.")
        if len(segments) == 1 or (len(segments) == 2 and segments[1] == ""):
            if method == "GET":
                return self._list_secrets(query)
            return self._method_not_allowed(method, path)
        name = segments[1]
        if not _SECRET_NAME.match(name):
            return _vault_error(400, "BadParameter", f"The request URI contains an invalid name: {name}")
        rest = segments[2:]
        version = rest[0] if rest else ""
        if len(rest) > 1 and not (len(rest) == 2 and rest[1] == ""):
            return _vault_error(404, "NotFound", f"The stand-in does not implement {path}.")

        if version == "versions" and method == "GET":
            return self._list_versions(name, query)
        if method == "GET":
            return self._get_secret(name, version)
        if method == "PUT" and not version:
            return self._put_secret(name, body)
        if method == "PATCH":
            return self._patch_secret(name, version, body)
        if method == "DELETE" and not version:
            return self._delete_secret(name)
        return self._method_not_allowed(method, path)

    @staticmethod
    def _method_not_allowed(method: str, path: str) -> _Response:
        return _vault_error(405, "MethodNotAllowed", f"{method} is not supported on {path}.")

    def _bundle_id(self, name: str, version: str | None = None) -> str:
        return f"{self.url}/secrets/{name}" + (f"/{version}" if version else "")

    @staticmethod
    def _attributes(version: SecretVersion) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "enabled": version.enabled,
            "created": version.created,
            "updated": version.updated,
            "recoveryLevel": RECOVERY_LEVEL,
            "recoverableDays": 90,
        }
        if version.not_before is not None:
            attributes["nbf"] = version.not_before
        if version.expires is not None:
            attributes["exp"] = version.expires
        return attributes

    def _item(self, version: SecretVersion, *, with_version: bool) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": self._bundle_id(version.name, version.version if with_version else None),
            "attributes": self._attributes(version),
        }
        if version.content_type is not None:
            item["contentType"] = version.content_type
        if version.tags is not None:
            item["tags"] = dict(version.tags)
        return item

    def _bundle(self, version: SecretVersion) -> dict[str, Any]:
        return {"value": version.value, **self._item(version, with_version=True)}

    def _find(self, name: str, version: str) -> SecretVersion | _Response:
        with self._lock:
            versions = list(self._secrets.get(name.lower(), []))
        if not versions:
            return _vault_error(404, "SecretNotFound", _NOT_FOUND_MESSAGE.format(name=name))
        if not version:
            return versions[-1]
        for candidate in versions:
            if candidate.version == version:
                return candidate
        return _vault_error(404, "SecretNotFound", _NOT_FOUND_MESSAGE.format(name=f"{name}/{version}"))

    def _get_secret(self, name: str, version: str) -> _Response:
        found = self._find(name, version)
        if isinstance(found, _Response):
            return found
        if not found.enabled:
            return _vault_error(
                403,
                "Forbidden",
                "Operation get is not allowed on a disabled secret.",
                inner_code="SecretDisabled",
            )
        return _json_response(200, self._bundle(found))

    @staticmethod
    def _parse_json(body: bytes) -> dict[str, Any] | _Response:
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            return _vault_error(400, "BadParameter", "The request body is not valid JSON.")
        if not isinstance(payload, dict):
            return _vault_error(400, "BadParameter", "The request body must be a JSON object.")
        return payload

    def _put_secret(self, name: str, body: bytes) -> _Response:
        payload = self._parse_json(body)
        if isinstance(payload, _Response):
            return payload
        value = payload.get("value")
        if not isinstance(value, str):
            return _vault_error(400, "BadParameter", "Property 'value' is required and must be a string.")
        tags = payload.get("tags")
        if tags is not None and not (isinstance(tags, dict) and all(isinstance(v, str) for v in tags.values())):
            return _vault_error(400, "BadParameter", "Property 'tags' must map strings to strings.")
        attributes = payload.get("attributes") or {}
        with self._lock:
            version = self._add_version(
                name,
                value,
                bool(attributes.get("enabled", True)),
                payload.get("contentType"),
                tags,
                attributes.get("nbf"),
                attributes.get("exp"),
            )
        return _json_response(200, self._bundle(version))

    def _patch_secret(self, name: str, version: str, body: bytes) -> _Response:
        payload = self._parse_json(body)
        if isinstance(payload, _Response):
            return payload
        with self._lock:
            versions = self._secrets.get(name.lower(), [])
            indexes = [i for i, v in enumerate(versions) if not version or v.version == version]
            if not indexes:
                return _vault_error(404, "SecretNotFound", _NOT_FOUND_MESSAGE.format(name=name))
            index = indexes[-1]
            current = versions[index]
            attributes = payload.get("attributes") or {}
            updated = SecretVersion(
                name=current.name,
                version=current.version,
                value=current.value,
                content_type=payload.get("contentType", current.content_type),
                tags=MappingProxyType(dict(payload["tags"])) if payload.get("tags") is not None else current.tags,
                enabled=bool(attributes.get("enabled", current.enabled)),
                created=current.created,
                updated=int(time.time()),
                not_before=attributes.get("nbf", current.not_before),
                expires=attributes.get("exp", current.expires),
            )
            versions[index] = updated
        # An update answers with the attributes only, like the service (no value).
        return _json_response(200, self._item(updated, with_version=True))

    def _delete_secret(self, name: str) -> _Response:
        with self._lock:
            versions = self._secrets.pop(name.lower(), None)
        if not versions:
            return _vault_error(404, "SecretNotFound", _NOT_FOUND_MESSAGE.format(name=name))
        # No "recoveryId": behave like a vault without soft-delete, so the SDK's delete
        # poller is finished at once (see the module docstring).
        return _json_response(200, self._item(versions[-1], with_version=True))

    def _page_size(self, query: Mapping[str, str]) -> int | _Response:
        raw = query.get("maxresults")
        if raw is None or raw == "":
            return MAX_PAGE_SIZE
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= MAX_PAGE_SIZE:
            return _vault_error(
                400,
                "BadParameter",
                f"invalid maxresults '{raw}': must be between 1 and {MAX_PAGE_SIZE}.",
            )
        return size

    def _page(
        self,
        path: str,
        items: list[tuple[str, dict[str, Any]]],
        query: Mapping[str, str],
    ) -> _Response:
        """One page of ``items`` (sorted ``(key, item)`` pairs) after ``$skiptoken``.

        The skip token encodes the last key returned rather than an offset, so secrets added
        or removed between pages neither repeat nor vanish from the remaining pages.
        """
        size = self._page_size(query)
        if isinstance(size, _Response):
            return size
        after = ""
        token = query.get("$skiptoken")
        if token:
            try:
                after = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            except ValueError:
                return _vault_error(400, "BadParameter", "invalid $skiptoken.")
        remaining = [(key, item) for key, item in items if key > after]
        page = remaining[:size]
        next_link = None
        if len(remaining) > size:
            skip = base64.urlsafe_b64encode(page[-1][0].encode()).decode().rstrip("=")
            api_version = query.get("api-version", "")
            next_link = f"{self.url}{path}?api-version={api_version}&$skiptoken={skip}&maxresults={size}"
        return _json_response(200, {"value": [item for _, item in page], "nextLink": next_link})

    def _list_secrets(self, query: Mapping[str, str]) -> _Response:
        with self._lock:
            latest = [(key, versions[-1]) for key, versions in self._secrets.items() if versions]
        latest.sort(key=lambda pair: pair[0])
        items = [(key, self._item(v, with_version=False)) for key, v in latest]
        return self._page("/secrets", items, query)

    def _list_versions(self, name: str, query: Mapping[str, str]) -> _Response:
        with self._lock:
            versions = list(self._secrets.get(name.lower(), []))
        if not versions:
            return _vault_error(404, "SecretNotFound", _NOT_FOUND_MESSAGE.format(name=name))
        ordered = sorted(versions, key=lambda v: v.version)
        items = [(v.version, self._item(v, with_version=True)) for v in ordered]
        return self._page(f"/secrets/{versions[-1].name}/versions", items, query)
