"""Bad inputs found by the reliability audit (issue 12): each is rejected early, naming the field.

Every case checks the exception type, the field it names, and that the value-like text (a
canary) appears nowhere in the message, the ``repr`` or the exception chain. The same rules are
exercised with generated inputs in tests/test_input_properties.py.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_secrets_provider import SecretConfigError, SecretNotFoundError, SecretTaskOperator, with_secrets
from airflow_secrets_provider.azure.options import reader_settings_from_options
from airflow_secrets_provider.core.key_value import parse_key_value_lines
from airflow_secrets_provider.core.model import ResolveContext
from airflow_secrets_provider.core.redaction import shown
from airflow_secrets_provider.core.validation import MAX_SUBDOMAIN_LENGTH
from airflow_secrets_provider.kube.projects import ProjectSecretsStore
from airflow_secrets_provider.providers.external import parse_pipeline_spec
from airflow_secrets_provider.secrets.backend import ChainedSecretsBackend
from airflow_secrets_provider.secrets.chain import build_source
from airflow_secrets_provider.secrets.file_source import FileSource
from tests.support.canaries import canary
from tests.support.waiting import outcome_in_thread

CANARY = canary("inputs")
VALUE_LIKE = f"DB_PASSWORD={CANARY}"


def chain_texts(err: BaseException) -> list[str]:
    """The message and repr of ``err`` and of everything chained to it."""
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    return texts


def rejected(build: Callable[[], object], field: str | None = None, *, secret: str = CANARY) -> SecretConfigError:
    """Run ``build``; it must raise a SecretConfigError naming ``field`` and never ``secret``."""
    with pytest.raises(SecretConfigError) as info:
        build()
    err = info.value
    if field is not None:
        assert err.field == field, f"field {err.field!r}, expected {field!r} ({err})"
    for text in chain_texts(err):
        assert secret not in text
    return err


def _op(**kwargs: Any) -> SecretTaskOperator:
    return SecretTaskOperator(task_id="t", image="busybox", namespace="ns", **kwargs)


def _store() -> ProjectSecretsStore:
    from kubernetes.client import CoreV1Api

    class NoApi(CoreV1Api):
        def __getattribute__(self, name: str) -> Any:
            if name.endswith("_namespaced_secret") or name.startswith(("read_", "create_", "replace_", "delete_")):
                raise AssertionError(f"an API call ({name}) was made before the input was checked")
            return super().__getattribute__(name)

    return ProjectSecretsStore(NoApi(), "ns", audit=False)  # a client that fails any call: a test double


# -- names quoted in messages and field names ------------------------------------------------------


def test_mount_secret_item_key_that_looks_like_a_value_is_described_not_quoted() -> None:
    err = rejected(lambda: _op().mount_secret("s", "/m", {VALUE_LIKE: "f"}))
    assert err.field.startswith("items[") and "'='" in err.field
    assert f"{len(VALUE_LIKE)} characters" in err.field


def test_duplicate_and_nested_item_paths_are_described_not_quoted() -> None:
    path = f"a={CANARY}"
    rejected(lambda: _op().mount_secret("s", "/m", {"k1": path, "k2": path}), "items['k2']")
    rejected(lambda: _op().mount_secret("s", "/m", {"k1": path, "k2": f"{path}/x"}), "items['k2']")


def test_set_secrets_key_that_looks_like_a_value_is_described() -> None:
    err = rejected(lambda: _store().set_secrets("p", {f"BAD KEY={CANARY}": "v"}))
    assert err.field.startswith("values[")


def test_duplicate_mount_paths_are_described_not_quoted() -> None:
    path = f"/m/{CANARY}=x"
    # ':' and '=' make a mount path value-like; '=' is allowed in a path, so the duplicate check reports it.
    op = _op().mount_secret("a", path)
    rejected(lambda: op.mount_secret("b", path), "secrets")


def test_unknown_fields_of_pachyderm_and_azure_dicts_are_described() -> None:
    rejected(lambda: parse_pipeline_spec({"name": "s", "mount_path": "/m", VALUE_LIKE: 1}, "secrets[0]"), "secrets[0]")
    rejected(lambda: parse_pipeline_spec({"name": "s", "envVar": "E", "key": "k", VALUE_LIKE: 1}, "secrets[0]"))
    rejected(lambda: with_secrets("azure_vault", {"name": "vault1", VALUE_LIKE: 1}), "source")


def test_unknown_backend_option_is_described_not_quoted() -> None:
    err = rejected(lambda: build_source({"kind": "env", VALUE_LIKE: 1}, 0))
    assert err.field.startswith("sources[0]")
    rejected(lambda: reader_settings_from_options({VALUE_LIKE: 1}, "sources[0]."))


def test_file_path_that_looks_like_a_value_is_not_quoted_when_missing() -> None:
    request = with_secrets("file", VALUE_LIKE)
    with pytest.raises(SecretNotFoundError) as info:
        request.resolve(ResolveContext(environ={}))  # type: ignore[attr-defined]
    for text in chain_texts(info.value):
        assert CANARY not in text


def test_a_long_name_is_described_as_too_long() -> None:
    long_name = "a" * (MAX_SUBDOMAIN_LENGTH + 1)
    text = shown(long_name)
    assert "too long" in text and "'='" not in text and long_name not in text
    err = rejected(lambda: _op().set_env_from_secret("E", long_name, "k"), "secret", secret=long_name)
    assert "longer than" in str(err) or "too long" in str(err)


# -- templates are literal after rendering ---------------------------------------------------------


def _render(op: SecretTaskOperator, **params: str) -> None:
    op.render_template_fields({"params": params})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: _op().set_env_from_secret("E", "{{ params.name }}", "k"), "secret"),
        (lambda: _op().mount_secret("s", "/m/{{ params.name }}"), "mount_path"),
        (lambda: _op(project="{{ params.name }}"), "project"),
        (lambda: _op(project="p").with_secrets("kubernetes", ["{{ params.name }}"]), "source[0]"),
    ],
    ids=["secret name", "mount path", "project", "kubernetes key"],
)
def test_a_name_that_renders_to_a_template_is_rejected(build: Callable[[], SecretTaskOperator], field: str) -> None:
    op = build()
    # The rendered text still holds markup, and a value (a Jinja string can render to anything).
    err = rejected(lambda: _render(op, name="{{" + CANARY))
    assert err.field == field
    assert "after rendering" in err.problem


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: _op().set_env_from_secret("E", "{{ params.name }}", "k"), "secret"),
        (lambda: _op().mount_secret("{{ params.name }}", "/m", {"k": "{{ params.name }}"}), "secret"),
        (lambda: _op(project="{{ params.name }}"), "project"),
    ],
    ids=["secret name", "mount secret", "project"],
)
def test_a_rendered_name_is_never_quoted(build: Callable[[], SecretTaskOperator], field: str) -> None:
    # A name template may render a variable's value; even a name-like one is not shown back.
    err = rejected(lambda: _render(build(), name=f"Name_{CANARY}"), field)
    assert "rendered from a template" in err.problem


@pytest.mark.parametrize(
    "build",
    [
        lambda: _op().set_env_from_secret("E", "{{ params.nope.deeper }}", "k"),
        lambda: _op().mount_secret("s", "/m/{{ params.nope.missing }}"),
        lambda: _op(project="p").with_secrets("kubernetes", ["{{ params.nope.key }}"]),
    ],
    ids=["secret name", "mount path", "kubernetes key"],
)
def test_a_template_that_cannot_render_is_a_config_error_naming_the_request_and_task(
    build: Callable[[], SecretTaskOperator],
) -> None:
    """Not Jinja's ``UndefinedError``: the provider's error, naming the request and the task."""
    op = build()
    err = rejected(lambda: _render(op, name=CANARY))
    assert err.field == "secret_requests[0]", err.field
    assert "cannot be rendered" in err.problem and "undefined" in err.problem and repr(op.task_id) in err.problem
    assert err.__cause__ is None and err.__context__ is None


def test_inline_keys_that_look_like_templates_are_rejected() -> None:
    rejected(lambda: with_secrets("inline", {"{{ params.k }}": CANARY}), "source key")


# -- oversized values -------------------------------------------------------------------------------


def test_an_inline_value_over_one_mib_is_rejected_at_construction() -> None:
    big = CANARY * (1024 * 1024 // len(CANARY) + 1)
    rejected(lambda: with_secrets("inline", {"BIG": big}), "source['BIG']")


def test_a_secrets_file_of_two_mib_is_rejected_before_anything_is_created(tmp_path: Path) -> None:
    from airflow_secrets_provider.operators.resolve import resolve_requests

    path = tmp_path / "big.env"
    path.write_text(f"BIG={CANARY * (2 * 1024 * 1024 // len(CANARY))}\n")
    rejected(lambda: resolve_requests(None, "ns", None, [with_secrets("file", str(path))], {}))  # type: ignore[arg-type]


def test_values_adding_up_to_over_one_mib_are_rejected_before_anything_is_created() -> None:
    from airflow_secrets_provider.operators.resolve import resolve_requests

    half = CANARY * (600 * 1024 // len(CANARY))
    requests = [with_secrets("inline", {"A": half}), with_secrets("inline", {"B": half})]
    err = rejected(lambda: resolve_requests(None, "ns", None, requests, {}))  # type: ignore[arg-type]
    assert "1 MiB" in err.problem


# -- secrets files: regular files with a size cap -----------------------------------------------------


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("kind", ["dev_zero", "fifo", "directory"])
def test_task_secrets_file_must_be_a_regular_file(kind: str, tmp_path: Path) -> None:
    path = {"dev_zero": lambda: Path("/dev/zero"), "fifo": lambda: _fifo(tmp_path), "directory": lambda: tmp_path}[
        kind
    ]()
    request = with_secrets("file", str(path))
    err = outcome_in_thread(lambda: request.resolve(ResolveContext(environ={})), "reading the file", timeout=60)  # type: ignore[attr-defined]
    assert isinstance(err, SecretConfigError), repr(err)
    assert err.field == "source" and "regular file" in err.problem


@pytest.mark.parametrize("kind", ["dev_zero", "fifo", "directory"])
def test_project_secrets_file_must_be_a_regular_file(kind: str, tmp_path: Path) -> None:
    path = {"dev_zero": lambda: Path("/dev/zero"), "fifo": lambda: _fifo(tmp_path), "directory": lambda: tmp_path}[
        kind
    ]()
    err = outcome_in_thread(lambda: _store().set_secrets_from_file("p", path), "reading the file", timeout=60)
    assert isinstance(err, SecretConfigError), repr(err)
    assert err.field == "path" and "regular file" in err.problem


def test_backend_file_source_refuses_a_huge_file_on_lookup(tmp_path: Path) -> None:
    path = tmp_path / "vars.env"
    path.write_text(f"X={CANARY * (3 * 1024 * 1024 // len(CANARY))}\n")
    source = FileSource(variables_file=str(path), format="env")
    err = outcome_in_thread(lambda: source.lookup("variables", "X"), "reading the file", timeout=60)
    assert isinstance(err, SecretConfigError), repr(err)
    assert err.field == "sources.variables_file" or err.field.endswith("variables_file")


@pytest.mark.parametrize("kind", ["dev_zero", "fifo", "directory"])
def test_backend_file_source_refuses_a_special_file_when_built_naming_the_option(kind: str, tmp_path: Path) -> None:
    """A device, FIFO or directory is refused by a stat when the backend is built (nothing opened)."""
    path = {"dev_zero": lambda: Path("/dev/zero"), "fifo": lambda: _fifo(tmp_path), "directory": lambda: tmp_path}[
        kind
    ]()
    config = {"sources": [{"kind": "file", "connections_file": str(path)}]}
    err = outcome_in_thread(lambda: ChainedSecretsBackend(**config), "building the backend", timeout=60)
    assert isinstance(err, SecretConfigError), repr(err)
    assert err.field == "sources[0].connections_file", err.field
    assert "regular file" in err.problem and str(path) not in str(err)


def _binary(tmp_path: Path) -> Path:
    path = tmp_path / "binary.env"
    path.write_bytes(b"A=" + CANARY.encode() + b"\xff\xfe\x00\x80\n")
    return path


def test_a_binary_secrets_file_names_the_field_of_each_reader(tmp_path: Path) -> None:
    """Not UTF-8: the task's file (``source``), the project's file (``path``), the backend's option."""
    path = _binary(tmp_path)
    err = rejected(lambda: with_secrets("file", str(path)).resolve(ResolveContext(environ={})), "source")  # type: ignore[attr-defined]
    assert err.provider == "file" and "not UTF-8" in err.problem
    err = rejected(lambda: _store().set_secrets_from_file("p", path), "path")
    assert "not UTF-8" in err.problem
    err = rejected(lambda: FileSource(variables_file=str(path), field="sources[1]").lookup("variables", "A"))
    assert err.field == "sources[1].variables_file" and "not UTF-8" in err.problem


