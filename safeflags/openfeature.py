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
A new bundle emits PROVIDER_CONFIGURATION_CHANGED; a delivery fault emits
PROVIDER_STALE (the last good flags keep serving) and recovery PROVIDER_READY.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import ErrorCode as OFErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType
from openfeature.flag_evaluation import Reason as OFReason
from openfeature.provider import AbstractProvider, Metadata

from safeflags.delivery import Client, Update
from safeflags.sdk.details import ErrorCode, Reason

REASONS: dict[Reason, OFReason] = {r: OFReason(r.value) for r in Reason}
ERROR_CODES: dict[ErrorCode, OFErrorCode] = {e: OFErrorCode(e.value) for e in ErrorCode}


class SafeflagsProvider(AbstractProvider):
    def __init__(self, client: Client | None = None, *, targeting_key: str = "targeting_key", **options: Any):
        """Wrap a ready `client`, or build one from `options` (the arguments of
        safeflags.Client: store=, channel=, static=, cache_dir=, ...)."""
        super().__init__()
        if client is not None and options:
            raise TypeError("give a client or client options, not both")
        self._owned = client is None
        self.client: Client = client if client is not None else Client(**options)
        self.targeting_key = targeting_key
        if self.client.delivery is not None:
            self.client.on_change(self._changed)
            self.client.delivery.observers.append(self._delivery_event)

    def get_metadata(self) -> Metadata:
        return Metadata(name="safeflags")

    def shutdown(self) -> None:
        if self._owned:
            self.client.close()

    def _changed(self, change: Update) -> None:
        if hasattr(self, "_on_emit"):  # only once attached to the OpenFeature API
            self.emit_provider_configuration_changed(ProviderEventDetails(
                message=f"channel {change.channel} now at version {change.version}",
                metadata={"version": change.version or 0, "digest": change.digest}))

    def _delivery_event(self, event: str, attrs: Mapping[str, object]) -> None:
        # Fail static in OpenFeature's words: a delivery fault makes the cached
        # flags STALE (still served), recovery makes the provider READY again.
        if not hasattr(self, "_on_emit"):
            return
        if event == "safeflags.delivery.fault":
            self.emit_provider_stale(ProviderEventDetails(message=f"{attrs['kind']}: {attrs['message']}"))
        elif event == "safeflags.delivery.recovered":
            self.emit_provider_ready(ProviderEventDetails(message="delivery recovered"))

    def _resolve(self, key: str, default: Any, ctx: EvaluationContext | None,
                 expect: str) -> FlagResolutionDetails[Any]:
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
