"""Objects that attack whoever reads them: mappings and keys whose every
operation raises. Shared by the bundle-loading tests and the fuzz."""
from __future__ import annotations

from collections.abc import Iterator, Mapping


class RaisingMapping(Mapping[str, object]):
    """A mapping every read of which raises."""

    def __getitem__(self, key: str) -> object:
        raise RuntimeError("getitem")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("iter")

    def __len__(self) -> int:
        raise RuntimeError("len")


class EvilKey:
    """Hashable, but compares, prints and reprs by raising."""

    def __hash__(self) -> int:
        return hash("region")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __repr__(self) -> str:
        raise RuntimeError("repr")

    __str__ = __repr__


class BadStr(str):
    """A str subclass whose hash, comparisons, printing and strip raise."""

    def __hash__(self) -> int:
        raise RuntimeError("hash")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    def __repr__(self) -> str:
        raise RuntimeError("repr")

    __str__ = __repr__

    def strip(self, chars: str | None = None) -> str:
        raise RuntimeError("strip")
