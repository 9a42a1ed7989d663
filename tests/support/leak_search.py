"""The leak audit's pure core: canaries, their encoded forms, decoding stored values, tallies.

Why a module of its own: the audit (tests/test_leak_audit.py) searches a dozen kinds of sink
(DB columns, API responses, files, Kubernetes objects, CLI output), and every one of them must be
searched the same way: for each canary, in clear and in the encodings a store might apply
(base64 at any byte alignment, upper case), inside compressed, pickled and Fernet-encrypted
values. Nothing here does I/O; :mod:`tests.support.leak_sinks` feeds it.
"""

from __future__ import annotations

import base64
import gzip
import pickle
import re
import secrets
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

#: Fernet tokens start with version byte 0x80 (``gAAAAA`` in urlsafe base64).
_FERNET = re.compile(rb"gAAAAA[A-Za-z0-9_\-]{40,}={0,2}")
_MAX_DEPTH = 4


def new_canary() -> str:
    """128 random bits as 32 hex digits (``secrets.token_hex(16)``): never present by chance."""
    return secrets.token_hex(16)


def _base64_forms(value: bytes) -> set[bytes]:
    """Substrings every base64 encoding of a text holding ``value`` contains, whatever its offset.

    A value starting at byte offset 1 or 2 of a 3-byte group is encoded differently; the
    characters that encode only bytes of the value are the same for that offset, so one needle
    per alignment (and per alphabet) finds it.
    """
    forms = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + value)
        skip = 4 if offset else 0  # the first group mixes padding bytes and the value
        core = encoded[skip:-4]  # the last group may mix the value with what follows it
        forms.add(core)
        forms.add(core.replace(b"+", b"-").replace(b"/", b"_"))
    return {form for form in forms if len(form) >= 16}


@dataclass(frozen=True)
class Canary:
    """A named secret value and every form in which the audit looks for it."""

    name: str
    value: str

    @property
    def needles(self) -> frozenset[bytes]:
        raw = self.value.encode()
        return frozenset({raw, raw.upper(), *_base64_forms(raw)})


@dataclass(frozen=True)
class Hit:
    """Canary ``canary`` found in ``sink`` (a sink category) at ``where`` (row, path, object)."""

    canary: str
    sink: str
    where: str
    #: A value-free excerpt around the hit (the canary replaced by its name) to explain the finding.
    context: str = ""


@dataclass
class Findings:
    """What the audit searched (counts per sink) and what it found."""

    canaries: list[Canary]
    searched: Counter[str] = field(default_factory=Counter)
    hits: list[Hit] = field(default_factory=list)
    #: Extra figures for the report: requests sent, rows read, HTTP statuses, ...
    figures: Counter[str] = field(default_factory=Counter)
    #: Ids seen in API answers (parameter name -> values), for the crawler's detail requests.
    harvested: dict[str, list[object]] = field(default_factory=dict)

    def search(
        self, sink: str, where: str, data: str | bytes, *, fernet: Fernetish | None = None, count: bool = True
    ) -> None:
        """Count one searched item of ``sink``; record every canary in ``data`` or in what it decodes to.

        ``count=False`` searches a part of an item already counted (one cell of a counted row).
        """
        if count:
            self.searched[sink] += 1
        texts = expand(data, fernet=fernet)
        for canary in self.canaries:  # one hit per canary and item, in whichever form it was found
            found = next(
                (
                    (text, index, needle)
                    for text in texts
                    for needle in canary.needles
                    if (index := text.find(needle)) >= 0
                ),
                None,
            )
            if found is not None:
                self.hits.append(Hit(canary.name, sink, where, self._context(*found)))

    def _context(self, text: bytes, index: int, needle: bytes) -> str:
        """The line holding the hit and the next one (a logged value may end in a newline), bounded."""
        start = max(text.rfind(b"\n", 0, index) + 1, index - 300)
        end = text.find(b"\n", index + len(needle))
        if end >= 0:
            following = text.find(b"\n", end + 1)
            end = len(text) if following < 0 else following
        else:
            end = len(text)
        return self.blank(text[start : min(end, index + len(needle) + 300)])

    def blank(self, text: bytes) -> str:
        """``text`` with every canary (in every searched form) replaced by ``<its name>``."""
        for canary in self.canaries:
            for needle in canary.needles:
                text = text.replace(needle, f"<{canary.name}>".encode())
        return text.decode(errors="replace")

    def hits_of(self, canary: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.canary == canary]

    def sinks_holding(self, canary: str) -> set[str]:
        return {hit.sink for hit in self.hits_of(canary)}


class Fernetish:
    """``decrypt(token) -> bytes``: the stack's Fernet key, to read encrypted columns."""

    def __init__(self, decrypt: Callable[[bytes], bytes]) -> None:
        self._decrypt = decrypt

    def decrypt(self, token: bytes) -> bytes | None:
        try:
            return self._decrypt(token)
        except Exception:  # not a token of this key: nothing to decode
            return None


def _unpickled(data: bytes) -> bytes:
    """The repr of a pickled value (the stack's own metadata DB only: executor_config)."""
    if data[:1] != b"\x80":  # pickle protocol 2+
        raise ValueError("not a pickle")
    return repr(pickle.loads(data)).encode()


def _decoded(data: bytes, fernet: Fernetish | None) -> Iterable[bytes]:
    """Whatever a stored blob could be hiding: compressed, pickled or encrypted forms."""
    for decode in (zlib.decompress, gzip.decompress, _unpickled):
        try:
            decoded = decode(data)
        except Exception:  # not that encoding
            continue
        yield decoded
    if fernet is not None:
        for match in _FERNET.finditer(data):
            plain = fernet.decrypt(match.group())
            if plain is not None:
                yield plain


def expand(data: str | bytes, *, fernet: Fernetish | None = None) -> list[bytes]:
    """``data`` as bytes plus every decoding of it (and of those), a few levels deep."""
    first = data.encode("utf-8", errors="surrogatepass") if isinstance(data, str) else bytes(data)
    out = [first]
    frontier = [first]
    for _ in range(_MAX_DEPTH):
        nxt = [decoded for blob in frontier for decoded in _decoded(blob, fernet)]
        if not nxt:
            break
        out.extend(nxt)
        frontier = nxt
    return out
