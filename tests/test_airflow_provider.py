"""The ``airflow`` provider: Airflow connections and variables into the per-task Secret.

Parsing is pure (no lookup while a DAG is parsed). Resolving goes through the real Task SDK's
``Connection.get`` / ``Variable.get``; outside a supervised task their search path is the
configured secrets backends and Airflow's ``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*`` environment
variables, which is what these tests use (the metadata DB and ``ChainedSecretsBackend`` are
proven on the real node in tests/test_pods.py).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from airflow.sdk.bases.secrets_backend import BaseSecretsBackend

from airflow_secrets_provider import SecretConfigError, SecretNotFoundError, with_secrets
from airflow_secrets_provider.core.model import AttachTarget, ResolveContext, SecretKeyEnv
from airflow_secrets_provider.operators.resolve import resolve_values
from airflow_secrets_provider.providers.airflow import AirflowSecrets, ConnRef, VarRef
from tests.support.canaries import canary

CTX = ResolveContext(environ={}, namespace="ns", task_id="use_db")


def connection_json(password: str, **extra_fields: Any) -> str:
    conn = {
        "conn_type": "postgres",
        "host": "db.example.internal",
        "port": 5432,
        "login": "app",
        "password": password,
        "schema": "appdb",
        **extra_fields,
    }
    return json.dumps(conn)


@pytest.fixture
def demo_conn(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Connection ``demo_db`` and variables in Airflow's environment-variable backend."""
    values = {name: canary(f"airflow-{name}") for name in ("password", "token", "region", "api_key")}
    extra = json.dumps({"sslmode": "require", "api-key": values["api_key"], "timeout": 30})
    monkeypatch.setenv("AIRFLOW_CONN_DEMO_DB", connection_json(values["password"], extra=extra))
    monkeypatch.setenv("AIRFLOW_VAR_DEMO_API_TOKEN", values["token"])
    monkeypatch.setenv("AIRFLOW_VAR_SETTINGS", json.dumps({"cloud": {"region": values["region"]}, "zones": ["a", 7]}))
    monkeypatch.setenv("AIRFLOW_CONN_BAD_EXTRA", connection_json(canary("airflow"), extra="not json {"))
    monkeypatch.setenv("AIRFLOW_CONN_BARE", json.dumps({"conn_type": "http", "host": "api.internal"}))
    return values


def resolve(source: object) -> dict[str, str]:
    request = with_secrets("airflow", source)
    assert isinstance(request, AirflowSecrets)
    return dict(request.resolve(CTX))


# -- parsing: names only -------------------------------------------------------------------------


def test_the_issue_syntax_parses_without_any_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow.sdk

    def no_lookup(*args: object, **kwargs: object) -> None:
        raise AssertionError("looked up while parsing")

    monkeypatch.setattr(airflow.sdk.Connection, "get", no_lookup)
    monkeypatch.setattr(airflow.sdk.Variable, "get", no_lookup)
    request = with_secrets(
        "airflow",
        {"DB_PASSWORD": "conn:demo_db.password", "DB_URI": "conn:demo_db", "API_TOKEN": "var:demo_api_token"},
    )
    assert isinstance(request, AirflowSecrets)
    assert request.refs == (
        ConnRef("DB_PASSWORD", "demo_db", "password"),
        ConnRef("DB_URI", "demo_db", "uri"),
        VarRef("API_TOKEN", "demo_api_token"),
    )
    assert request.env_names() == ("DB_PASSWORD", "DB_URI", "API_TOKEN")


def test_reference_forms() -> None:
    request = with_secrets(
        "airflow",
        {
            "A": "conn:my.dotted.id.host",
            "B": "conn:demo_db.extra.api-key",
            "C": "conn:x.host.uri",  # an id ending in a field name: spell the field out
            "D": {"conn": "odd.id", "field": "extra"},
            "E": {"var": "settings", "deserialize_json": True, "path": "cloud.region"},
            "F": {"var": "settings", "deserialize_json": True, "path": ["zones", 1]},
            "G": "var:team.settings",  # dotted variable keys are plain keys
            "DB": "conn:demo_db.*",
        },
    )
    assert isinstance(request, AirflowSecrets)
    assert request.refs == (
        ConnRef("A", "my.dotted.id", "host"),
        ConnRef("B", "demo_db", None, "api-key"),
        ConnRef("C", "x.host", "uri"),
        ConnRef("D", "odd.id", "extra"),
        VarRef("E", "settings", True, ("cloud", "region")),
        VarRef("F", "settings", True, ("zones", "1")),
        VarRef("G", "team.settings"),
        ConnRef("DB", "demo_db", "*"),
    )
    assert request.env_names() is None  # a whole connection's names are known on the worker


