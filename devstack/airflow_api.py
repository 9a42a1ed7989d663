"""A small client of Airflow 3's REST API: token, health, DAGs, runs, task logs.

Why not the ``apache-airflow-client`` package: the stack and its tests need six calls, and the
standard library's ``urllib`` keeps the dev stack free of another dependency. Authentication is
Airflow's own: a JWT from ``POST /auth/token`` (simple auth manager's user and password), sent
as a bearer token.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

FINISHED_RUN_STATES = ("success", "failed")


class ApiError(RuntimeError):
    """An HTTP error from the API server; the message holds the method, path and status."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path} -> HTTP {status}: {body[:500]}")
        self.status = status


class AirflowApi:
    """Talk to one API server as one user; the token is fetched on first use."""

    def __init__(self, base_url: str, username: str, password: str, *, timeout: float = 30) -> None:
        self.base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._token: str | None = None
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"AirflowApi({self.base_url!r}, user={self._username!r})"

    def _send(
        self, method: str, path: str, body: Any = None, *, auth: bool = True, accept: str = "application/json"
    ) -> str:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": accept}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return str(response.read().decode())
        except urllib.error.HTTPError as exc:
            raise ApiError(method, path, exc.code, exc.read().decode(errors="replace")) from None

    def token(self) -> str:
        """A JWT for this user from ``POST /auth/token`` (cached for the client's life)."""
        if self._token is None:
            answer = json.loads(
                self._send("POST", "/auth/token", {"username": self._username, "password": self._password}, auth=False)
            )
            self._token = str(answer["access_token"])
        return self._token

    def get(self, path: str, **params: Any) -> Any:
        query = f"?{urllib.parse.urlencode(params, doseq=True)}" if params else ""
        return json.loads(self._send("GET", path + query))

    def post(self, path: str, body: Any) -> Any:
        return json.loads(self._send("POST", path, body))

    def patch(self, path: str, body: Any) -> Any:
        return json.loads(self._send("PATCH", path, body))

    def delete(self, path: str) -> None:
        self._send("DELETE", path)

    def health(self) -> dict[str, Any]:
        """``/api/v2/monitor/health`` (no login needed): each component's status."""
        return dict(json.loads(self._send("GET", "/api/v2/monitor/health", auth=False)))

    def dag_ids(self) -> list[str]:
        return [dag["dag_id"] for dag in self.get("/api/v2/dags", limit=1000)["dags"]]

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v2/importErrors", limit=1000)["import_errors"])

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Create a manual run now; return its run id."""
        run = self.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.get(f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}")["state"])

    def wait_for_run(self, dag_id: str, run_id: str, *, timeout: float = 300) -> str:
        """Wait until the run is finished (bounded wait for a condition) and return its state."""
        deadline = time.monotonic() + timeout
        state = self.run_state(dag_id, run_id)
        while state not in FINISHED_RUN_STATES:
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {dag_id}/{run_id} still {state} after {timeout:.0f} s")
            time.sleep(2)
            state = self.run_state(dag_id, run_id)
        return state

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances"
        return list(self.get(path)["task_instances"])

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """A task try's whole log as text, as the UI shows it (each event's message and fields)."""
        run = urllib.parse.quote(run_id, safe="")
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run}/taskInstances/{task_id}/logs/{try_number}?full_content=true"
        answer = json.loads(self._send("GET", path))
        content = answer.get("content")
        if isinstance(content, str):
            return content
        return "\n".join(json.dumps(event) if not isinstance(event, str) else event for event in content or [])
