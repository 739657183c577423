"""OFREP's messages: the request body read strictly into a safeflags context,
the bulk ETag, and an in-process evaluation as OFREP's success or failure."""
from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from safeflags.sdk.details import ErrorCode, EvaluationDetails
from safeflags.sdk.snapshot import Snapshot

log = logging.getLogger("safeflags.serve")

PREFIX = "/ofrep/v1"
MAX_BODY = 64 << 10
"""Bytes of a request body read at most: a context is a few hundred bytes."""
MAX_ATTRIBUTES = 256
MAX_TEXT = 1024
"""Characters of the targeting key and of any string attribute naming a dimension."""
MAX_KEY = 512
"""Characters of a flag key in a path, at most (longer ones are answered as not found, unread)."""
RETRY_AFTER = "1"
JSON_TYPE = "application/json"
_SCALARS = (str, int, float, bool)


class BadRequest(Exception):
    """A request answered with an OFREP error (HTTP status, errorCode) instead of an evaluation."""

    def __init__(self, status: int, code: str, details: str):
        super().__init__(details)
        self.status, self.code, self.details = status, code, details


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed, validated OFREP request body: the safeflags context it asks for."""

    context: dict[str, object]
    static: dict[str, object]
    static_key: str
    canonical: str  # the context as canonical JSON: half of the bulk ETag


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate keys in an object")
    return out


def decode_body(body: bytes) -> Mapping[str, Any]:
    """The `context` object of a request body; BadRequest when it is not one."""
    if len(body) > MAX_BODY:
        raise BadRequest(413, "INVALID_CONTEXT", f"request body over {MAX_BODY} bytes")
    try:
        doc = json.loads(body.decode("utf-8"), parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadRequest(400, "INVALID_CONTEXT", f"request body is not JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict):
        raise BadRequest(400, "INVALID_CONTEXT", "request body must be a JSON object")
    # Other fields are ignored: the schema does not forbid them. A missing context is
    # the empty one: the Python provider sends `{}` for an empty evaluation context.
    context = doc.get("context", {})
    if not isinstance(context, dict):
        raise BadRequest(400, "INVALID_CONTEXT", "context must be a JSON object")
    if len(context) > MAX_ATTRIBUTES:
        raise BadRequest(400, "INVALID_CONTEXT", f"context has over {MAX_ATTRIBUTES} attributes")
    return context


class Catalog:
    """What a bundle's dimension catalog means for a request context."""

    def __init__(self, snapshot: Snapshot, targeting_key: str, pinned: Mapping[str, object]):
        dims = list(snapshot.bundle.dimensions)
        self.names = frozenset(d.name for d in dims)
        self.static = frozenset(d.name for d in dims if d.static)
        self.targeting_key = targeting_key
        self.pinned = {k: v for k, v in pinned.items() if k in self.static}
        if targeting_key not in self.names:
            log.warning("safeflags serve: OFREP targetingKey maps to dimension %r, which bundle %s does not "
                        "declare: the targeting key is ignored", targeting_key, snapshot.digest)

    def request(self, context: Mapping[str, Any]) -> Request:
        """The safeflags context of an OFREP context: attributes named after
        dimensions, plus the targeting key as `targeting_key` unless an
        attribute names that dimension (as safeflags.openfeature does)."""
        ctx: dict[str, object] = {}
        for name, value in context.items():
            if name == "targetingKey" or name not in self.names:
                continue  # not a dimension: cannot change any result, so it stays out of the ETag too
            if value is not None and not isinstance(value, _SCALARS):
                raise BadRequest(400, "INVALID_CONTEXT",
                                 f"attribute {name!r} is a dimension and takes a string, number or boolean")
            if isinstance(value, float) and not math.isfinite(value):  # 1e999 parses as infinity
                raise BadRequest(400, "INVALID_CONTEXT", f"attribute {name!r} is not a finite number")
            if isinstance(value, str) and len(value) > MAX_TEXT:
                raise BadRequest(400, "INVALID_CONTEXT", f"attribute {name!r} is over {MAX_TEXT} characters")
            ctx[name] = value
        key = context.get("targetingKey")
        if key is not None:
            if not isinstance(key, str):
                raise BadRequest(400, "INVALID_CONTEXT", "targetingKey must be a string")
            if len(key) > MAX_TEXT:
                raise BadRequest(400, "INVALID_CONTEXT", f"targetingKey is over {MAX_TEXT} characters")
            if self.targeting_key in self.names:
                ctx.setdefault(self.targeting_key, key)
        ctx.update(self.pinned)  # the server's own static values win, as a pinned value does in-process
        static = {k: v for k, v in ctx.items() if k in self.static and v is not None}
        static_key = json.dumps(sorted(static.items()), separators=(",", ":"))
        canonical = json.dumps(ctx, sort_keys=True, separators=(",", ":"))
        return Request(ctx, static, static_key, canonical)


def bulk_etag(digest: str, request: Request) -> str:
    text = f"{digest}\n{request.canonical}".encode()
    return '"' + hashlib.sha256(text).hexdigest()[:40] + '"'


def etag_matches(header: str, etag: str) -> bool:
    """If-None-Match holds `etag` (weak comparison, as RFC 9110 asks for it)."""
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


def evaluation(details: EvaluationDetails) -> tuple[int, dict[str, object]]:
    """HTTP status and OFREP body of one in-process evaluation."""
    code = details.error_code
    if code is None:
        # `variant` is always present (null for a flag without named variants):
        # the Python provider reads it unconditionally.
        return 200, {"key": details.flag_key, "value": details.value, "reason": details.reason.value,
                     "variant": details.variant, "metadata": {}}
    failure: dict[str, object] = {"key": details.flag_key, "errorCode": code.value,
                                  "errorDetails": details.error_message or code.value}
    if code is ErrorCode.FLAG_NOT_FOUND:
        return 404, failure
    if code in (ErrorCode.PARSE_ERROR, ErrorCode.INVALID_CONTEXT):
        return 400, failure
    failure["errorCode"] = ErrorCode.GENERAL.value
    return 500, failure


def dump(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def dump_item(body: dict[str, object]) -> bytes:
    """One flag's OFREP body; a value JSON cannot carry (NaN, infinity) is a GENERAL error."""
    try:
        return dump(body)
    except (ValueError, TypeError):
        return dump({"key": body.get("key"), "errorCode": "GENERAL", "errorDetails": "value is not JSON"})