def test_backend_file_source_does_not_reparse_an_unchanged_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_secrets_provider.secrets import file_source

    path = tmp_path / "vars.env"
    path.write_text(f"A={CANARY}\nB=2\n")
    source = FileSource(variables_file=str(path))
    parses: list[str] = []
    real = file_source.parse_key_value_text
    monkeypatch.setattr(
        file_source, "parse_key_value_text", lambda text, origin: parses.append(origin) or real(text, origin)
    )
    assert source.lookup("variables", "A") == CANARY
    assert source.lookup("variables", "B") == "2"
    assert len(parses) == 1
    path.write_text("A=changed-and-longer\n")
    assert source.lookup("variables", "A") == "changed-and-longer"
    assert len(parses) == 2


def test_lines_end_at_newlines_only() -> None:
    text = "A=one\r\nB=two=2\n\n# c\u2028omment\nC=3"
    values = parse_key_value_lines(text, "f", provider="file", check_key=lambda k, f, p: k)
    assert values == {"A": "one", "B": "two=2", "C": "3"}


#: Every character ``str.splitlines`` ends a line at but ``\n`` (``\r`` alone: an old Mac ending).
SPLITLINES_SEPARATORS = ["\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def test_the_separator_list_is_what_splitlines_splits_on() -> None:
    split = {chr(c) for c in range(0x110000) if len(f"a{chr(c)}b".splitlines()) == 2}
    assert split == {*SPLITLINES_SEPARATORS, "\n"}


@pytest.mark.parametrize("separator", SPLITLINES_SEPARATORS, ids=lambda c: f"U+{ord(c):04X}")
def test_a_value_holding_a_line_separator_is_refused_by_line_number(separator: str, tmp_path: Path) -> None:
    """One value per line (README, secrets files): a line other tools show as two is an error."""
    path = tmp_path / "secrets.env"
    path.write_text(f"A=ok\nB={CANARY}{separator}C={CANARY}\n", encoding="utf-8", newline="")
    err = rejected(lambda: with_secrets("file", str(path)).resolve(ResolveContext(environ={})))  # type: ignore[attr-defined]
    assert err.field.endswith("line 2") and f"U+{ord(separator):04X}" in err.problem
    err = rejected(lambda: _store().set_secrets_from_file("p", path))
    assert err.field.endswith("line 2")
    err = rejected(lambda: FileSource(variables_file=str(path)).lookup("variables", "A"))
    assert err.field.startswith("source.variables_file") and err.field.endswith("line 2")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n  \n"], ids=["empty", "blank", "comments"])
def test_an_empty_secrets_file_is_refused_for_a_task_and_a_project(text: str, tmp_path: Path) -> None:
    path = tmp_path / "empty.env"
    path.write_text(text)
    err = rejected(lambda: with_secrets("file", str(path)).resolve(ResolveContext(environ={})), "source")  # type: ignore[attr-defined]
    assert "holds no KEY=VALUE line" in err.problem and err.provider == "file"
    rejected(lambda: _store().set_secrets_from_file("p", path))


def test_an_empty_backend_file_is_an_empty_store(tmp_path: Path) -> None:
    """Documented acceptance: like a missing file, an empty one means no ids (not an error)."""
    path = tmp_path / "vars.env"
    path.write_text("")
    assert FileSource(variables_file=str(path)).lookup("variables", "A") is None


# -- backend options -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"negative_cache_ttl_seconds": "nan"}, "negative_cache_ttl_seconds"),
        ({"cache_ttl_seconds": float("inf")}, "cache_ttl_seconds"),
        ({"cache_ttl_seconds": -1}, "cache_ttl_seconds"),
        ({"cache_max_entries": "nan"}, "cache_max_entries"),
        ({"cache_max_entries": math.inf}, "cache_max_entries"),
        ({"cache_max_entries": 1.5}, "cache_max_entries"),
        ({"cache_max_entries": 0}, "cache_max_entries"),
    ],
)
def test_backend_numbers_must_be_finite_and_in_range(kwargs: dict[str, Any], field: str) -> None:
    rejected(lambda: ChainedSecretsBackend(**kwargs), field)


