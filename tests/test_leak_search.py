"""The leak audit's search finds a canary in every form a sink could store it in."""

from __future__ import annotations

import base64
import gzip
import json
import pickle
import zlib

import pytest
from cryptography.fernet import Fernet

from tests.support.leak_search import Canary, Fernetish, Findings, new_canary


def _findings() -> tuple[Findings, str]:
    value = new_canary()
    return Findings([Canary("c", value), Canary("other", new_canary())]), value


@pytest.mark.parametrize("offset", [0, 1, 2])
@pytest.mark.parametrize("urlsafe", [False, True])
def test_base64_at_any_alignment_is_found(offset: int, urlsafe: bool) -> None:
    findings, value = _findings()
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    findings.search("s", "w", b"prefix" + encode(b"x" * offset + value.encode() + b"-suffix"))
    assert [h.canary for h in findings.hits] == ["c"]


@pytest.mark.parametrize(
    "wrap",
    [
        lambda b: b,
        lambda b: b.upper(),
        zlib.compress,
        gzip.compress,
        lambda b: pickle.dumps({"env": [b.decode()]}),
        lambda b: zlib.compress(json.dumps({"data": base64.b64encode(b).decode()}).encode()),
    ],
    ids=["plain", "upper", "zlib", "gzip", "pickle", "base64-in-compressed-json"],
)
def test_stored_encodings_are_decoded(wrap: object) -> None:
    findings, value = _findings()
    findings.search("s", "w", wrap(value.encode()))  # type: ignore[operator]
    assert [h.canary for h in findings.hits] == ["c"]


def test_fernet_encrypted_values_are_decrypted_with_the_stacks_key() -> None:
    findings, value = _findings()
    key = Fernet.generate_key()
    token = Fernet(key).encrypt(value.encode())
    findings.search("s", "w", b'{"kwargs": "' + token + b'"}')
    assert findings.hits == []
    findings.search("s", "w", b'{"kwargs": "' + token + b'"}', fernet=Fernetish(Fernet(key).decrypt))
    assert [h.canary for h in findings.hits] == ["c"]


def test_counts_and_context_never_show_the_value() -> None:
    findings, value = _findings()
    findings.search("db:t", "row 1", f"line one\npassword={value}\nline three\nline four")
    findings.search("db:t", "row 2", "nothing here")
    findings.search("db:t", "row 2 cell 2", "nothing", count=False)
    assert findings.searched["db:t"] == 2
    (hit,) = findings.hits
    assert value not in hit.context and hit.context == "password=<c>\nline three"
    assert findings.sinks_holding("c") == {"db:t"} and findings.sinks_holding("other") == set()
