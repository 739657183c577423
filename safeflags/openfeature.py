"""An OpenFeature provider for safeflags (the official `openfeature-sdk` API).

    from openfeature import api
    from safeflags.openfeature import SafeflagsProvider

    api.set_provider(SafeflagsProvider(store="s3://flags/prod", channel="prod",
                                       static={"region": "eu-west-1"}, targeting_key="user_id"))
    api.get_client().get_boolean_value("billing.new_invoice_path", False, ctx)

Reasons and error codes map one to one (safeflags uses OpenFeature's names).
The evaluation context's attributes are the safeflags context; the targeting
key is passed as the dimension named by `targeting_key`. Types are strict as
in the SDK: an int flag read with `get_float_value` is a TYPE_MISMATCH.

Nothing starts in the constructor: `initialize()` (which the SDK calls from
`set_provider`) opens the store and loads. The status is the truth about the
flags served: NOT_READY until initialize has loaded a bundle; ERROR when it
found none at all (store unreachable, no cache, no cold-start bundle: code
defaults are served) until one arrives; READY while a bundle serves and
delivery is healthy; STALE on a delivery fault or a snapshot older than
`stale_after` (the last good flags keep serving), READY again on recovery.
A new bundle emits PROVIDER_CONFIGURATION_CHANGED.
"""
from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEvent, ProviderEventDetails
from openfeature.exception import ErrorCode as OFErrorCode
from openfeature.exception import GeneralError, ProviderFatalError
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType
from openfeature.flag_evaluation import Reason as OFReason
from openfeature.provider import AbstractProvider, Metadata, ProviderStatus

from safeflags.delivery import Client, Update
from safeflags.delivery.delivery import Delivery
from safeflags.sdk.details import ErrorCode, Reason
from safeflags.store.errors import StoreError

REASONS: dict[Reason, OFReason] = {r: OFReason(r.value) for r in Reason}
ERROR_CODES: dict[ErrorCode, OFErrorCode] = {e: OFErrorCode(e.value) for e in ErrorCode}
CLIENT_OPTIONS = ("snapshot", "static", "on_error")  # the Client's own; the rest are the delivery's
# How long a STALE found by initialize() waits for the SDK to record the READY that follows it.
SETTLE = 10.0


def _delivery_options() -> set[str]:
    params = inspect.signature(Delivery.__init__).parameters
    return {name for name, p in params.items() if p.kind is p.KEYWORD_ONLY} - {"backend", "static"}


