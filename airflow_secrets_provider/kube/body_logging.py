"""Keep Secret data out of the Kubernetes client's DEBUG log.

``kubernetes.client.rest`` logs every response body at DEBUG. For a Secret that body holds the
data, base64-encoded, which Airflow's masker cannot recognise (it knows plaintext values), so
anyone debugging with ``logging.DEBUG`` would write every project secret this package reads to
the task log. The filter below replaces such bodies with a placeholder and leaves every other
record alone, for this package's calls and KubernetesPodOperator's alike.
"""

from __future__ import annotations

import logging
import re

KUBE_REST_LOGGER = "kubernetes.client.rest"
WITHHELD = "<Secret body withheld by airflow-secrets-provider>"

# ``"kind":"Secret"`` / ``"kind": "SecretList"`` in the JSON the API server returns.
_SECRET_BODY_RE = re.compile(rb'"kind"\s*:\s*"Secret(List)?"')


class SecretBodyFilter(logging.Filter):
    """Withholds the body of any logged response that is a Secret or a list of them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.args or not isinstance(record.args, tuple):
            return True
        withheld = False
        args: list[object] = []
        for arg in record.args:
            body = arg.encode("utf-8", "replace") if isinstance(arg, str) else arg
            if isinstance(body, (bytes, bytearray)) and _SECRET_BODY_RE.search(body):
                args.append(WITHHELD)
                withheld = True
            else:
                args.append(arg)
        if withheld:
            record.args = tuple(args)
        return True


def withhold_secret_bodies() -> None:
    """Install the filter on the client's REST logger, once per process."""
    logger = logging.getLogger(KUBE_REST_LOGGER)
    if not any(isinstance(f, SecretBodyFilter) for f in logger.filters):
        logger.addFilter(SecretBodyFilter())
