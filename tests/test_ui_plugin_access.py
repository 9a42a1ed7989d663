"""The Secrets page's access rules (:mod:`airflow_secrets_provider.plugins.access`) as pure decisions.

The auth manager here is a TEST DOUBLE that answers as Airflow's FAB auth manager does for its
built-in roles (the FAB provider is not installed in the test venv; the real one is exercised in
the ``compose`` tier, tests/test_compose.py): FAB grants a custom view only through a permission
("can read on Secrets") that no role holds, because nothing creates it, while Connections access
follows the role (Admin and Op: all methods; User and Viewer: none).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from fastapi import HTTPException

from airflow_secrets_provider.plugins import access


@dataclass
class FabLikeUser:
    name: str
    permissions: set[tuple[str, str]] = field(default_factory=set)

    def get_name(self) -> str:
        return self.name


FAB_ACTIONS = {"GET": "can_read", "PUT": "can_edit", "POST": "can_create", "DELETE": "can_delete"}
CONNECTIONS = {(action, "Connections") for action in FAB_ACTIONS.values()}


class FabLikeAuthManager:
    """TEST DOUBLE of FabAuthManager's two checks the page makes: (action, resource) in the user's perms."""

    def is_authorized_custom_view(self, *, method: str, resource_name: str, user: FabLikeUser) -> bool:
        return (FAB_ACTIONS.get(method, method), resource_name) in user.permissions

    def is_authorized_connection(self, *, method: str, user: FabLikeUser) -> bool:
        return (FAB_ACTIONS[method], "Connections") in user.permissions


@pytest.fixture(autouse=True)
def fab_like(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(access, "get_auth_manager", FabLikeAuthManager)


def test_fab_admin_without_a_secrets_permission_reads_and_edits() -> None:
    """The bug FAB showed: the check named only the custom view, so FAB's Admin got 403."""
    admin = FabLikeUser("admin", CONNECTIONS)
    assert access.require_reader(admin) is admin  # type: ignore[arg-type]
    assert access.require_setter(admin) is admin  # type: ignore[arg-type]
    assert access.require_deleter(admin) is admin  # type: ignore[arg-type]


@pytest.mark.parametrize("dependency", [access.require_reader, access.require_setter, access.require_deleter])
def test_fab_viewer_is_refused_everything(dependency: object) -> None:
    viewer = FabLikeUser("viewer", {("can_read", "DAGs")})
    with pytest.raises(HTTPException) as raised:
        dependency(viewer)  # type: ignore[operator]
    assert raised.value.status_code == 403


def test_a_role_granted_can_read_on_secrets_reads_but_does_not_edit() -> None:
    reader = FabLikeUser("reader", {("can_read", "Secrets")})
    assert access.can_read(reader)  # type: ignore[arg-type]
    assert not access.can_edit(reader, "PUT") and not access.can_edit(reader, "DELETE")  # type: ignore[arg-type]


def test_connection_edit_without_read_edits_nothing() -> None:
    """Edit needs read too: a role with only Connections edit/delete still gets 403."""
    editor = FabLikeUser("editor", {("can_edit", "Connections"), ("can_delete", "Connections")})
    assert not access.can_read(editor)  # type: ignore[arg-type]
    assert not access.can_edit(editor, "PUT") and not access.can_edit(editor, "DELETE")  # type: ignore[arg-type]