def test_unknown_top_level_backend_option_names_it() -> None:
    err = rejected(lambda: ChainedSecretsBackend(cache_ttl=5))  # type: ignore[call-arg]
    assert err.field == "cache_ttl"
    err = rejected(lambda: ChainedSecretsBackend(**{VALUE_LIKE: 5}))  # type: ignore[arg-type]
    assert "'='" in err.field or "'='" in err.problem


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"project": "Bad_Project"}, "sources[0].project"),
        ({"project": "p", "namespace": "Bad_NS"}, "sources[0].namespace"),
        ({"secret": "Bad_Secret"}, "sources[0].secret"),
    ],
)
def test_kubernetes_source_checks_project_namespace_and_secret(config: dict[str, Any], field: str) -> None:
    rejected(lambda: build_source({"kind": "kubernetes", **config}, 0), field)


@pytest.mark.parametrize("option", ["connection_timeout", "read_timeout", "retry_backoff_factor", "retry_backoff_max"])
@pytest.mark.parametrize("bad", [-1, "-0.5", "nan", float("inf")])
def test_azure_timeouts_and_backoff_must_be_finite_and_not_negative(option: str, bad: object) -> None:
    rejected(lambda: reader_settings_from_options({option: bad}, "sources[0]."), f"sources[0].{option}")


