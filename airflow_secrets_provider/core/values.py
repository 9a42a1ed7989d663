"""A container for secret values that cannot leak through ``repr``, ``str`` or logging."""

from __future__ import annotations

from collections.abc import Iterator, Mapping


class SecretValues(Mapping[str, str]):
    """An immutable ``key -> value`` mapping whose text forms show keys only.

    Inline secrets and everything a provider resolves travel in this type, so that a stray
    ``log.info("%s", values)``, an exception message or a debugger repr prints
    ``SecretValues(keys=['A', 'B'])`` and never a value.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, str] | None = None) -> None:
        self._data: dict[str, str] = dict(data or {})

    def __getitem__(self, key: str) -> str:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"SecretValues(keys={sorted(self._data)!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SecretValues):
            return self._data == other._data
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._data)))

    def __reduce__(self) -> tuple[type[SecretValues], tuple[dict[str, str]]]:
        return (SecretValues, (self._data,))