def test_the_pod_spec_references_the_task_secret_by_env_name() -> None:
    request = with_secrets("airflow", {"DB_PASSWORD": "conn:demo_db.password", "T": "var:t"})
    target = AttachTarget(task_secret="pod-secrets")
    assert request.attachments(target, 0) == [
        SecretKeyEnv("DB_PASSWORD", "pod-secrets", "DB_PASSWORD"),
        SecretKeyEnv("T", "pod-secrets", "T"),
    ]


@pytest.mark.parametrize(
    ("source", "field", "message"),
    [
        ("conn:x.password", "source", "dict of env var name"),
        ({}, "source", "at least one"),
        ({"1BAD": "conn:x"}, "source key", "not a valid environment variable name"),
        ({"A": "x.password"}, "source['A']", "must be 'conn:"),
        ({"A": "conn:"}, "source['A']", "must be 'conn:"),
        ({"A": "secret:x"}, "source['A']", "must be 'conn:"),
        ({"A": 3}, "source['A']", "string or a dict"),
        ({"A": "conn:x.extra."}, "source['A']", "valid connection id"),
        ({"A": {"conn": "x", "field": "passwd"}}, "source['A']", "unknown connection field 'passwd'"),
        ({"A": {"conn": "x", "var": "y"}}, "source['A']", "exactly one"),
        ({"A": {"var": "y", "path": "a"}}, "source['A']", "needs 'deserialize_json'"),
        ({"A": {"var": "y", "deserialize_json": "yes"}}, "source['A']", "True or False"),
        ({"A": {"var": "y", "typo": 1}}, "source['A']", "unknown option(s) ['typo']"),
        ({"A": "conn:bad id.password"}, "source['A']", "not a valid connection id"),
        ({"A": "var:k=v"}, "source['A']", "not a valid variable key"),
    ],
)
def test_bad_input_names_the_field(source: object, field: str, message: str) -> None:
    with pytest.raises(SecretConfigError) as info:
        with_secrets("airflow", source)
    assert info.value.field == field
    assert info.value.provider == "airflow"
    assert message in str(info.value)


def test_an_id_that_may_hold_a_value_is_described_not_quoted() -> None:
    value = canary("airflow")
    with pytest.raises(SecretConfigError) as info:
        with_secrets("airflow", {"A": f"var:token={value}"})
    assert value not in str(info.value)


def test_describe_and_repr_hold_names_only() -> None:
    request = with_secrets("airflow", {"P": "conn:demo_db.password"})
    assert request.describe() == {
        "kind": "airflow",
        "refs": [{"env": "P", "conn_id": "demo_db", "field": "password", "extra_key": None}],
    }


def test_ids_are_templates_rendered_before_the_lookup() -> None:
    request = with_secrets("airflow", {"P": "conn:{{ params.db }}.password", "T": "var:{{ params.v }}"})
    assert isinstance(request, AirflowSecrets)
    rendered = request.render(lambda text: text.replace("{{ params.db }}", "demo_db").replace("{{ params.v }}", "t"))
    assert rendered.refs == (ConnRef("P", "demo_db", "password"), VarRef("T", "t"))


# -- resolving through Airflow -------------------------------------------------------------------


def test_every_field_of_a_connection(demo_conn: dict[str, str]) -> None:
    from airflow.sdk import Connection

    uri = Connection.get("demo_db").get_uri()
    assert quote(demo_conn["password"], safe="") in uri
    got = resolve(
        {
            "H": "conn:demo_db.host",
            "PORT": "conn:demo_db.port",
            "L": "conn:demo_db.login",
            "P": "conn:demo_db.password",
            "S": "conn:demo_db.schema",
            "U": "conn:demo_db.uri",
            "BARE": "conn:demo_db",
            "X": "conn:demo_db.extra",
            "K": "conn:demo_db.extra.api-key",
            "N": "conn:demo_db.extra.timeout",
        }
    )
    assert got == {
        "H": "db.example.internal",
        "PORT": "5432",
        "L": "app",
        "P": demo_conn["password"],
        "S": "appdb",
        "U": uri,
        "BARE": uri,
        "X": json.dumps({"sslmode": "require", "api-key": demo_conn["api_key"], "timeout": 30}),
        "K": demo_conn["api_key"],
        "N": "30",
    }


