"""Property-based bad-input tests (``hypothesis``): names, keys, paths, files and options.

Each property generates inputs that are invalid for one field and carry a canary where a user
would put a value (``NAME=<value>``, a value typed into a path, an over-long name made of it).
For every example it checks:

* the exception type (``SecretConfigError``, or ``SecretNotFoundError`` for a missing file);
* the field the error names;
* that the canary is in none of: the message, the ``repr``, the args, the ``__cause__`` /
  ``__context__`` chain, and any log record emitted while the input was handled;
* where something could be written, that nothing was: the tests marked ``kubernetes`` run
  against the real API server and list its Secrets, pods and Events after every example.

Runs are deterministic (``derandomize=True``, no example database): the same examples every
run, so a failure is a real regression, never a flake. ``EXAMPLES`` is the per-property count
docs/security.md reports.
"""

from __future__ import annotations

import contextlib
import logging
import string
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_secrets_provider import SecretConfigError, SecretNotFoundError, SecretTaskOperator, with_secrets
from airflow_secrets_provider.azure.options import reader_settings_from_options
from airflow_secrets_provider.core.model import ResolveContext
from airflow_secrets_provider.kube.projects import ProjectSecretsStore
from airflow_secrets_provider.secrets.backend import ChainedSecretsBackend
from airflow_secrets_provider.secrets.chain import build_source
from airflow_secrets_provider.secrets.file_source import FileSource
from tests.support.canaries import canary
from tests.test_input_checks import _store, chain_texts

CANARY = canary("property")

EXAMPLES = 100
"""Examples per unit property (the kubernetes-tier properties run ``KUBE_EXAMPLES``)."""
KUBE_EXAMPLES = 25

PROPERTY = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
KUBE_PROPERTY = settings(PROPERTY, max_examples=KUBE_EXAMPLES)

LOWER = string.ascii_lowercase + string.digits
NAME_CHARS = string.ascii_letters + string.digits + "_"
NO_TEMPLATE = st.characters(blacklist_characters="{%")


# -- what every example checks ---------------------------------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        self.texts.append(text)


@contextlib.contextmanager
def captured_logs() -> Iterator[_Records]:
    """Every record any logger emits meanwhile (root at DEBUG), with its formatted traceback."""
    root = logging.getLogger()
    handler = _Records()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def check_rejected(
    build: Callable[[], object],
    field: str | Callable[[str], bool] | None,
    *,
    error: type[Exception] = SecretConfigError,
) -> Exception:
    """``build`` raises ``error`` naming ``field``; the canary is nowhere in the error or the logs."""
    with captured_logs() as logs:
        try:
            build()
        except error as err:
            caught: Exception = err
        else:
            raise AssertionError("the bad input was accepted")
    if field is not None:
        got = getattr(caught, "field", None)
        ok = field(got) if callable(field) else got == field
        assert ok, f"field {got!r} ({caught})"
    for text in [*chain_texts(caught), *logs.texts]:
        assert CANARY not in text
    return caught


def _op(**kwargs: Any) -> SecretTaskOperator:
    return SecretTaskOperator(task_id="t", image="busybox", namespace="ns", **kwargs)


# -- strategies: invalid for the field, with the canary where a value would be -----------------------


def value_like(first: str, separators: str, tail: str | None = None) -> st.SearchStrategy[str]:
    """``<name><separator><canary><tail>``: a name typed with its value (``DB_PASSWORD=...``).

    The separators are those that make text value-like (``=``, whitespace, ``:``, ``@``, control
    characters): name-like text (``abc-def``) is quoted on purpose, as the name it is.
    """
    return st.builds(
        lambda pre, sep, post: f"{pre}{sep}{CANARY}{post}",
        st.text(first, min_size=1, max_size=12),
        st.sampled_from(list(separators)),
        # Template markup is excluded: a templated name is checked once rendered (see the
        # operator property below), by design not at construction.
        st.text(tail, max_size=12) if tail is not None else st.text(NO_TEMPLATE, max_size=12),
    )


def too_long(limit: int, joiner: str = "-", lead: str = "") -> st.SearchStrategy[str]:
    """A name made of canaries, longer than ``limit``: described as too long, never quoted."""
    count = limit // len(CANARY) + 1
    return st.integers(count, count + 20).map(lambda n: lead + joiner.join([CANARY] * n))


