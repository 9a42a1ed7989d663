"""The one rule for a Secret's ``data`` (secret_data.py): strict base64, UTF-8 text, value-free errors."""

from __future__ import annotations

import base64

import pytest

from airflow_secrets_provider.core.errors import SecretConfigError
from airflow_secrets_provider.core.secret_data import decode_data, decode_text, encode_data, encode_text
from tests.support.canaries import canary


def test_round_trip() -> None:
    values = {"A": canary("round-trip"), "B": "ünïcødé"}
    assert decode_text(encode_text(values), "Secret 's'") == values
    assert decode_data(encode_data({"K": b"\xff\x00"}), "Secret 's'") == {"K": b"\xff\x00"}
    assert decode_text(None, "Secret 's'") == {}


def test_text_that_is_not_base64_names_the_key_and_the_secret() -> None:
    with pytest.raises(SecretConfigError) as info:
        decode_data({"K": "not base64!"}, "project 'p'")
    assert info.value.field == "K" and "project 'p' holds data that is not base64" in str(info.value)
    assert info.value.__context__ is None


def test_a_value_that_is_not_utf8_is_an_error_without_the_value() -> None:
    raw = b"\xff\xfe" + canary("binary").encode()
    with pytest.raises(SecretConfigError) as info:
        decode_text({"K": base64.b64encode(raw).decode()}, "Secret 's'")
    assert info.value.field == "K" and "not UTF-8 text" in str(info.value)
    assert info.value.__context__ is None and canary("binary") not in str(info.value)  # UnicodeDecodeError holds it
