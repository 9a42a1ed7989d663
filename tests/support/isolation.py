"""The isolation matrix: which paths from project alpha to project beta each layout closes.

One table, three users: ``tests/test_isolation.py`` measures every path against a real API server
with ServiceAccount tokens bound to the generated RBAC and asserts the verdicts equal
:data:`EXPECTED`; ``test_docs_state_the_measured_matrix`` asserts the table in docs/security.md is
:func:`markdown_table` of it, so the docs cannot claim more than the test showed.
"""

from __future__ import annotations

from dataclasses import dataclass

CLOSED, OPEN = "closed", "open"
PER_PROJECT, SHARED = "namespace-per-project", "shared-namespace"
LAYOUTS = (PER_PROJECT, SHARED)


@dataclass(frozen=True)
class Path:
    id: str
    description: str
    per_project: str
    shared: str

    def expected(self, layout: str) -> str:
        return self.per_project if layout == PER_PROJECT else self.shared


#: Every path the isolation audit found, plus the API reads that were already refused.
PATHS: tuple[Path, ...] = (
    Path("api-read", "alpha's launcher reads beta's Secrets through the API (get, list, watch)", CLOSED, CLOSED),
    Path(
        "mount-project-secret",
        "alpha's pods get beta's project Secret (env `secretKeyRef`, `envFrom`, secret volume, projected volume)",
        CLOSED,
        OPEN,
    ),
    Path("mount-task-secret", "alpha's pods get beta's per-task Secret (the same four forms)", CLOSED, OPEN),
    Path(
        "mount-azure-credentials",
        "alpha's pods get beta's `azure_vault` service principal (`k8s_secret`, the same four forms)",
        CLOSED,
        OPEN,
    ),
    Path("delete-secrets", "alpha's launcher deletes beta's project and per-task Secrets", CLOSED, OPEN),
    Path("delete-pods", "alpha's launcher deletes beta's pods", CLOSED, OPEN),
    Path(
        "plant-future-project",
        "alpha's launcher creates a managed Secret under a future project's name, where that "
        "project's tasks will read it",
        CLOSED,
        OPEN,
    ),
    Path("patch-pod-image", "alpha's launcher patches the image of beta's pending pod", CLOSED, OPEN),
    Path("exec", "alpha's launcher execs into beta's pods", CLOSED, OPEN),
    Path("logs", "alpha's launcher reads beta's pods' raw logs", CLOSED, OPEN),
    Path("viewer-logs", "a viewer (`rbac viewer`, the default role) reads any pod's raw log", CLOSED, CLOSED),
    Path(
        "viewer-raw-logs",
        "alpha's viewer with `--raw-logs` reads beta's pods' raw logs",
        CLOSED,
        OPEN,
    ),
)

EXPECTED: dict[str, dict[str, str]] = {layout: {path.id: path.expected(layout) for path in PATHS} for layout in LAYOUTS}

BEGIN_MARKER = "<!-- isolation-matrix:begin (generated from tests/support/isolation.py; checked by tests) -->"
END_MARKER = "<!-- isolation-matrix:end -->"


def markdown_table() -> str:
    """The isolation table of docs/security.md, between its markers."""
    lines = [
        "| path (project alpha → project beta) | one namespace per project | shared namespace |",
        "|---|---|---|",
    ]
    for path in PATHS:
        lines.append(f"| {path.description} | {path.per_project} | {path.shared} |")
    return "\n".join([BEGIN_MARKER, *lines, END_MARKER])
