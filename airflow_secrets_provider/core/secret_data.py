"""The one rule for a Kubernetes Secret's ``data`` field: base64 both ways, errors name the key.

Every place that reads a Secret (project secrets, the backend's kubernetes source, an
``azure_vault`` request's service principal) decodes through here, so they agree on what is
valid (strict base64, UTF-8 text where text is needed) and on the error: a
:class:`~airflow_secrets_provider.core.errors.SecretConfigError` naming the key and the Secret,
with no chained exception (``UnicodeDecodeError.object`` would hold the value).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from airflow_secrets_provider.core.errors import SecretConfigError, drops_original_error

PROVIDER = "kubernetes"

MAX_SECRET_BYTES = 1024 * 1024
"""The API server's limit (``MaxSecretSize``): the sum of the decoded values' lengths in bytes.

It applies to the raw bytes, not to their base64 form (which is a third larger on the wire),
and keys do not count; checking the same sum before writing turns the server's late 422 into an
early, clear error (for a project's Secret and for a task's per-task Secret alike).
"""


def secret_size(data: Mapping[str, bytes]) -> int:
    """The size the API server checks against :data:`MAX_SECRET_BYTES`: decoded value bytes."""
    return sum(len(value) for value in data.values())


def encode_data(data: Mapping[str, bytes]) -> dict[str, str]:
    """``data`` as a Secret's ``data`` field holds it."""
    return {key: base64.b64encode(value).decode("ascii") for key, value in data.items()}


def encode_text(values: Mapping[str, str]) -> dict[str, str]:
    """Text values (UTF-8) as a Secret's ``data`` field holds them."""
    return encode_data({key: value.encode("utf-8") for key, value in values.items()})


@drops_original_error
def decode_data(data: Mapping[str, str] | None, where: str, *, provider: str = PROVIDER) -> dict[str, bytes]:
    """The raw bytes of every key; ``where`` names the Secret (``"project 'p'"``) in errors."""
    decoded: dict[str, bytes] = {}
    for key, text in (data or {}).items():
        try:
            decoded[key] = base64.b64decode(text or "", validate=True)
        except (binascii.Error, ValueError):
            raise SecretConfigError(key, f"{where} holds data that is not base64", provider=provider) from None
    return decoded


@drops_original_error
def decode_value(key: str, raw: bytes, where: str, *, provider: str = PROVIDER) -> str:
    """One value as text; a value that is not UTF-8 is an error naming the key, not the bytes."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretConfigError(key, f"value in {where} is not UTF-8 text", provider=provider) from None


def decode_text(data: Mapping[str, str] | None, where: str, *, provider: str = PROVIDER) -> dict[str, str]:
    """Every key as text (:func:`decode_data`, then :func:`decode_value`)."""
    return {
        key: decode_value(key, raw, where, provider=provider)
        for key, raw in decode_data(data, where, provider=provider).items()
    }
