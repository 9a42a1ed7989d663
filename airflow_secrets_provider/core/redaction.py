"""How a rejected name appears in a message: quoted when it is a name, described when it may be a value.

Every error of the package names the field and, where safe, the offending name; none may quote a
value. Users type ``NAME=VALUE`` (or a URI, or a whole line) where a name belongs, and text
rendered from a template may come from a variable or a connection. This module decides, in one
place, what may be quoted. It imports nothing of the package, so the errors module and the
validators can both use it.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterable, Iterator

_RENDERED: contextvars.ContextVar[bool] = contextvars.ContextVar("asp_rendered", default=False)


@contextlib.contextmanager
def rendered_text(rendered: bool = True) -> Iterator[None]:
    """Within this block (when ``rendered``), nothing is quoted: the text came out of a template."""
    token = _RENDERED.set(rendered or _RENDERED.get())
    try:
        yield
    finally:
        _RENDERED.reset(token)


_MAY_HOLD_A_VALUE_RE = re.compile(r"[=\s:@]")
CONTROL_CHARACTER_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_SHOWN_LENGTH = 253


def _why_hidden(text: str) -> str | None:
    """Why ``text`` must not be quoted, or None when it can be shown as it is."""
    if _RENDERED.get():
        return "rendered from a template, it may hold a value"
    if len(text) > MAX_SHOWN_LENGTH:
        return f"longer than {MAX_SHOWN_LENGTH} characters, too long to be a name"
    if CONTROL_CHARACTER_RE.search(text):
        return "it contains a control character"
    found = _MAY_HOLD_A_VALUE_RE.search(text)
    if found:
        char = found.group()
        shown_char = repr(char) if char in "=:@" else "whitespace"
        return f"it contains {shown_char} and may hold a value"
    return None


def describe(text: str, what: str = "text") -> str:
    """A description of ``text`` that never includes it: its length and why it is not shown.

    ``describe("DB_PASSWORD=x", "item key")`` is ``"an item key of 13 characters (not shown: it
    contains '=' and may hold a value)"``.
    """
    article = "an" if what[:1] in "aeiou" else "a"
    why = _why_hidden(text) or "it may hold a value"
    return f"{article} {what} of {len(text)} characters (not shown: {why})"


def shown(text: str, what: str = "text") -> str:
    """Quote a rejected name for an error message, unless it may carry a value.

    Users sometimes type ``NAME=VALUE`` (or a URI, or a whole line) where a name belongs; quoting
    that back would put the value in a log. Such text is described instead of shown, with the
    right reason (too long, a control character, or a character that separates a name from a value).
    """
    return repr(text) if _why_hidden(text) is None else describe(text, what)


def is_shown(text: str) -> bool:
    """Whether :func:`shown` quotes ``text`` (it is safe in a field name or a message)."""
    return _why_hidden(text) is None


def describe_names(names: Iterable[object], what: str = "field name") -> str:
    """Unknown option or field names for a message, ``['tokn', <a field name of 37 ...>]``.

    Each is quoted when it looks like a name and described when it may hold a value.
    """
    parts = sorted(shown(name, what) if isinstance(name, str) else f"a {type(name).__name__}" for name in names)
    return f"[{', '.join(parts)}]"


def keyed_field(base: str, key: object, what: str = "key") -> str:
    """A field name for one entry of a mapping (``items['tls.crt']``), safe for any key.

    A key that may hold a value (``DB_PASSWORD=...``) is described, never quoted:
    ``items[<an item key of 37 characters containing '='>]``.
    """
    if not isinstance(key, str):
        return f"{base}[<{what} of type {type(key).__name__}>]"
    if is_shown(key):
        return f"{base}[{key!r}]"
    return f"{base}[<{describe(key, what)}>]"
