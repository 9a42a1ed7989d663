"""The Secrets page's FastAPI app: the page itself and a small JSON API behind it.

Every route requires an Airflow user (see :mod:`.access`); every change goes through
:class:`~airflow_secrets_provider.kube.projects.ProjectSecretsStore` (the CLI's input checks, one
read-modify-write, the audit Event with the Airflow user as actor). Responses carry names,
counts, times and actors only: a value travels from the browser to the API server and never
back, not even after a write. Errors are one line naming the field, never the value (the
package's own messages), with nothing written.

Routes (under the plugin's prefix, ``/secrets-provider``)::

    GET    /                                   the page (HTML; shown in the UI in an iframe)
    GET    /static/{file}                      its script and stylesheet
    GET    /api/me                             the user, the namespace, what the user may do
    GET    /api/projects                       projects and their key counts
    GET    /api/projects/{project}/keys        a project's keys and when each was last set
    PUT    /api/projects/{project}/keys/{key}  body {"value": "..."}: add or change a key
    DELETE /api/projects/{project}/keys/{key}  remove a key (the last one removes the Secret)
    GET    /api/presets                        presets: name, description, selector, origin
    GET    /api/history?project=&limit=        recent audit entries, newest first
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Annotated, Any

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from airflow_secrets_provider.core.errors import (
    SecretConfigError,
    SecretNotFoundError,
    SecretsProviderError,
    drops_original_error,
)
from airflow_secrets_provider.core.validation import check_label_name
from airflow_secrets_provider.kube.audit import history
from airflow_secrets_provider.kube.layout import configured_namespace_template
from airflow_secrets_provider.kube.projects import ProjectSecretsStore
from airflow_secrets_provider.plugins import access
from airflow_secrets_provider.plugins.cluster import connect, project_namespaces
from airflow_secrets_provider.pod_spec.presets import Preset, all_presets, configured_presets_file

MAX_BODY_BYTES = 2 * 1024 * 1024  # the 1 MiB Secret limit, JSON-escaped, plus room
HISTORY_LIMIT = 50
STATIC_FILES = {"secrets.js": "text/javascript", "secrets.css": "text/css"}
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_PAGE_HEADERS = {
    **_NO_STORE,
    # Only its own script and stylesheet, no inline code, framed only by the Airflow UI (same origin).
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    ),
}

Reader = Annotated[BaseUser, Depends(access.require_reader)]
Setter = Annotated[BaseUser, Depends(access.require_setter)]
Deleter = Annotated[BaseUser, Depends(access.require_deleter)]


def create_app() -> FastAPI:
    """The app the plugin mounts at :data:`URL_PREFIX` (no docs pages: they would need no login)."""
    app = FastAPI(title="Secrets", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_exception_handler(SecretsProviderError, _provider_error)

    @app.get("/", response_class=HTMLResponse)
    def page(user: Reader) -> HTMLResponse:
        return HTMLResponse(_static("secrets.html"), headers=_PAGE_HEADERS)

    @app.get("/static/{name}")
    def static(name: str, user: Reader) -> Response:
        if name not in STATIC_FILES:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "Not found")
        return Response(_static(name), media_type=STATIC_FILES[name], headers=_NO_STORE)

    @app.get("/api/me")
    def me(user: Reader) -> JSONResponse:
        _, namespace = connect()
        return _json(
            {
                "user": user.get_name(),
                "namespace": namespace,
                "project_namespace": configured_namespace_template(),
                "can_set": access.can_edit(user, "PUT"),
                "can_delete": access.can_edit(user, "DELETE"),
            }
        )

    @app.get("/api/projects")
    def projects(user: Reader) -> JSONResponse:
        hook, namespace = connect()
        spread = project_namespaces(hook)
        found: list[dict[str, Any]] = []
        if spread is None:  # one shared namespace
            counts = ProjectSecretsStore(hook, namespace).projects()
            found = [{"project": p, "keys": n, "namespace": namespace} for p, n in counts.items()]
        else:  # each project in its own namespace: its Secret there, if it has one (read by name, no list)
            for project, project_ns in spread.items():
                count = ProjectSecretsStore(hook, project_ns).key_count(project)
                if count is not None:
                    found.append({"project": project, "keys": count, "namespace": project_ns})
        return _json({"namespace": namespace, "projects": found})

    @app.get("/api/projects/{project}/keys")
    def keys(project: str, user: Reader) -> JSONResponse:
        store = _store(user, project)
        times = store.key_times(project)
        return _json(
            {
                "project": project,
                "namespace": store.namespace,
                "keys": [{"key": k, "updated": t} for k, t in times.items()],
            }
        )

    @app.put("/api/projects/{project}/keys/{key}")
    async def set_key(project: str, key: str, request: Request, user: Setter) -> JSONResponse:
        value = _value_from_body(_parse_json(await _read_body(request)))
        store = await run_in_threadpool(_store, user, project)
        all_keys = await run_in_threadpool(store.set_secrets, project, {key: value})
        del value  # nothing below may see it
        return _json(
            {"project": project, "namespace": store.namespace, "set": key, "keys": all_keys, **_warnings(store)}
        )

    @app.delete("/api/projects/{project}/keys/{key}")
    def delete_key(project: str, key: str, user: Deleter) -> JSONResponse:
        store = _store(user, project)
        left = store.delete_keys(project, [key])
        return _json(
            {"project": project, "namespace": store.namespace, "deleted": key, "keys": left, **_warnings(store)}
        )

    @app.get("/api/presets")
    def presets(user: Reader) -> JSONResponse:
        hook, namespace = connect()
        found = all_presets(hook, namespace, configured_presets_file())
        return _json({"namespace": namespace, "presets": [_preset_summary(p) for p in found]})

    @app.get("/api/history")
    def recent(
        user: Reader,
        project: Annotated[str | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = HISTORY_LIMIT,
    ) -> JSONResponse:
        if project:
            check_label_name(project, "project")
        hook, namespace = connect(project or None)
        spread = None if project else project_namespaces(hook)
        namespaces = sorted({namespace, *(spread or {}).values()})
        records = sorted(
            (r for ns in namespaces for r in history(hook, ns, project=project or None)), key=lambda r: r.time
        )
        newest = [record.as_dict() for record in reversed(records[-limit:])]
        return _json({"namespace": namespace, "entries": newest})

    return app


def _store(user: BaseUser, project: str) -> ProjectSecretsStore:
    check_label_name(project, "project", "kubernetes")  # before deriving a namespace from it
    hook, namespace = connect(project)
    return ProjectSecretsStore(hook, namespace, actor=access.actor(user))


def _warnings(store: ProjectSecretsStore) -> dict[str, Any]:
    """An audit Event that could not be written: the change stands, the page says so."""
    return {"warnings": list(store.audit.failures)} if store.audit.failures else {}


async def _read_body(request: Request) -> bytes:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        # Also what keeps a cross-site HTML form from posting with the user's cookie.
        raise SecretConfigError("body", "must be JSON (Content-Type: application/json)")
    raw = bytearray()
    async for chunk in request.stream():  # stop reading at the limit, not after the whole body
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise SecretConfigError("body", f"is larger than {MAX_BODY_BYTES} bytes")
    return bytes(raw)


@drops_original_error
def _parse_json(raw: bytes) -> object:
    # drops_original_error: a JSONDecodeError keeps the whole document (the value) in its context.
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise SecretConfigError("body", "is not valid JSON") from None


def _value_from_body(body: object) -> str:
    if not isinstance(body, dict):
        raise SecretConfigError("body", 'must be a JSON object {"value": "..."}')
    unknown = sorted(set(body) - {"value"})
    if unknown:
        raise SecretConfigError("body", f"unknown field {unknown[0]!r} (only 'value')")
    if "value" not in body:
        raise SecretConfigError("value", "is required")
    value = body["value"]
    if not isinstance(value, str):
        raise SecretConfigError("value", f"must be a string, got {type(value).__name__}")
    return value


def _preset_summary(preset: Preset) -> dict[str, Any]:
    """What the page shows of a preset: who it is for and what it adds, by name (no literal values)."""
    return {
        "name": preset.name,
        "description": preset.description,
        "selector": preset.selector.as_dict(),
        "origin": preset.origin,
        "env": [entry.name for entry in preset.env],
        "volumes": [entry.name for entry in preset.volumes],
        "mounts": [entry.mount_path for entry in preset.volume_mounts],
        "image_pull_secrets": [entry.name for entry in preset.image_pull_secrets],
    }


def _provider_error(request: Request, exc: Exception) -> JSONResponse:
    """The package's errors, one line naming the field (never a value), as the CLI prints them."""
    field = getattr(exc, "field", None)
    if isinstance(exc, SecretConfigError):
        code = status.HTTP_400_BAD_REQUEST
    elif isinstance(exc, SecretNotFoundError):
        code = status.HTTP_404_NOT_FOUND
    else:
        # Kubernetes refused or failed (KubernetesAccessError: the api-server's identity lacks
        # the RBAC for this): a gateway error, not the user's input.
        code = status.HTTP_502_BAD_GATEWAY
    return _json({"detail": str(exc).splitlines()[0], "field": field}, code)


def _json(data: object, code: int = status.HTTP_200_OK) -> JSONResponse:
    return JSONResponse(data, status_code=code, headers=_NO_STORE)


def _static(name: str) -> str:
    return resources.files("airflow_secrets_provider.plugins").joinpath("static", name).read_text(encoding="utf-8")
