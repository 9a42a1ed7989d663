"""The leak audit's edges: read every sink of a running stack into :class:`~tests.support.leak_search.Findings`.

One function per kind of sink. Each names its sinks ``<kind>:<what>`` (``db:xcom``,
``api:GET /api/v2/dags/{dag_id}``, ``k8s:pods``, ``file:logs/scheduler.log`` ...), counts the
items it searched per sink, and leaves the verdict to the test. Nothing here knows which
canary may be where.
"""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tests.support.leak_search import Fernetish, Findings

# ----------------------------------------------------------------------------- metadata DB


def scan_sqlite(
    findings: Findings, db_path: Path, fernet: Fernetish, *, only: set[str] | None = None, suffix: str = ""
) -> None:
    """Every cell of every table (or of the tables ``only`` names), decoded, read-only.

    Cells are searched as stored and decompressed, unpickled or Fernet-decrypted. Sinks are
    ``db:<table><suffix>``.
    """
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in sorted(t for t in tables if only is None or t in only):
            sink = f"db:{table}{suffix}"
            findings.searched[sink] += 0  # an empty table was still searched
            cursor = connection.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cursor.description]
            for number, row in enumerate(cursor):
                findings.searched[sink] += 1
                findings.figures["db rows"] += 1
                for column, cell in zip(columns, row, strict=True):
                    if isinstance(cell, str | bytes):
                        findings.search(sink, f"{table}.{column} row {number}", cell, fernet=fernet, count=False)
    finally:
        connection.close()


# ----------------------------------------------------------------------------- REST API