NAME_SEPARATORS = "= :@\n\t\x00\r\u2028"
BAD_ENV_NAMES = st.one_of(value_like(NAME_CHARS, NAME_SEPARATORS), too_long(300, "_"))
BAD_KEYS = st.one_of(value_like(NAME_CHARS, NAME_SEPARATORS), too_long(253, "-"))
BAD_SECRET_NAMES = st.one_of(value_like(LOWER, NAME_SEPARATORS), too_long(253, "-"))
BAD_PROJECTS = st.one_of(value_like(LOWER, NAME_SEPARATORS), too_long(63, "-"))
BAD_VAULT_NAMES = st.one_of(value_like(NAME_CHARS.replace("_", ""), NAME_SEPARATORS), too_long(253, "-"))
BAD_MOUNT_PATHS = st.one_of(
    value_like("/" + LOWER, "\x00\n\t\r:"),
    st.builds(lambda pre: f"{pre}={CANARY}", st.text(LOWER, min_size=1, max_size=8)),  # relative
    too_long(1024, "/", "/"),
)
BAD_ITEM_PATHS = st.one_of(
    value_like(LOWER, "\x00\n\t\r"),
    st.builds(lambda pre: f"/{pre}={CANARY}", st.text(LOWER, max_size=8)),  # absolute
    st.builds(lambda pre: f"../{pre}={CANARY}", st.text(LOWER, max_size=8)),  # escapes
    too_long(1024, "/"),
)


# -- names ---------------------------------------------------------------------------------------

NAME_SINKS: list[tuple[str, st.SearchStrategy[str], Callable[[str], object], str]] = [
    ("env provider name", BAD_ENV_NAMES, lambda bad: with_secrets("env", ["OK", bad]), "source[1]"),
    ("kubernetes key", BAD_KEYS, lambda bad: with_secrets("kubernetes", [bad]), "source[0]"),
    ("set_env_from_secret env", BAD_ENV_NAMES, lambda bad: _op().set_env_from_secret(bad, "s", "k"), "env_name"),
    ("set_env_from_secret secret", BAD_SECRET_NAMES, lambda bad: _op().set_env_from_secret("E", bad, "k"), "secret"),
    ("set_env_from_secret key", BAD_KEYS, lambda bad: _op().set_env_from_secret("E", "s", bad), "secret_key"),
    ("mount_secret secret", BAD_SECRET_NAMES, lambda bad: _op().mount_secret(bad, "/m"), "secret"),
    ("operator project", BAD_PROJECTS, lambda bad: _op(project=bad), "project"),
    (
        "pachyderm name",
        BAD_SECRET_NAMES,
        lambda bad: _op(secrets=[{"name": bad, "envVar": "E", "key": "k"}]),
        "secrets[0].secret",
    ),
    (
        "pachyderm envVar",
        BAD_ENV_NAMES,
        lambda bad: _op(secrets=[{"name": "s", "envVar": bad, "key": "k"}]),
        "secrets[0].env_name",
    ),
    (
        "azure secret name",
        BAD_VAULT_NAMES,
        lambda bad: with_secrets("azure_vault", {"name": "vault1", "secrets": [bad]}),
        "source.secrets[0]",
    ),
    ("store project", BAD_PROJECTS, lambda bad: _store().list_keys(bad), "project"),
    (
        "backend source project",
        BAD_PROJECTS,
        lambda bad: build_source({"kind": "kubernetes", "project": bad}, 0),
        "sources[0].project",
    ),
    (
        "backend source namespace",
        BAD_PROJECTS,
        lambda bad: build_source({"kind": "kubernetes", "project": "p", "namespace": bad}, 0),
        "sources[0].namespace",
    ),
]


@pytest.mark.parametrize(("strategy", "build", "field"), [s[1:] for s in NAME_SINKS], ids=[s[0] for s in NAME_SINKS])
def test_bad_names_are_rejected_naming_the_field(
    strategy: st.SearchStrategy[str], build: Callable[[str], object], field: str
) -> None:
    @PROPERTY
    @given(strategy)
    def prop(bad: str) -> None:
        check_rejected(lambda: build(bad), field)

    prop()


