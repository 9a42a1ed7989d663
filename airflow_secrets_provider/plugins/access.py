"""Who may use the Secrets page: Airflow's auth manager decides, not a login of our own.

The mapping (the same for every auth manager; what each role gets under the Simple auth manager
in brackets):

* **authenticated**: every endpoint, the page itself included, needs an Airflow user (a JWT in
  the ``Authorization: Bearer`` header or the UI's ``_token`` cookie); otherwise 401. A plugin's
  FastAPI app is not protected by Airflow on its own, so each route depends on
  :func:`require_reader` or :func:`require_editor`.
* **read** (projects, key names and times, presets, audit entries): the auth manager's custom
  view ``Secrets`` with ``GET`` (:data:`RESOURCE_NAME`) [viewer and above], **or** Connections
  with ``GET`` [op and admin]. Why the second: the FAB auth manager grants a custom view only
  through a permission ("can read on Secrets") that nothing creates, so without it not even
  FAB's Admin could open the page; whoever may read Airflow's Connections may see key names.
* **edit** (set or delete a key): read access **and** the auth manager's Connections access for
  the same method (``PUT`` to set, ``DELETE`` to delete): changing a credential is the power to
  edit Airflow Connections [op and admin]. Otherwise 403.
"""

from __future__ import annotations

from typing import Literal

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import HTTPException, status

RESOURCE_NAME = "Secrets"
EditMethod = Literal["PUT", "DELETE"]


def can_read(user: BaseUser) -> bool:
    manager = get_auth_manager()
    return bool(
        manager.is_authorized_custom_view(method="GET", resource_name=RESOURCE_NAME, user=user)
        or manager.is_authorized_connection(method="GET", user=user)
    )


def can_edit(user: BaseUser, method: EditMethod) -> bool:
    return can_read(user) and bool(get_auth_manager().is_authorized_connection(method=method, user=user))


def require_reader(user: GetUserDep) -> BaseUser:
    """FastAPI dependency: an authenticated user (401 from ``get_user``) with read access (403)."""
    if not can_read(user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden: no read access to Secrets")
    return user


def require_setter(user: GetUserDep) -> BaseUser:
    return _require_edit(user, "PUT")


def require_deleter(user: GetUserDep) -> BaseUser:
    return _require_edit(user, "DELETE")


def _require_edit(user: BaseUser, method: EditMethod) -> BaseUser:
    if not can_edit(user, method):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden: no edit access to Secrets")
    return user


def actor(user: BaseUser) -> str:
    """The audit log's actor for a change made in the UI: the Airflow user's name."""
    return f"{user.get_name()} (Airflow UI)"