class SafeflagsProvider(AbstractProvider):
    def __init__(self, client: Client | None = None, *, targeting_key: str = "targeting_key", **options: Any):
        """Wrap a ready `client`, or build one from `options` (the arguments of
        safeflags.Client: store=, channel=, static=, cache_dir=, token=, ...)
        when the SDK initializes the provider."""
        super().__init__()
        if client is not None and options:
            raise TypeError("give a client or client options, not both")
        self._owned = client is None
        self.targeting_key = targeting_key
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._initializing = False
        # What this provider last told the SDK (the SDK keeps its own copy, set from our events).
        self._status = ProviderStatus.NOT_READY
        if client is not None:
            self.client = client
            self._delivery_options: dict[str, Any] = {}
            if client.delivery is not None:
                self._observe(client.delivery)
            return
        unknown = set(options) - set(CLIENT_OPTIONS) - _delivery_options() - {"on_change"}
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(sorted(unknown))}")
        if not options.get("store") or not options.get("channel"):
            raise TypeError("give a client, or store=URL and channel=NAME")
        self.client = Client(**{k: options[k] for k in CLIENT_OPTIONS if k in options})
        self._delivery_options = {k: v for k, v in options.items() if k not in CLIENT_OPTIONS}

    def get_metadata(self) -> Metadata:
        return Metadata(name="safeflags")

    @property
    def status(self) -> ProviderStatus:
        """What this provider last reported (the SDK's `get_provider_status()` follows it)."""
        return self._status

    # -- life cycle ------------------------------------------------------------------
    def initialize(self, evaluation_context: EvaluationContext) -> None:
        """Load (store, else cache, else cold start) and start refreshing.
        Returns once a bundle serves (the SDK then reports READY); raises
        GeneralError when none could be loaded (ERROR; delivery keeps trying,
        and the first bundle makes the provider READY), ProviderFatalError on
        a configuration no retry can mend (a malformed store URL)."""
        self._closed.clear()
        with self._lock:
            self._initializing = True
        try:
            if self._owned and self.client.delivery is None:
                self._start()
            delivery = self.client.delivery
            if not self.client.snapshot.ready:
                why = delivery.status().last_error if delivery is not None else None
                with self._lock:
                    self._status = ProviderStatus.ERROR
                raise GeneralError(f"no bundle to serve ({why or 'the client has none'}): "
                                   "code defaults until one loads")
            with self._lock:
                self._status = ProviderStatus.READY
                faulty = self._faulty()
            if faulty is not None:
                # A STALE said now would be overwritten by the READY the SDK records after we return.
                threading.Thread(target=self._stale_once_ready, args=(faulty,), daemon=True,
                                 name="safeflags-openfeature-status").start()
        finally:
            with self._lock:
                self._initializing = False

    def _start(self) -> None:
        options = dict(self._delivery_options)
        on_change = options.pop("on_change", None)
        static = self.client.static_context
        try:
            delivery = Delivery(self.client, static=static, **options)
        except StoreError as exc:
            raise ProviderFatalError(f"cannot open the store: {exc}") from None
        if on_change is not None:
            delivery.listeners.append(on_change)
        self._observe(delivery)  # before start(): the first load's events count too
        self.client.delivery = delivery.start()

    def _observe(self, delivery: Delivery) -> None:
        delivery.listeners.append(self._changed)
        delivery.observers.append(self._delivery_event)

    def shutdown(self) -> None:
        self._closed.set()
        if self._owned and self.client.delivery is not None:
            self.client.close()
            self.client.delivery = None
        with self._lock:
            self._status = ProviderStatus.NOT_READY

    # -- status ------------------------------------------------------------------------
    def _faulty(self, *, fetched: bool = False) -> str | None:
        """Why the flags served are not current, or None when they are."""
        delivery = self.client.delivery
        if delivery is None:
            return None
        if delivery.incident is not None and not fetched:
            return delivery.last_error or delivery.incident
        if delivery.is_stale():
            return f"snapshot not confirmed by the store for over {delivery.stale_after:g} s"
        return None

    def _move(self, status: ProviderStatus, message: str) -> None:
        """Tell the SDK of a change of status, once per change."""
        events = {ProviderStatus.READY: ProviderEvent.PROVIDER_READY,
                  ProviderStatus.STALE: ProviderEvent.PROVIDER_STALE}
        with self._lock:
            if self._initializing or self._status is status or self._closed.is_set():
                return  # initialize() reports its own outcome
            self._status = status
        self.emit(events[status], ProviderEventDetails(message=message))

    def _review(self, *, fetched: bool = False) -> None:
        """The status the flags served deserve now. `fetched`: a bundle has
        just come from the store, so delivery works, whatever incident it has
        yet to close."""
        if not self.client.snapshot.ready:
            return  # ERROR or NOT_READY, until a bundle arrives
        faulty = self._faulty(fetched=fetched)
        if faulty is None:
            self._move(ProviderStatus.READY, "serving the current bundle")
        else:
            self._move(ProviderStatus.STALE, faulty)

    def _stale_once_ready(self, message: str) -> None:
        from openfeature.provider._registry import provider_registry  # where the SDK keeps each status

        deadline = time.monotonic() + SETTLE
        while provider_registry.get_provider_status(self) is ProviderStatus.NOT_READY:
            if self._closed.wait(0.01) or time.monotonic() > deadline:
                return
        with self._lock:
            self._status = ProviderStatus.READY  # what the SDK recorded
        faulty = self._faulty()
        if faulty is not None:
            self._move(ProviderStatus.STALE, faulty or message)

    def _changed(self, change: Update) -> None:
        with self._lock:
            if self._initializing:
                return
            was = self._status
        if was in (ProviderStatus.READY, ProviderStatus.STALE):
            self.emit_provider_configuration_changed(ProviderEventDetails(
                message=f"channel {change.channel} now at version {change.version}",
                metadata={"version": change.version or 0, "digest": change.digest}))
        self._review(fetched=change.origin == "store")

    def _delivery_event(self, event: str, attrs: Mapping[str, object]) -> None:
        # Fail static in OpenFeature's words: a delivery fault makes the served
        # flags STALE (still served), recovery makes the provider READY again.
        if event in ("safeflags.delivery.fault", "safeflags.delivery.recovered"):
            self._review()

    # -- evaluation ----------------------------------------------------------------------
    def _resolve(self, key: str, default: Any, ctx: EvaluationContext | None,
                 expect: str) -> FlagResolutionDetails[Any]:
        if self._status in (ProviderStatus.READY, ProviderStatus.STALE) and self.client.delivery is not None:
            self._review()  # staleness comes (and goes) with time, not with an event
        d = self.client.details(key, default, self._context(ctx), expect=expect)
        meta: dict[str, bool | int | float | str] = {}
        snap = self.client.snapshot
        if snap.ready:
            meta["bundle_digest"] = snap.digest
            if snap.source_revision:
                meta["source_revision"] = snap.source_revision
        return FlagResolutionDetails(
            value=d.value, reason=REASONS.get(d.reason, OFReason.UNKNOWN), variant=d.variant,
            error_code=ERROR_CODES.get(d.error_code) if d.error_code is not None else None,
            error_message=d.error_message, flag_metadata=meta)

    def _context(self, ctx: EvaluationContext | None) -> dict[str, Any] | None:
        if ctx is None:
            return None
        out = dict(ctx.attributes)
        if ctx.targeting_key is not None:
            out.setdefault(self.targeting_key, ctx.targeting_key)
        return out

    def resolve_boolean_details(self, flag_key: str, default_value: bool,
                                evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[bool]:
        return self._resolve(flag_key, default_value, evaluation_context, "bool")

    def resolve_string_details(self, flag_key: str, default_value: str,
                               evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[str]:
        return self._resolve(flag_key, default_value, evaluation_context, "string")

    def resolve_integer_details(self, flag_key: str, default_value: int,
                                evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[int]:
        return self._resolve(flag_key, default_value, evaluation_context, "int")

    def resolve_float_details(self, flag_key: str, default_value: float,
                              evaluation_context: EvaluationContext | None = None) -> FlagResolutionDetails[float]:
        return self._resolve(flag_key, default_value, evaluation_context, "float")

    def resolve_object_details(
        self, flag_key: str, default_value: Sequence[FlagValueType] | Mapping[str, FlagValueType],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[FlagValueType] | Mapping[str, FlagValueType]]:
        return self._resolve(flag_key, default_value, evaluation_context, "json")
