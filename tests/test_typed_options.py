"""The typed option models: errors name the field (``sources[0].vault_url``), never the value.

pydantic's own messages quote the input (``input_value=...``); the first test shows that, so
the others prove that none of it reaches our errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from airflow_secrets_provider import SecretTaskOperator
from airflow_secrets_provider.azure.options import ReaderModel, reader_settings_from_options
from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.secrets.backend import BackendOptions, ChainedSecretsBackend
from tests.support.canaries import canary

CANARY = canary("typed-options")


def chain_texts(err: BaseException) -> list[str]:
    texts: list[str] = []
    current: BaseException | None = err
    while current is not None:
        texts += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    return texts


def rejected(build: Callable[[], object], field: str) -> SecretConfigError:
    with pytest.raises(SecretConfigError) as info:
        build()
    assert info.value.field == field, str(info.value)
    for text in chain_texts(info.value):
        assert CANARY not in text
    return info.value


def test_pydantic_itself_would_quote_the_value() -> None:
    with pytest.raises(ValidationError) as info:
        BackendOptions.model_validate({"cache_ttl_seconds": CANARY})
    with pytest.raises(ValidationError) as raw:
        ReaderModel.model_validate({"retry_total": CANARY}, strict=False)
    # hide_input_in_errors keeps ours clean; the default (and any model without it) does not.
    from pydantic import BaseModel

    class Plain(BaseModel):
        n: int

    with pytest.raises(ValidationError) as plain:
        Plain.model_validate({"n": CANARY})
    assert CANARY in str(plain.value)
    assert CANARY not in str(info.value) and CANARY not in str(raw.value)


def _backend(**kwargs: Any) -> Callable[[], object]:
    return lambda: ChainedSecretsBackend(**kwargs)


def _source(**options: Any) -> Callable[[], object]:
    return _backend(sources=[options])


VAULT = "https://v.vault.azure.net"


@pytest.mark.parametrize(
    ("build", "field", "problem"),
    [
        (_backend(cache_ttl_seconds=CANARY), "cache_ttl_seconds", "must be a number"),
        (_backend(cache_max_entries=f"{CANARY}"), "cache_max_entries", "whole number"),
        (_backend(cache_max_entries=0), "cache_max_entries", "at least 1"),
        (_backend(negative_cache_ttl_seconds="nan"), "negative_cache_ttl_seconds", "finite"),
        (_backend(sources=f"[{CANARY}"), "sources", "not valid JSON"),
        (_backend(sources=[]), "sources", "must not be empty"),
        (_source(kind="azure_vault", vault_url=f"http://{CANARY}"), "sources[0].vault_url", "https://"),
        (_source(kind="azure_vault", vault_url=VAULT, retry_total=CANARY), "sources[0].retry_total", "whole number"),
        (_source(kind="azure_vault", vault_url=VAULT, credential=CANARY), "sources[0].credential", "must be one of"),
        (_source(kind="azure_vault", vault_url=VAULT, read_timeout=-1), "sources[0].read_timeout", "greater than 0"),
        (_source(kind="azure_vault", vault_url=VAULT, page_size=26), "sources[0].page_size", "at most 25"),
        (_source(kind="azure_vault", vault_url=VAULT, sep=[CANARY]), "sources[0].sep", "must be a string"),
        (_source(kind="kubernetes", project="p", in_cluster=CANARY), "sources[0].in_cluster", "true or false"),
        (_source(kind="kubernetes", project="p", request_timeout=CANARY), "sources[0].request_timeout", "number"),
        (_source(kind="kubernetes", project="p", request_timeout=0), "sources[0].request_timeout", "positive"),
        (_source(kind="kubernetes", project="p", kube_config=""), "sources[0].kube_config", "non-empty"),
        (_source(kind="file", variables_file="/v", format=CANARY), "sources[0].format", "must be one of"),
        (_source(kind="env", prefix=[CANARY]), "sources[0].prefix", "must be a string"),
        (_source(kind="env", variables_prefix={"k": CANARY}), "sources[0].variables_prefix", "must be a string"),
        (_source(kind="env", variables_lookup_pattern=f"({CANARY}"), "sources[0].variables_lookup_pattern", "regular"),
        (_source(kind="env", **{f"PASSWORD={CANARY}": 1}), "sources[0]", "is not a known option"),
        (_backend(**{f"TOKEN={CANARY}": 1}), "backend_kwargs", "is not a known option"),
    ],
)
def test_backend_errors_name_the_field_never_the_value(build: Callable[[], object], field: str, problem: str) -> None:
    err = rejected(build, field)
    assert problem in err.problem


def test_an_unknown_option_with_a_plain_name_is_named() -> None:
    err = rejected(_source(kind="env", prefx="A"), "sources[0].prefx")
    assert err.problem == "is not a known option"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"apply_presets": CANARY}, "apply_presets"),
        ({"attach_project_secrets": "false"}, "attach_project_secrets"),
        ({"azure_vault_options": CANARY}, "azure_vault_options"),
        ({"azure_vault_options": {"retry_total": CANARY}}, "azure_vault_options.retry_total"),
        ({"azure_vault_options": {"connection_verify": ""}}, "azure_vault_options.connection_verify"),
        ({"azure_vault_options": {f"SECRET={CANARY}": 1}}, "azure_vault_options"),
    ],
)
def test_operator_option_errors_name_the_argument_never_the_value(kwargs: dict[str, Any], field: str) -> None:
    rejected(lambda: SecretTaskOperator(task_id="t", image="busybox", namespace="ns", **kwargs), field)


def test_override_strings_are_read_as_numbers_and_flags() -> None:
    credential, options = reader_settings_from_options(
        {"retry_total": "2", "read_timeout": "1.5", "connection_verify": "false", "disable_instance_discovery": "true"}
    )
    assert (options.retry_total, options.read_timeout, options.connection_verify) == (2, 1.5, False)
    assert credential.disable_instance_discovery is True and credential.kind == "default"
    assert reader_settings_from_options({"client_secret": "s", "tenant_id": "t", "client_id": "c"})[0].kind == (
        "client_secret"
    )
    rejected(lambda: reader_settings_from_options({"retry_total": True}, "x."), "x.retry_total")


def test_the_client_secret_is_not_in_the_models_repr() -> None:
    model = ReaderModel.model_validate({"client_secret": CANARY, "tenant_id": "t", "client_id": "c"})
    assert CANARY not in repr(model) and CANARY not in str(model)
