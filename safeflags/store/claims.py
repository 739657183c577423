"""The fate of a claim: applied by its own publisher, or abandoned.

A publisher claims version v by creating `history/<ch>/<v>.json`, then swings
the pointer to it. If it dies in between, the claim stays undecided. The next
writer that finds it older than `claim_timeout` abandons it *in its own
pointer swap*: the pointer's `abandoned` field names v, and the next version
is v+1. The swap is atomic, so of "the publisher applies v" and "someone
abandons v" exactly one happens. The pointer names one abandoned version at a
time; `abandoned/<ch>/<v>.json` marks each for good, written before the field
is overwritten with another (and after each abandon, best effort).

A claim is stale by its own time stamp (the claimer's clock) or by how long
this process has watched it stay undecided (its own monotonic clock, which
no skew can shorten). Staleness only decides who waits: a claimer that is
merely slow and finds its claim abandoned claims again, so it is safe either
way.
"""
from __future__ import annotations

import calendar
import json
import logging
import os
import time
from dataclasses import replace

from safeflags.store.backend import Backend
from safeflags.store.errors import PreconditionFailed, StoreError
from safeflags.store.layout import Pointer, Record, utc_now

log = logging.getLogger("safeflags")

CLAIM_TIMEOUT = 10.0  # seconds a claim may stay undecided before the next writer abandons it


def top(ptr: Pointer | None) -> int:
    """The highest version decided (applied or abandoned): the next claim is one more."""
    return max(ptr.latest, ptr.abandoned) if ptr is not None else 0


def abandoned_key(channel: str, version: int) -> str:
    return f"abandoned/{channel}/{version:010d}.json"


def actor() -> str:
    """Who is changing the channel, for the audit trail: the CI actor, else the login."""
    for var in ("SAFEFLAGS_ACTOR", "GITHUB_ACTOR", "USER", "USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    return ""


class Claims:
    def __init__(self, backend: Backend, timeout: float = CLAIM_TIMEOUT):
        self.backend = backend
        self.timeout = timeout
        self._watched: dict[tuple[str, int, str], float] = {}  # undecided claims seen -> when first

    def stale(self, channel: str, rec: Record) -> bool:
        if self.timeout <= 0:
            return True
        if len(self._watched) > 1024:
            self._watched.clear()
        now = time.monotonic()
        first = self._watched.setdefault((channel, rec.version, rec.digest), now)
        if now - first >= self.timeout:
            return True
        try:
            claimed = calendar.timegm(time.strptime(rec.published, "%Y-%m-%dT%H:%M:%SZ"))
        except ValueError:
            return False
        return time.time() - claimed >= self.timeout

    def abandoning(self, channel: str, ptr: Pointer | None, new: Pointer, claim: Record) -> Pointer:
        """`new`, also abandoning `claim` (for one compare-and-swap)."""
        if ptr is not None and ptr.abandoned:
            self.mark(channel, ptr.abandoned, strict=True)  # the field is about to name another
        log.warning("safeflags: version %d of %r in %s was claimed (%s) but never applied: its publish died or "
                    "stalled; abandoning it", claim.version, channel, self.backend.url, claim.published or "?")
        return replace(new, abandoned=claim.version)

    def mark(self, channel: str, version: int, *, strict: bool = False) -> None:
        body = {"version": version, "at": utc_now(), "by": actor()}
        try:
            self.backend.put(abandoned_key(channel, version), json.dumps(body, sort_keys=True).encode(),
                             if_absent=True)
        except PreconditionFailed:
            pass  # marked already
        except StoreError as exc:
            if strict:
                raise
            # Harmless: the pointer names it until the next abandon, which marks it first.
            log.warning("safeflags: cannot mark version %d of %r abandoned yet: %s", version, channel, exc)

    def is_abandoned(self, channel: str, ptr: Pointer | None, version: int) -> bool:
        if ptr is not None and ptr.abandoned == version:
            return True
        return self.backend.get(abandoned_key(channel, version)) is not None

    def abandoned(self, channel: str, ptr: Pointer | None) -> set[int]:
        """Every abandoned version of `channel` (`ptr`: its pointer, if any)."""
        out = {ptr.abandoned} if ptr is not None and ptr.abandoned else set()
        for entry in self.backend.list(f"abandoned/{channel}/"):
            name = entry.key.rsplit("/", 1)[-1]
            if name.endswith(".json") and name[:-5].isdigit():
                out.add(int(name[:-5]))
        return out