@PROPERTY
@given(st.one_of(value_like("/" + LOWER, "= :@\n\t\r\u2028", tail=NAME_CHARS), too_long(300, "/", "/")))
def test_a_missing_secrets_file_is_not_quoted(path: str) -> None:
    request = with_secrets("file", path)
    check_rejected(lambda: request.resolve(ResolveContext(environ={})), None, error=SecretNotFoundError)  # type: ignore[attr-defined]


@PROPERTY
@given(value_like("/" + LOWER, "\x00"))
def test_a_secrets_file_path_with_nul_is_rejected(path: str) -> None:
    check_rejected(lambda: with_secrets("file", path), "source")
    check_rejected(lambda: _store().set_secrets_from_file("p", path), "path")
    check_rejected(lambda: FileSource(variables_file=path).lookup("variables", "A"), "source.variables_file")


# -- keys and dict fields --------------------------------------------------------------------------


def _described_entry(base: str) -> Callable[[str], bool]:
    return lambda field: field.startswith(f"{base}[<")


KEY_SINKS: list[tuple[str, Callable[[str], object], str | Callable[[str], bool]]] = [
    ("mount_secret item key", lambda bad: _op().mount_secret("s", "/m", {bad: "f"}), _described_entry("items")),
    ("inline key", lambda bad: with_secrets("inline", {bad: "v"}), "source key"),
    ("set_secrets key", lambda bad: _store().set_secrets("p", {"OK": "v", bad: "v"}), _described_entry("values")),
    (
        "pachyderm unknown field",
        lambda bad: _op(secrets=[{"name": "s", "mount_path": "/m", bad: 1}]),
        "secrets[0]",
    ),
    ("azure unknown field", lambda bad: with_secrets("azure_vault", {"name": "vault1", bad: 1}), "source"),
    ("backend source option", lambda bad: build_source({"kind": "env", bad: 1}, 0), "sources[0]"),
    ("backend option", lambda bad: ChainedSecretsBackend(**{bad: 1}), "backend_kwargs"),  # type: ignore[arg-type]
    ("key vault option", lambda bad: reader_settings_from_options({bad: 1}, "sources[0]."), "sources[0]"),
    ("operator vault option", lambda bad: _op(azure_vault_options={bad: 1}), "azure_vault_options"),
]


@pytest.mark.parametrize(("build", "field"), [s[1:] for s in KEY_SINKS], ids=[s[0] for s in KEY_SINKS])
def test_bad_keys_and_field_names_are_described_not_quoted(
    build: Callable[[str], object], field: str | Callable[[str], bool]
) -> None:
    @PROPERTY
    @given(BAD_KEYS)
    def prop(bad: str) -> None:
        check_rejected(lambda: build(bad), field)

    prop()


# -- paths ---------------------------------------------------------------------------------------


@PROPERTY
@given(BAD_MOUNT_PATHS)
def test_bad_mount_paths_are_rejected(path: str) -> None:
    check_rejected(lambda: _op().mount_secret("s", path), "mount_path")
    check_rejected(lambda: _op(secrets=[{"name": "s", "mount_path": path}]), "secrets[0].mount_path")


@PROPERTY
@given(BAD_ITEM_PATHS)
def test_bad_item_paths_are_rejected(path: str) -> None:
    check_rejected(lambda: _op().mount_secret("s", "/m", {"key": path}), "items['key']")


# -- files ---------------------------------------------------------------------------------------

STRUCTURAL_BAD_LINES = st.one_of(
    st.just(CANARY),  # a value with no key
    st.just(f"={CANARY}"),  # an empty key
    st.text(NAME_CHARS, min_size=1, max_size=8).map(lambda key: f"{key}{CANARY}"),  # no '=' at all
)
BAD_KEY_LINES = value_like(NAME_CHARS, " :@\t\x00\u2028", tail=NAME_CHARS).map(lambda text: f"{text}={CANARY}")