def test_a_whole_connection_under_a_prefix(demo_conn: dict[str, str]) -> None:
    from airflow.sdk import Connection

    assert resolve({"DB": "conn:demo_db.*"}) == {
        "DB_HOST": "db.example.internal",
        "DB_PORT": "5432",
        "DB_LOGIN": "app",
        "DB_PASSWORD": demo_conn["password"],
        "DB_SCHEMA": "appdb",
        "DB_URI": Connection.get("demo_db").get_uri(),
        "DB_EXTRA_SSLMODE": "require",
        "DB_EXTRA_API_KEY": demo_conn["api_key"],
        "DB_EXTRA_TIMEOUT": "30",
    }
    # Fields the connection does not have are left out.
    assert resolve({"API": "conn:bare.*"}) == {"API_HOST": "api.internal", "API_URI": "http://api.internal"}


def test_variables_raw_and_json(demo_conn: dict[str, str]) -> None:
    assert resolve(
        {
            "T": "var:demo_api_token",
            "R": {"var": "settings", "deserialize_json": True, "path": "cloud.region"},
            "Z": {"var": "settings", "deserialize_json": True, "path": "zones.1"},
            "C": {"var": "settings", "deserialize_json": True, "path": "cloud"},
        }
    ) == {
        "T": demo_conn["token"],
        "R": demo_conn["region"],
        "Z": "7",
        "C": json.dumps({"region": demo_conn["region"]}),
    }


def test_every_resolved_value_is_registered_with_the_masker(demo_conn: dict[str, str]) -> None:
    from airflow.sdk.log import redact

    got = resolve({"DB": "conn:demo_db.*", "T": "var:demo_api_token", "H": "conn:demo_db.host"})
    # Airflow's masker leaves values shorter than [logging] min_length_masked_secret (5) alone.
    assert sorted(name for name, value in got.items() if len(value) < 5) == ["DB_EXTRA_TIMEOUT", "DB_LOGIN", "DB_PORT"]
    for name, value in got.items():
        if len(value) >= 5:
            assert redact(f"x {value} x") == "x *** x", f"{name} is not masked"


@pytest.mark.parametrize(
    ("source", "env", "message"),
    [
        ({"P": "conn:no_such_conn.password"}, "P", "no_such_conn"),
        ({"T": "var:no_such_var"}, "T", "no_such_var"),
    ],
)
def test_missing_connection_or_variable_names_task_env_and_id(
    demo_conn: dict[str, str], source: object, env: str, message: str
) -> None:
    with pytest.raises(SecretNotFoundError) as info:
        resolve(source)
    text = str(info.value)
    assert message in text and f"env var {env!r}" in text and "task 'use_db'" in text
    assert info.value.__context__ is None and info.value.__cause__ is None


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"P": "conn:bare.password"}, "connection 'bare' field 'password': the connection has no such field"),
        ({"P": "conn:bare.port"}, "field 'port': the connection has no such field"),
        ({"K": "conn:demo_db.extra.nope"}, "field 'extra.nope': the connection's extra has no such key"),
        ({"K": "conn:bare.extra.nope"}, "field 'extra.nope': the connection's extra has no such key"),
        ({"P": "conn:bad_extra.password"}, "connection 'bad_extra' field 'password': its extra is not JSON"),
        ({"X": "conn:bad_extra.*"}, "its extra is not JSON"),
        ({"U": "conn:bad_extra"}, "its extra is not JSON"),
        (
            {"T": {"var": "demo_api_token", "deserialize_json": True}},
            "variable 'demo_api_token': the variable is not JSON",
        ),
        ({"T": {"var": "settings", "deserialize_json": True, "path": "cloud.zone"}}, "nothing at 'zone'"),
        ({"T": {"var": "settings", "deserialize_json": True, "path": "zones.5"}}, "nothing at '5'"),
    ],
)
def test_a_field_the_connection_lacks_or_bad_json_is_a_clear_error(
    demo_conn: dict[str, str], source: object, message: str
) -> None:
    with pytest.raises(SecretConfigError) as info:
        resolve(source)
    text = str(info.value)
    assert message in text and "task 'use_db', env var" in text
    assert info.value.__context__ is None
    for value in demo_conn.values():
        assert value not in text


def test_two_sources_for_one_env_var_in_one_request(demo_conn: dict[str, str]) -> None:
    with pytest.raises(SecretConfigError, match="'DB_PASSWORD' is given by both connection 'demo_db' field '\\*'"):
        resolve({"DB": "conn:demo_db.*", "DB_PASSWORD": "var:demo_api_token"})


def test_extra_keys_that_become_the_same_name_are_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TWINS", json.dumps({"conn_type": "http", "extra": {"a-b": "1", "a_b": "2"}}))
    with pytest.raises(SecretConfigError, match="env var 'C_EXTRA_A_B'"):
        resolve({"C": "conn:twins.*"})


