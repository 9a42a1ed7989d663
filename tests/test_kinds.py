"""One registry of kinds for both sides, and backend sources as typed, documented classes."""

from __future__ import annotations

import inspect

import pytest

from airflow_secrets_provider.azure.options import ReaderOptions
from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.kinds import KINDS, REQUEST_KINDS, SOURCE_KINDS
from airflow_secrets_provider.providers import PROVIDER_KINDS, with_secrets
from airflow_secrets_provider.secrets.chain import build_source
from airflow_secrets_provider.secrets.sources import LookupPatterns, NamingOptions, Source


def test_one_registry_serves_tasks_and_the_backend() -> None:
    assert PROVIDER_KINDS == REQUEST_KINDS == ("inline", "env", "file", "kubernetes", "azure_vault", "airflow")
    assert SOURCE_KINDS == ("env", "file", "kubernetes", "azure_vault")
    for name in SOURCE_KINDS:
        assert KINDS[name].source_class().kind == name
    for name in REQUEST_KINDS:
        assert callable(KINDS[name].parser())


def test_unknown_kinds_are_named_from_the_registry() -> None:
    with pytest.raises(SecretConfigError, match=r"\['inline', 'env', 'file', 'kubernetes', 'azure_vault', 'airflow'\]"):
        with_secrets("vault", [])
    with pytest.raises(SecretConfigError, match=r"\['env', 'file', 'kubernetes', 'azure_vault'\]") as info:
        build_source({"kind": "inline"}, 3)
    assert info.value.field == "sources[3].kind"


@pytest.mark.parametrize("kind", SOURCE_KINDS)
def test_every_option_of_a_source_is_a_documented_keyword_argument(kind: str) -> None:
    cls: type[Source] = KINDS[kind].source_class()
    params = inspect.signature(cls.__init__).parameters.values()
    own = [p.name for p in params if p.kind is p.KEYWORD_ONLY]
    assert own and all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in params if p.name != "self")
    doc = inspect.getdoc(cls) or ""
    for name in own:
        assert f":param {name}:" in doc, f"{cls.__name__} does not document {name}"
    shared_docs = "\n".join(inspect.getdoc(options) or "" for options in (LookupPatterns, NamingOptions, ReaderOptions))
    for name in cls.option_names() - set(own):
        assert f":param {name}:" in shared_docs, f"the option {name} of {cls.__name__} is not documented"


def test_option_sets_per_kind() -> None:
    kube, file = KINDS["kubernetes"].source_class(), KINDS["file"].source_class()
    assert {"project", "request_timeout", "sep", "connections_prefix"} <= kube.option_names()
    assert "field" not in kube.option_names()
    assert {"variables_file", "format", "variables_lookup_pattern"} <= file.option_names()
    assert "variables_prefix" not in file.option_names()  # one file per kind: no prefixes
    assert {"vault_url", "client_secret", "retry_total", "sep"} <= KINDS["azure_vault"].source_class().option_names()
