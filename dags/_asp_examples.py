"""Settings shared by the example DAGs (not a DAG; listed in .airflowignore).

Everything here is read from the environment when a DAG file is parsed: names, never secret
values, and no network. ``scripts/quickstart.sh`` sets them for its services; in your own
Airflow set them or edit the defaults.
"""

from __future__ import annotations

import os

#: The pods' image. The default suits a cluster that can pull from Docker Hub; the local stack
#: points it at an image built on the machine, hence ``IfNotPresent`` (never pull what is there).
IMAGE = os.environ.get("ASP_EXAMPLE_IMAGE", "python:3.12-slim")
PULL_POLICY = "IfNotPresent"
#: Where the example pods run and where the project Secret ``airflow-project-secrets-fraud`` lives.
NAMESPACE = os.environ.get("ASP_EXAMPLE_NAMESPACE", "ml")
PROJECT = "fraud"
TAGS = ["airflow-secrets-provider", "example"]

#: What the example containers run: proof that each secret arrived (a SHA-256 prefix and the
#: length), never the value. Arguments are env var names, or file paths (starting with "/").
PROOF = """
import hashlib, os, sys
for name in sys.argv[1:]:
    if name.startswith("/"):
        value = open(name).read() if os.path.exists(name) else None
    else:
        value = os.environ.get(name)
    if value is None:
        print(name, "not received")
    else:
        print(name, "received: sha256", hashlib.sha256(value.encode()).hexdigest()[:12], "length", len(value))
"""


def proof_command(*names: str) -> dict[str, list[str]]:
    """``cmds``/``arguments`` for a container that prints :data:`PROOF` for ``names``."""
    return {"cmds": ["python3", "-c", PROOF], "arguments": list(names)}