class HttpClient:
    """GET with a bearer token; every answer (any status) is returned, never raised."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 60) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def get(self, path: str, *, accept: str = "application/json", auth: bool = True) -> tuple[int, bytes]:
        headers = {"Accept": accept}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.base_url + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), bytes(exc.read())


def _path_params(path: str) -> list[str]:
    return re.findall(r"{(\w+)}", path)


def _fill(path: str, values: Mapping[str, Any]) -> str:
    return re.sub(r"{(\w+)}", lambda m: urllib.parse.quote(str(values[m.group(1)]), safe=""), path)


#: Where a list endpoint's items say the id a detail endpoint takes: param -> (list key, item field).
HARVEST = {
    "import_error_id": ("import_errors", "import_error_id"),
    "event_log_id": ("event_logs", "event_log_id"),
    "connection_id": ("connections", "connection_id"),
    "variable_key": ("variables", "key"),
    "pool_name": ("pools", "name"),
    "xcom_key": ("xcom_entries", "key"),
    "backfill_id": ("backfills", "id"),
    "asset_id": ("assets", "id"),
    "asset_alias_id": ("asset_aliases", "id"),
    "version_number": ("dag_versions", "version_number"),
}
#: Detail ids per parameter requested one by one (their content is in the searched list already).
MAX_IDS_PER_PARAM = 25
MAX_PAGES = 40


def crawl_api(
    findings: Findings,
    client: HttpClient,
    spec: Mapping[str, Any],
    seeds: Mapping[str, Iterable[Any]],
    *,
    prefixes: tuple[str, ...] = ("/api/v2/", "/ui/"),
    skip: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """GET every path of ``spec`` under ``prefixes``, with every combination of ``seeds``.

    Path parameters come from ``seeds`` (the audit's DAGs, runs, tasks, tries) and from list
    endpoints' answers (:data:`HARVEST`); required query parameters from ``seeds`` too. Lists are
    paged to the end. Returns the paths not requested, each with the reason.
    """
    skip = dict(skip or {})
    values: dict[str, list[Any]] = {name: list(v) for name, v in seeds.items()}
    not_requested: dict[str, str] = {}
    gets = {
        path: item["get"]
        for path, item in spec["paths"].items()
        if "get" in item and path.startswith(prefixes) and path not in skip
    }
    not_requested.update(skip)
    # Lists first (no path parameter, or only seeded ones), so harvested ids exist for details.
    order = sorted(gets, key=lambda p: (any(param in HARVEST for param in _path_params(p)), p))
    for path in order:
        operation = gets[path]
        params = _path_params(path)
        missing = [p for p in params if not values.get(p)]
        if missing:
            not_requested[path] = f"no object to name for {', '.join(missing)}"
            continue
        query_names = {q["name"] for q in operation.get("parameters", []) if q.get("in") == "query"}
        required_query = [
            q["name"] for q in operation.get("parameters", []) if q.get("in") == "query" and q.get("required")
        ]
        unfilled = [q for q in required_query if not values.get(q)]
        if unfilled:
            not_requested[path] = f"required query parameter(s) without a value: {', '.join(unfilled)}"
            continue
        choices = [values[p][:MAX_IDS_PER_PARAM] if p in HARVEST else values[p] for p in params]
        for combination in itertools.product(*choices):
            filled = _fill(path, dict(zip(params, combination, strict=True)))
            query: dict[str, Any] = {q: values[q][0] for q in required_query}
            if "full_content" in query_names:
                query["full_content"] = "true"
            _get_all_pages(findings, client, f"api:GET {path}", filled, query, paged="offset" in query_names)
        for param, harvested in findings.harvested.items():
            known = values.setdefault(param, [])
            known.extend(v for v in harvested if v not in known)
    return not_requested


def _get_all_pages(
    findings: Findings, client: HttpClient, sink: str, path: str, query: dict[str, Any], *, paged: bool
) -> None:
    offset = 0
    for _ in range(MAX_PAGES):
        page_query = {**query, "limit": 100, "offset": offset} if paged else query
        url = path + ("?" + urllib.parse.urlencode(page_query) if page_query else "")
        status, body = client.get(url)
        findings.search(sink, url, body)
        findings.figures["api requests"] += 1
        findings.figures[f"api status {status}"] += 1
        _harvest(findings, body)
        if not paged or status != 200:
            return
        try:
            answer = json.loads(body)
        except ValueError:
            return
        total = answer.get("total_entries") if isinstance(answer, dict) else None
        offset += 100
        if not isinstance(total, int) or offset >= total:
            return


def _harvest(findings: Findings, body: bytes) -> None:
    try:
        answer = json.loads(body)
    except ValueError:
        return
    if not isinstance(answer, dict):
        return
    seen = findings.harvested
    for param, (list_key, item_field) in HARVEST.items():
        for item in answer.get(list_key) or []:
            if isinstance(item, dict) and item.get(item_field) is not None:
                value = item[item_field]
                if value not in seen.setdefault(param, []):
                    seen[param].append(value)


# ----------------------------------------------------------------------------- UI assets


def fetch_ui_assets(findings: Findings, client: HttpClient, *, max_assets: int = 400) -> None:
    """The UI's index page and every static asset it (transitively) references."""
    pending = ["/"]
    done: set[str] = set()
    while pending and len(done) < max_assets:
        path = pending.pop()
        if path in done:
            continue
        done.add(path)
        status, body = client.get(path, accept="*/*", auth=False)
        findings.search("ui:assets", path, body)
        findings.figures["ui asset requests"] += 1
        if status != 200 or not path.endswith(("/", ".js", ".css", ".html")):
            continue
        for ref in re.findall(rb"(?:\./)?(static/[\w./-]+\.(?:js|css|json|svg|png|html))", body):
            pending.append("/" + ref.decode())
        for ref in re.findall(rb"[\"'](?:\./)?([\w-]+\.(?:js|css))[\"']", body):
            if path.startswith("/static/assets/"):
                pending.append("/static/assets/" + ref.decode())


# ----------------------------------------------------------------------------- files


def scan_tree(findings: Findings, sink_prefix: str, root: Path, *, relative_to: Path | None = None) -> None:
    """Every regular file under ``root`` (one sink per file, named by its path)."""
    base = relative_to or root
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        findings.search(f"{sink_prefix}:{path.relative_to(base)}", str(path), path.read_bytes())
        findings.figures["files"] += 1


# ----------------------------------------------------------------------------- Kubernetes


def kube_get(api_client: Any, path: str) -> bytes:
    response = api_client.call_api(
        path, "GET", auth_settings=["BearerToken"], _preload_content=False, _request_timeout=60
    )
    return bytes(response.data)


def list_paths(api_client: Any) -> list[tuple[str, str]]:
    """``(resource, list path)`` of every listable top-level resource the API server serves."""
    group_versions = ["/api/v1"]
    groups = json.loads(kube_get(api_client, "/apis"))["groups"]
    group_versions += [f"/apis/{g['preferredVersion']['groupVersion']}" for g in groups]
    found = []
    for gv in group_versions:
        for resource in json.loads(kube_get(api_client, gv))["resources"]:
            if "/" not in resource["name"] and "list" in resource.get("verbs", []):
                version = gv.removeprefix("/apis/").removeprefix("/api/")
                found.append((f"{version}/{resource['name']}", f"{gv}/{resource['name']}"))
    return found


def scan_kube(findings: Findings, api_client: Any) -> None:
    """Every object of every listable resource in every namespace; Secrets without ``data``."""
    for resource, path in list_paths(api_client):
        sink = f"k8s:{resource}"
        findings.searched[sink] += 0
        answer = json.loads(kube_get(api_client, path))
        findings.figures["k8s list requests"] += 1
        for item in answer.get("items", []):
            metadata = item.get("metadata", {})
            where = f"{resource} {metadata.get('namespace', '')}/{metadata.get('name')}"
            if resource == "v1/secrets":
                # Secrets are where values belong: only their data is left out, not their metadata.
                item = {k: v for k, v in item.items() if k not in ("data", "stringData")}
            findings.search(sink, where, json.dumps(item))
            findings.figures["k8s objects"] += 1


# ----------------------------------------------------------------------------- CLI


def run_cli(
    findings: Findings, sink: str, args: list[str], env: Mapping[str, str], *, timeout: float = 300
) -> tuple[int, str]:
    """Run a command; search its stdout and stderr; return its exit code and its output, canaries blanked."""
    result = subprocess.run(
        args, env=dict(env), stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
    )
    output = result.stdout + b"\n" + result.stderr
    findings.search(f"cli:{sink}", " ".join(args[:4]), output)
    findings.figures["cli commands"] += 1
    return result.returncode, findings.blank(output)
