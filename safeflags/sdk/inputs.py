"""Reading what callers hand the SDK: expected digests and static contexts.
Whatever the object, reading it either yields plain data or raises
BundleError; a hostile object's own methods are never called."""
from __future__ import annotations

import re
from collections.abc import Mapping

from safeflags.sdk.kernel.errors import BundleError

_HEX = re.compile(r"[0-9a-f]{64}\Z")


def parse_digest(text: str) -> str:
    """Lower-case hex of a SHA-256 given as "sha256-<hex>" or "<hex>"."""
    # A str subclass is read as its characters, never through its own methods.
    exact = str.__str__(text) if issubclass(type(text), str) else None
    hexpart = exact.strip().lower().removeprefix("sha256-") if exact is not None else ""
    if not _HEX.match(hexpart):
        given = repr(exact) if exact is not None else f"of type {type(text).__name__}"
        raise BundleError(f"expected digest {given[:80]} is not a SHA-256 (sha256-<64 hex digits>)")
    return hexpart


def read_static(static: object) -> tuple[dict[str, object], list[str]]:
    """A plain copy of a static context: its str-keyed entries (a str subclass
    key as its characters), and a description of each other key, which can
    name no dimension and is reported as ignored. Reads the mapping once;
    BundleError when it cannot be read, whatever it raises."""
    if static is None:
        return {}, []
    if not issubclass(type(static), Mapping):
        raise BundleError(f"static context must be a mapping, not {type(static).__name__}")
    copy: dict[str, object] = {}
    unnamed: list[str] = []
    try:
        for key, value in list(static.items()):  # type: ignore[attr-defined]
            if type(key) is str:
                copy[key] = value
            elif issubclass(type(key), str):
                copy[str.__str__(key)] = value
            else:
                unnamed.append(describe(key))
    except Exception as exc:
        raise BundleError(f"static context cannot be read: {type(exc).__name__} from its "
                          f"{type(static).__name__}") from None
    return copy, unnamed


def describe(thing: object) -> str:
    """A short repr that cannot raise (a hostile object's own repr may)."""
    try:
        text = repr(thing)
    except Exception:
        text = None
    if type(text) is not str:
        return f"<{type(thing).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."
