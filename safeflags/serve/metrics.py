"""Counters and gauges of `safeflags serve`, rendered in the Prometheus text format (GET /metrics).

Names are given without the `safeflags_serve_` prefix (`metrics.inc("events_sent_total")`),
so every route module names its own counters and they all land in one namespace.
Everything runs on the server's event loop: no locks.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

PREFIX = "safeflags_serve_"

LabelKey = tuple[tuple[str, str], ...]

HELP = {
    "connections": "Open client connections.",
    "connections_total": "Client connections accepted.",
    "connections_refused_total": "Connections closed at once, by reason (per_client limit).",
    "subscribers": "Open event streams.",
    "subscribers_dropped_total": "Event streams closed because the client did not read in time.",
    "publishes_seen_total": "Channel moves seen by the store watcher, per channel.",
    "events_sent_total": "Server-Sent Events written to streams (channel moves, not heartbeats).",
    "bytes_sent_total": "Response body bytes written, event streams included.",
    "requests_total": "Requests answered, by route and status.",
    "requests_refused_total": "Requests refused before routing, by reason (malformed: 400 and closed).",
    "channels_watched": "Channels the store watcher polls.",
    "watch_errors_total": "Store polls that failed.",
    "store_reads_total": "Objects read from the store, by kind.",
    "last_watch_timestamp_seconds": "When the store watcher last completed a poll (Unix time).",
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """Counters set by `inc`, gauges read when rendered (`gauge(name, fn)`)."""

    def __init__(self) -> None:
        self._counters: dict[str, dict[LabelKey, int]] = defaultdict(lambda: defaultdict(int))
        self._gauges: dict[str, Callable[[], float]] = {}

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        self._counters[name][tuple(sorted((k, str(v)) for k, v in labels.items()))] += amount

    def gauge(self, name: str, fn: Callable[[], float]) -> None:
        self._gauges[name] = fn

    def value(self, name: str, **labels: str) -> int:
        """A counter's current value (tests, /healthz)."""
        return self._counters.get(name, {}).get(tuple(sorted(labels.items())), 0)

    def render(self) -> bytes:
        lines: list[str] = []
        for name in sorted(self._gauges):
            full = PREFIX + name
            lines += [f"# HELP {full} {HELP.get(name, name)}", f"# TYPE {full} gauge",
                      f"{full} {self._gauges[name]():g}"]
        for name in sorted(self._counters):
            full = PREFIX + name
            lines += [f"# HELP {full} {HELP.get(name, name)}", f"# TYPE {full} counter"]
            for key, value in sorted(self._counters[name].items()):
                labels = ",".join(f'{k}="{_escape(v)}"' for k, v in key)
                lines.append(f"{full}{{{labels}}} {value}" if labels else f"{full} {value}")
        return ("\n".join(lines) + "\n").encode()
