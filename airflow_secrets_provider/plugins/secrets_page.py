"""The plugin Airflow loads (entry point ``airflow.plugins``): the Secrets app and its nav entry.

Airflow 3.3 offers two UI extension points: ``react_apps`` (a JavaScript bundle the UI loads
into its own React tree) and ``external_views`` (a page the UI shows in an iframe under
``/plugin/<url_route>``, with an entry in its navigation). The page here is plain HTML and
JavaScript served by the plugin's own FastAPI app from the same origin, so an external view with
``url_route`` is the native fit: the UI's top-level navigation gets a "Secrets" button, the page
shows inside the UI (its header and menu stay), and the browser sends the UI's login cookie to
the page's API. No JavaScript build step is needed.

Airflow imports plugins in every process that loads them (the scheduler, the task runner for
macros and links), not only in the api-server; the FastAPI app and its imports (Airflow's API
security, the Kubernetes client) cost seconds there, so the app is built on its first request
(:class:`LazySecretsApp`). Importing this module does no network I/O and reads no secret.
"""

from __future__ import annotations

import threading
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_secrets_provider.plugins import URL_PREFIX

_ICON = (
    "data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24' fill='none' "
    "stroke='%23888' stroke-width='2'><rect x='4' y='11' width='16' height='10' rx='2'/>"
    "<path d='M8 11V7a4 4 0 0 1 8 0v4'/></svg>"
)


class LazySecretsApp:
    """An ASGI app that builds :func:`~airflow_secrets_provider.plugins.api.create_app` on first use."""

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    from airflow_secrets_provider.plugins.api import create_app

                    self._app = create_app()
        await self._app(scope, receive, send)


class SecretsPagePlugin(AirflowPlugin):
    """The "Secrets" page: projects' keys (never values), presets and the audit log."""

    name = "airflow_secrets_provider"
    fastapi_apps: list[Any] = [{"app": LazySecretsApp(), "url_prefix": URL_PREFIX, "name": "Secrets"}]
    external_views: list[Any] = [
        {
            "name": "Secrets",
            "href": f"{URL_PREFIX}/",
            "url_route": "secrets",
            "destination": "nav",
            "nav_top_level": True,
            "icon": _ICON,
        }
    ]
