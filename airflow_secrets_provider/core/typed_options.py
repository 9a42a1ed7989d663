"""One typed model layer for option dicts: ``backend_kwargs``, backend sources, operator options.

Why pydantic (Airflow already depends on it): each set of options is declared once as a model
(names, types, defaults, bounds), and the checking, coercion of per-key override strings
(``AIRFLOW__SECRETS__BACKEND_KWARG__*`` arrive as text) and "unknown option" errors come from it
instead of hand-written checks in each module.

What pydantic does not do for us is keep values out of messages: its own messages carry
``input_value=...``. :func:`validated` therefore never passes pydantic's text on. It turns the
first error into a :class:`~airflow_secrets_provider.core.errors.SecretConfigError` whose field is
the error's location (``sources[0].vault_url``) and whose problem is written here from the
error's *type* (or, for a check of our own, from the message our validator raised, which names
no value). An option *name* that looks like a value (``PASSWORD=...`` given as a key) is
described, not quoted, as everywhere else.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from airflow_secrets_provider.core.errors import SecretConfigError, drops_original_error
from airflow_secrets_provider.core.redaction import describe_names, is_shown

M = TypeVar("M", bound=BaseModel)


class Options(BaseModel):
    """Base of every option model: unknown options are errors, values are never echoed."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True, populate_by_name=True)


def _finite(value: float) -> float:
    # NaN passes every comparison (and infinity never times out): finite numbers only.
    if not math.isfinite(value):
        raise ValueError("must be a finite number (not NaN or infinity)")
    return value


def _not_bool(value: object) -> object:
    # pydantic's lax mode reads True as 1: a flag given where a number belongs is a mistake.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


Finite = Annotated[float, BeforeValidator(_not_bool), AfterValidator(_finite)]
"""A float that is neither NaN nor infinite (numbers, or their text from a per-key override)."""

Count = Annotated[int, BeforeValidator(_not_bool)]
"""A whole number (or its text); ``5.0`` is 5, ``5.5`` and ``True`` are errors."""


def _non_empty(value: str) -> str:
    if not value:
        raise ValueError("must be a non-empty string")
    return value


NonEmptyStr = Annotated[str, AfterValidator(_non_empty)]


def join_field(prefix: str, loc: tuple[int | str, ...]) -> str:
    """``sources`` + ``(0, "vault_url")`` -> ``sources[0].vault_url``."""
    text = prefix
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text = f"{text}.{part}" if text else part
    return text


_STEP = re.compile(r"[a-z][a-z-]*\[.*\]")
"""A location step pydantic adds for a validator or union member, e.g. ``function-after[_finite(), float]``."""

_PROBLEMS = {
    "missing": "is required",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number (not NaN or infinity)",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "string_too_short": "must be a non-empty string",
    "too_short": "must not be empty",
}
_BOUNDS = {
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
}


def describe_error(error: ErrorDetails) -> str:
    """The problem of one pydantic error, in our words; never the input value."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in ("value_error", "assertion_error"):
        # Raised by our own validators, whose messages name no value.
        return str(ctx.get("error", "is not valid")).removeprefix("Assertion failed, ")
    if kind in _BOUNDS:
        return _BOUNDS[kind].format(**{k: ctx.get(k) for k in ("gt", "ge", "lt", "le")})
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}".rstrip()
    return _PROBLEMS.get(kind, "is not valid")


def to_config_error(
    err: ValidationError, field: str = "", provider: str | None = None, root: str = "options"
) -> SecretConfigError:
    """A value-free ``SecretConfigError`` for the first error pydantic found.

    ``root`` names the whole dict when ``field`` is empty (``backend_kwargs``).
    """
    error = err.errors(include_url=False, include_input=False, include_context=True)[0]
    raw = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        # The unknown key itself, whatever it holds (it may look like a value: described below).
        name, raw = (raw[-1], raw[:-1]) if raw else ("", raw)
    # Unions and wrapped validators add steps that are no field (``function-after[...]``).
    loc = tuple(part for part in raw if isinstance(part, int) or not _STEP.fullmatch(part))
    if error["type"] == "extra_forbidden":
        loc = (*loc, name)
        if isinstance(name, str) and is_shown(name):
            return SecretConfigError(join_field(field, loc), "is not a known option", provider=provider)
        where = join_field(field, loc[:-1]) or root
        return SecretConfigError(
            where, f"{describe_names([str(name)], 'option name')} is not a known option", provider=provider
        )
    return SecretConfigError(join_field(field, loc) or root, describe_error(error), provider=provider)


@drops_original_error
def validated(
    model: type[M], data: object, field: str = "", *, provider: str | None = None, root: str = "options"
) -> M:
    """``data`` checked and coerced by ``model``; errors name ``field`` + the option, never a value."""
    if not isinstance(data, Mapping):
        raise SecretConfigError(field or root, f"must be an object, got {type(data).__name__}", provider=provider)
    if any(not isinstance(key, str) for key in data):
        key = next(key for key in data if not isinstance(key, str))
        raise SecretConfigError(
            field or root, f"has an option name that is a {type(key).__name__}, not a string", provider=provider
        )
    try:
        return model.model_validate(dict(data))
    except ValidationError as err:
        raise to_config_error(err, field, provider, root) from None


def given(options: BaseModel) -> dict[str, Any]:
    """The options the caller set explicitly (not their defaults), as a dict."""
    return {name: getattr(options, name) for name in options.model_fields_set}