@st.composite
def bad_files(draw: st.DrawFn, *, structural_only: bool = False) -> tuple[str, int]:
    """A ``KEY=VALUE`` file with one malformed line, and that line's number (1-based).

    ``structural_only``: the bad line has no key or no ``=`` (the backend's file source takes
    any text as an Airflow id, so a key that is not a name is not an error there).
    """
    good = draw(st.lists(st.integers(0, 999), max_size=6, unique=True))
    # Values hold '=' and '#', which end nothing; keys are spaced out in some lines.
    lines = [f"K{n}={CANARY}=#{CANARY}" if n % 2 else f"K{n} = {CANARY}" for n in good]
    position = draw(st.integers(0, len(lines)))
    lines.insert(
        position, draw(STRUCTURAL_BAD_LINES if structural_only else st.one_of(STRUCTURAL_BAD_LINES, BAD_KEY_LINES))
    )
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return ending.join(lines) + draw(st.sampled_from(["", ending])), position + 1


def _on_line(line: int) -> Callable[[str], bool]:
    return lambda field: field.endswith(f"line {line}")


def _write(tmp_path_factory: pytest.TempPathFactory, text: str) -> Path:
    path = tmp_path_factory.mktemp("files") / "secrets.env"
    path.write_text(text, encoding="utf-8", newline="")
    return path


@PROPERTY
@given(bad_files())
def test_malformed_secrets_files_name_the_line_never_the_content(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[str, int]
) -> None:
    text, line = case
    path = _write(tmp_path_factory, text)
    request = with_secrets("file", str(path))
    check_rejected(lambda: request.resolve(ResolveContext(environ={})), _on_line(line))  # type: ignore[attr-defined]
    check_rejected(lambda: _store().set_secrets_from_file("p", path), _on_line(line))


@PROPERTY
@given(bad_files(structural_only=True))
def test_malformed_backend_files_name_the_line_never_the_content(
    tmp_path_factory: pytest.TempPathFactory, case: tuple[str, int]
) -> None:
    text, line = case
    path = str(_write(tmp_path_factory, text))
    source = FileSource(variables_file=path)
    check_rejected(lambda: source.lookup("variables", "K1"), _on_line(line))
    # Through the backend the failure is logged (and the lookup falls through): the log names
    # the line, never the content.
    backend = ChainedSecretsBackend(sources=[{"kind": "file", "variables_file": path}])
    with captured_logs() as logs:
        assert backend.get_variable("K1") is None
    assert any(f"line {line}" in text for text in logs.texts), logs.texts
    assert not any(CANARY in text for text in logs.texts)


# -- options -------------------------------------------------------------------------------------

BAD_SECONDS = st.one_of(
    st.sampled_from([float("nan"), float("inf"), float("-inf"), "nan", "inf", "-inf", "NaN", "1e400", True]),
    st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False),
    st.integers(max_value=-1),
    st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False).map(str),
    value_like(NAME_CHARS, "= :@"),
)
BAD_COUNTS = st.one_of(
    BAD_SECONDS,
    st.integers(max_value=0),
    st.floats(min_value=0.01, max_value=1e6).filter(lambda x: not x.is_integer()),
)


@pytest.mark.parametrize("option", ["cache_ttl_seconds", "negative_cache_ttl_seconds"])
def test_bad_backend_durations_name_the_option(option: str) -> None:
    @PROPERTY
    @given(BAD_SECONDS)
    def prop(bad: object) -> None:
        check_rejected(lambda: ChainedSecretsBackend(**{option: bad}), option)  # type: ignore[arg-type]

    prop()


@PROPERTY
@given(BAD_COUNTS)
def test_bad_cache_sizes_name_the_option(bad: object) -> None:
    check_rejected(lambda: ChainedSecretsBackend(cache_max_entries=bad), "cache_max_entries")  # type: ignore[arg-type]


@pytest.mark.parametrize("option", ["connection_timeout", "read_timeout", "retry_backoff_factor", "retry_backoff_max"])
def test_bad_key_vault_timings_name_the_option(option: str) -> None:
    @PROPERTY
    @given(BAD_SECONDS.filter(lambda v: not (isinstance(v, float) and v == 0)))
    def prop(bad: object) -> None:
        check_rejected(lambda: reader_settings_from_options({option: bad}, "sources[0]."), f"sources[0].{option}")
        check_rejected(lambda: _op(azure_vault_options={option: bad}), f"azure_vault_options.{option}")

    prop()