# -- values of the wrong shape ----------------------------------------------------------------------


def test_delete_keys_with_a_string_is_rejected() -> None:
    rejected(lambda: _store().delete_keys("p", "AB"), "keys")


def test_attach_project_secrets_must_be_a_bool() -> None:
    rejected(lambda: _op(project="p", attach_project_secrets="false"), "attach_project_secrets")  # type: ignore[arg-type]


def test_pachyderm_optional_must_be_a_bool() -> None:
    rejected(
        lambda: parse_pipeline_spec({"name": "s", "envVar": "E", "key": "k", "optional": "no"}, "secrets[0]"),
        "secrets[0].optional",
    )
    request = parse_pipeline_spec({"name": "s", "envVar": "E", "key": "k", "optional": True}, "secrets[0]")
    assert request.optional is True  # type: ignore[attr-defined]


def test_azure_vault_options_must_be_a_mapping() -> None:
    rejected(lambda: _op(azure_vault_options="retry_total=3"), "azure_vault_options")  # type: ignore[arg-type]


def test_azure_vault_options_are_checked_at_construction() -> None:
    rejected(lambda: _op(azure_vault_options={"read_timeout": "nan"}), "azure_vault_options.read_timeout")


# -- paths the kubelet cannot use ------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/", "//", "/a\x00b", "/a\nb", "/" + "a" * 1024],
    ids=["root", "double root", "nul", "newline", "too long"],
)
def test_unusable_mount_paths_are_rejected(path: str) -> None:
    rejected(lambda: _op().mount_secret("s", path), "mount_path", secret=path if len(path) > 3 else CANARY)


