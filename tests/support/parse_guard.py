"""What a DAG file may not do while it is parsed: open a connection or read a secret.

Parsing happens in every Airflow process that loads DAG files (dag-processor, workers), often
with no cluster or vault reachable; a DAG file that opened a socket or looked a secret up while
being parsed would be slow, flaky and a leak risk. :func:`forbid_parse_time_io` turns any such
attempt into an error and records it, for the example DAGs (tests/test_example_dags.py) and the
documentation's examples (tests/test_docs_examples.py) alike.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest


class Forbidden(AssertionError):
    """A network call or secret read attempted while a DAG file was parsed."""


def forbid_parse_time_io(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No socket may connect or resolve, and no connection, variable or project secret may be read.

    Returns the list every attempt is appended to (by name), so a test can assert it stayed empty.
    """
    attempts: list[str] = []

    def forbid(what: str) -> Any:
        def raiser(*args: object, **kwargs: object) -> None:
            attempts.append(what)
            raise Forbidden(f"{what} while parsing a DAG file")

        return raiser

    monkeypatch.setattr(socket.socket, "connect", forbid("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", forbid("socket.connect_ex"))
    monkeypatch.setattr(socket, "getaddrinfo", forbid("socket.getaddrinfo"))
    monkeypatch.setattr(socket, "create_connection", forbid("socket.create_connection"))

    from airflow.sdk import BaseHook, Connection, Variable

    from airflow_secrets_provider.kube.projects import ProjectSecretsStore
    from airflow_secrets_provider.secrets.backend import ChainedSecretsBackend

    monkeypatch.setattr(BaseHook, "get_connection", forbid("BaseHook.get_connection"))
    monkeypatch.setattr(Variable, "get", forbid("Variable.get"))
    monkeypatch.setattr(Connection, "get", forbid("Connection.get"))
    for method in ("get_conn_value", "get_variable", "get_config"):
        monkeypatch.setattr(ChainedSecretsBackend, method, forbid(f"ChainedSecretsBackend.{method}"))
    for method in ("read_values", "read_project", "list_keys"):
        monkeypatch.setattr(ProjectSecretsStore, method, forbid(f"ProjectSecretsStore.{method}"))
    return attempts
