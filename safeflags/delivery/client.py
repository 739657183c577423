"""`safeflags.Client(store=URL, channel=NAME, ...)`: the SDK client kept
current from a bundle store.

An Evaluator (the SDK's), so evaluation stays exactly the SDK's; this
adds the delivery options, the delivery status, change listeners, and the
STALE reason on `details()` when the snapshot has not been confirmed by the
store for longer than `stale_after` seconds.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from safeflags.delivery.delivery import Delivery, DeliveryStatus, Metrics, Update
from safeflags.sdk.details import EvaluationDetails, Reason
from safeflags.sdk.evaluator import ErrorHook, Evaluator
from safeflags.sdk.snapshot import Snapshot
from safeflags.store.backend import MAX_BUNDLE_SIZE, MAX_POINTER_SIZE


def start_delivery(client: Evaluator, *, store: str, channel: str, static: Mapping[str, object] | None = None,
                   on_change: Callable[[Update], object] | None = None, **options: Any) -> Delivery:
    """Keep any Evaluator current from `store` (the options of Delivery):
    loads synchronously, then refreshes in the background. For a plain Evaluator
    that wants delivery without this subclass; `Client(store=...)`
    calls it too."""
    if static is None:
        static = client.static_context
    delivery = Delivery(client, store=store, channel=channel, static=static, **options)
    if on_change is not None:
        delivery.listeners.append(on_change)
    return delivery.start()


class Client(Evaluator):
    def __init__(self, snapshot: Snapshot | None = None, *, static: Mapping[str, object] | None = None,
                 on_error: ErrorHook | None = None, store: str | None = None, channel: str | None = None,
                 cold_start: str | os.PathLike[str] | None = None,
                 cache_dir: str | os.PathLike[str] | None = None, poll_interval: float = 30.0,
                 public_key: Any = None, stale_after: float | None = None, timeout: float = 5.0,
                 push: bool = True, metrics: Metrics | None = None, warm: bool = True,
                 on_change: Callable[[Update], object] | None = None, min_refresh_interval: float = 1.0,
                 max_bundle_size: int = MAX_BUNDLE_SIZE, max_pointer_size: int = MAX_POINTER_SIZE,
                 token: str | None = None, gc_freeze: bool = True):
        """Without `store`, a plain SDK client. With it: load from the store
        (else `cache_dir`, else `cold_start`, else code defaults), then refresh
        every `poll_interval` seconds and on push, never twice within
        `min_refresh_interval`. `public_key` (Ed25519: PEM,
        a PEM file, or base64) makes unsigned or wrongly signed bundles faults.
        A bundle over `max_bundle_size` bytes or a pointer over
        `max_pointer_size` is a fault, refused unread. `token` is sent as a
        bearer token to an http(s):// store (`safeflags serve --token`).
        `metrics(event, attrs)` hears of updates, faults and recoveries.
        `gc_freeze` (with `store`): `gc.freeze()` after each swap, so a full
        collection no longer walks the snapshot (Evaluator.freeze_on_swap)."""
        super().__init__(snapshot, static=static, on_error=on_error)
        self.delivery: Delivery | None = None
        if store is None:
            options = {"channel": channel, "cold_start": cold_start, "cache_dir": cache_dir,
                       "public_key": public_key, "stale_after": stale_after, "metrics": metrics, "token": token}
            given = [name for name, value in options.items() if value is not None]
            if given:
                raise TypeError(f"{', '.join(given)} need store=URL")
            return
        if not channel:
            raise TypeError("store= needs channel=NAME")
        self.freeze_on_swap = gc_freeze
        self.delivery = start_delivery(
            self, store=store, channel=channel, static=static, cold_start=cold_start, cache_dir=cache_dir,
            poll_interval=poll_interval, public_key=public_key, stale_after=stale_after, timeout=timeout,
            push=push, metrics=metrics, warm=warm, on_change=on_change, min_refresh_interval=min_refresh_interval,
            max_bundle_size=max_bundle_size, max_pointer_size=max_pointer_size, token=token)

    def details(self, key: str, code_default: Any, ctx: Any = None, *, expect: str | None = None) -> EvaluationDetails:
        d = super().details(key, code_default, ctx, expect=expect)
        if self.delivery is not None and d.reason is not Reason.ERROR and self.delivery.is_stale():
            return replace(d, reason=Reason.STALE)
        return d

    def delivery_status(self) -> DeliveryStatus | None:
        """Where the snapshot came from, its version and age, the last error."""
        return self.delivery.status() if self.delivery is not None else None

    def on_change(self, listener: Callable[[Update], object]) -> None:
        """Call `listener(update)` with an Update after each new snapshot (on the delivery thread)."""
        if self.delivery is not None:
            self.delivery.listeners.append(listener)

    def refresh(self) -> bool:
        """Check the store now; True when a new version was swapped in. Never raises."""
        return self.delivery.refresh() if self.delivery is not None else False

    def close(self) -> None:
        """Stop the background threads (the last snapshot keeps serving)."""
        if self.delivery is not None:
            self.delivery.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