@pytest.mark.parametrize(
    "path",
    ["a\x00b", "a\nb", "x" * 256, "d/" + "é" * 128, "/".join(["d"] * 600)],
    ids=["nul", "newline", "file name over 255 bytes", "utf-8 name over 255 bytes", "too long"],
)
def test_unusable_item_paths_are_rejected(path: str) -> None:
    rejected(lambda: _op().mount_secret("s", "/m", {"k": path}), "items['k']")


def test_limits_are_exactly_at_the_documented_lengths() -> None:
    _op().mount_secret("s", "/" + "a" * 254 + "/" + "b" * 255, {"k": "x" * 255})
    at_limit = "/" + "/".join(["a"] * 511) + "bc"
    assert len(at_limit) == 1024
    _op().mount_secret("s", at_limit)
    rejected(lambda: _op().mount_secret("s", at_limit + "d"), "mount_path", secret=at_limit)


def test_render_names_the_field_of_a_rejected_operator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from airflow_secrets_provider.cli import main

    dag_file = tmp_path / "bad_dag.py"
    dag_file.write_text(
        "# airflow dag\n"
        "import pendulum\n"
        "from airflow.sdk import DAG\n"
        "from airflow_secrets_provider import SecretTaskOperator\n"
        "with DAG('bad', schedule=None, start_date=pendulum.datetime(2026, 1, 1)):\n"
        f"    SecretTaskOperator(task_id='t', image='i', namespace='ns').mount_secret('s', '/m', {{{VALUE_LIKE!r}: 'f'}})\n"
    )
    code = main(["render", str(dag_file)])
    out = capsys.readouterr()
    assert code != 0
    assert "line 6" in out.err and "items[" in out.err and "SecretConfigError" in out.err
    assert CANARY not in out.err + out.out


@pytest.mark.parametrize("kind", ["dev_zero", "fifo", "directory"])
def test_cli_value_files_must_be_regular_files(kind: str, tmp_path: Path) -> None:
    from airflow_secrets_provider.cli.values_input import read_values

    path = {"dev_zero": lambda: Path("/dev/zero"), "fifo": lambda: _fifo(tmp_path), "directory": lambda: tmp_path}[
        kind
    ]()
    err = outcome_in_thread(lambda: read_values(None, [f"KEY={path}"], None, False), "reading the file", timeout=60)
    assert isinstance(err, SecretConfigError), repr(err)
    assert err.field == "--from-file[0]" and "regular file" in err.problem
    err = outcome_in_thread(lambda: read_values(None, None, [str(path)], False), "reading the file", timeout=60)
    assert isinstance(err, SecretConfigError), repr(err)
    assert err.field == "--from-env-file[0]"


@pytest.mark.parametrize("bad", ["nan", float("nan"), float("inf"), "-1", 0])
def test_kubernetes_source_request_timeout_must_be_finite_and_positive(bad: object) -> None:
    rejected(
        lambda: build_source({"kind": "kubernetes", "project": "p", "request_timeout": bad}, 0),
        "sources[0].request_timeout",
    )