def test_a_collision_with_another_provider_uses_the_merge_rule(demo_conn: dict[str, str]) -> None:
    requests = [with_secrets("inline", {"DB_HOST": "x"}), with_secrets("airflow", {"DB": "conn:demo_db.*"})]
    with pytest.raises(SecretConfigError) as info:
        resolve_values(requests, CTX)
    assert info.value.field == "secrets[1]"
    assert "'DB_HOST' is also provided by secrets[0]" in str(info.value)


def test_each_connection_is_looked_up_once_per_resolve(
    demo_conn: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import airflow.sdk

    calls: list[str] = []
    real = airflow.sdk.Connection.get.__func__  # type: ignore[attr-defined]

    def counting(cls: type, conn_id: str) -> Any:
        calls.append(conn_id)
        return real(cls, conn_id)

    monkeypatch.setattr(airflow.sdk.Connection, "get", classmethod(counting))
    resolve({"DB": "conn:demo_db.*", "P2": "conn:demo_db.password", "H": "conn:demo_db.host"})
    assert calls == ["demo_db"]


# -- in the operator ---------------------------------------------------------------------------


def test_the_operator_takes_the_kind_everywhere_and_the_spec_holds_references_only() -> None:
    from airflow_secrets_provider import SecretTaskOperator
    from tests.support.pods import env_refs, main_container, validate_pod

    op = SecretTaskOperator(
        task_id="t",
        image="busybox",
        namespace="ns",
        secrets=[with_secrets("airflow", {"DB_PASSWORD": "conn:{{ params.db }}.password"})],
    ).with_secrets("airflow", {"TOKEN": "var:demo_api_token"})
    op.render_template_fields({"params": {"db": "demo_db"}})  # type: ignore[arg-type]
    assert [r.refs for r in op.secret_requests] == [  # type: ignore[attr-defined]
        (ConnRef("DB_PASSWORD", "demo_db", "password"),),
        (VarRef("TOKEN", "demo_api_token"),),
    ]
    pod = op.build_pod_request_obj(dry_run=True)
    validate_pod(pod)
    refs = env_refs(main_container(pod))
    assert refs["DB_PASSWORD"] == (f"{pod.metadata.name}-secrets", "DB_PASSWORD")
    assert refs["TOKEN"] == (f"{pod.metadata.name}-secrets", "TOKEN")


def test_a_template_that_renders_to_a_template_is_rejected() -> None:
    from airflow_secrets_provider import SecretTaskOperator

    op = SecretTaskOperator(
        task_id="t", image="busybox", namespace="ns", secrets=[with_secrets("airflow", {"P": "conn:{{ params.db }}"})]
    )
    with pytest.raises(SecretConfigError, match="still contains"):
        op.render_template_fields({"params": {"db": "{{ x }}"}})  # type: ignore[arg-type]


def test_an_env_var_also_taken_from_a_project_key_fails_at_parse_time() -> None:
    from airflow_secrets_provider import SecretTaskOperator

    with pytest.raises(SecretConfigError, match="DB_PASSWORD"):
        SecretTaskOperator(
            task_id="t",
            image="busybox",
            namespace="ns",
            project="fraud",
            secrets=[
                with_secrets("kubernetes", ["DB_PASSWORD"]),
                with_secrets("airflow", {"DB_PASSWORD": "conn:demo_db.password"}),
            ],
        )


class DenyingBackend(BaseSecretsBackend):
    """A test double of a secrets backend that refuses every lookup (as a real one does on 403)."""

    def get_conn_value(self, conn_id: str, team_name: str | None = None) -> None:
        from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied

        raise AirflowSecretsBackendAccessDenied(f"denied {conn_id}")

    def get_variable(self, key: str, team_name: str | None = None) -> None:
        from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied

        raise AirflowSecretsBackendAccessDenied(f"denied {key}")


@pytest.fixture
def denying_backend(monkeypatch: pytest.MonkeyPatch) -> Any:
    from airflow.sdk.configuration import clear_secrets_backends_cache

    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", "tests.test_airflow_provider.DenyingBackend")
    clear_secrets_backends_cache()
    yield
    monkeypatch.delenv("AIRFLOW__SECRETS__BACKEND")
    clear_secrets_backends_cache()


@pytest.mark.parametrize(
    ("source", "what"), [({"P": "conn:demo_db.password"}, "connection"), ({"T": "var:t"}, "variable")]
)
def test_a_backend_that_denies_access_is_an_access_error(denying_backend: Any, source: object, what: str) -> None:
    from airflow_secrets_provider import SecretAccessError

    with pytest.raises(SecretAccessError, match=f"a secrets backend denied access for {what} .*task 'use_db', env var"):
        resolve(source)