@PROPERTY
@given(st.one_of(st.text(max_size=8), st.integers(), st.none(), st.lists(st.booleans(), max_size=2)))
def test_operator_flags_are_strict_booleans(bad: object) -> None:
    check_rejected(lambda: _op(project="p", attach_project_secrets=bad), "attach_project_secrets")  # type: ignore[arg-type]
    check_rejected(
        lambda: _op(secrets=[{"name": "s", "envVar": "E", "key": "k", "optional": bad}]), "secrets[0].optional"
    )


# -- against the real API server: nothing is written ---------------------------------------------------


def _written(core: Any, namespace: str) -> dict[str, list[str]]:
    """Everything a failed call could have left in ``namespace``: Secrets, pods and Events."""
    # Service account tokens and controller events appear on their own in a new namespace.
    secrets = [
        s.metadata.name
        for s in core.list_namespaced_secret(namespace).items
        if s.type != "kubernetes.io/service-account-token"
    ]
    pods = [p.metadata.name for p in core.list_namespaced_pod(namespace).items]
    events = [
        e.metadata.name
        for e in core.list_namespaced_event(namespace).items
        if e.involved_object.kind in ("Secret", "Pod")
    ]
    return {"secrets": secrets, "pods": pods, "events": events}


@pytest.mark.kubernetes
def test_bad_project_writes_leave_the_api_server_untouched(
    core: Any, kube_namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    store = ProjectSecretsStore(core, kube_namespace)
    before = _written(core, kube_namespace)

    @KUBE_PROPERTY
    @given(BAD_KEYS, bad_files(), st.integers(1, 3))
    def prop(bad_key: str, bad_file: tuple[str, int], size_mib: int) -> None:
        check_rejected(lambda: store.set_secrets("p", {"GOOD": CANARY, bad_key: CANARY}), _described_entry("values"))
        text, line = bad_file
        path = _write(tmp_path_factory, text)
        check_rejected(lambda: store.set_secrets_from_file("p", path), _on_line(line))
        big = CANARY * (size_mib * 1024 * 1024 // len(CANARY) + 1)
        check_rejected(lambda: store.set_secrets("p", {"BIG": big}), "values")
        check_rejected(lambda: store.delete_keys("p", bad_key), "keys")
        assert _written(core, kube_namespace) == before

    prop()


@pytest.mark.kubernetes
@pytest.mark.airflow
def test_operator_with_bad_input_creates_nothing(
    kube_cluster: Any, core: Any, kube_namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Templated names that render to bad text, and bad secrets files: execute() creates nothing."""
    before = _written(core, kube_namespace)

    def operator(**kwargs: Any) -> SecretTaskOperator:
        return SecretTaskOperator(
            task_id="bad",
            image="busybox:1.36",
            namespace=kube_namespace,
            config_file=str(kube_cluster.kubeconfig),
            in_cluster=False,
            get_logs=False,
            **kwargs,
        )

    @KUBE_PROPERTY
    @given(
        st.one_of(BAD_SECRET_NAMES, st.just("{{" + CANARY), st.just("{% " + CANARY)),
        st.one_of(BAD_MOUNT_PATHS, st.just("/m/{{" + CANARY)),
        bad_files(),
    )
    def prop(rendered_name: str, rendered_path: str, bad_file: tuple[str, int]) -> None:
        params = {"name": rendered_name, "path": rendered_path}
        named = operator()
        named.set_env_from_secret("E", "{{ params.name }}", "k")
        check_rejected(lambda: named.render_template_fields({"params": params}), "secret")  # type: ignore[arg-type]
        mounted = operator().mount_secret("s", "{{ params.path }}")
        check_rejected(lambda: mounted.render_template_fields({"params": params}), "mount_path")  # type: ignore[arg-type]

        text, line = bad_file
        from_file = operator(secrets=[with_secrets("file", str(_write(tmp_path_factory, text)))])
        check_rejected(lambda: from_file.execute({}), _on_line(line))  # type: ignore[arg-type]
        assert _written(core, kube_namespace) == before

    prop()

    # Oversized values: the size is checked before the pod or the Secret is created.
    big = tmp_path_factory.mktemp("files") / "big.env"
    big.write_text(f"BIG={CANARY * (1024 * 1024 // len(CANARY) + 1)}\n")
    check_rejected(lambda: operator(secrets=[with_secrets("file", str(big))]).execute({}), "secrets")  # type: ignore[arg-type]
    assert _written(core, kube_namespace) == before
