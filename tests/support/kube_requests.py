"""Record the kubernetes client's HTTP requests (method and resource), in order, per thread.

Used to count what an operator or backend asks the real API server for: only requests made by
the recording thread are kept, so a kubelet stand-in serving pods from its own threads in the
same process is not counted.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_NAMESPACED = re.compile(r"^/api/v1/namespaces/[^/]+/(?P<resource>[a-z]+)(?P<name>/[^/?]+)?(?P<sub>/[a-z]+)?")


def describe(method: str, url: str) -> str:
    """``GET pods/<name>``, ``LIST secrets``, ``POST pods``... from a request URL."""
    path = re.sub(r"^https?://[^/]+", "", url).split("?", 1)[0]
    match = _NAMESPACED.match(path)
    if not match:
        return f"{method} {path}"
    resource = match["resource"] + (match["sub"] or "")
    if method == "GET" and not match["name"]:
        return f"LIST {resource}"
    return f"{method} {resource}{'/<name>' if match['name'] else ''}"


@contextmanager
def recording_requests() -> Iterator[list[str]]:
    """The requests this thread sends while active, described by :func:`describe`, in order."""
    from kubernetes.client import rest

    seen: list[str] = []
    me = threading.get_ident()
    original = rest.RESTClientObject.request

    def request(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == me:
            seen.append(describe(method, url))
        return original(self, method, url, *args, **kwargs)

    rest.RESTClientObject.request = request  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        rest.RESTClientObject.request = original  # type: ignore[method-assign]
