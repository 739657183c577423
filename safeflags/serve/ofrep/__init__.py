"""OFREP, the OpenFeature Remote Evaluation Protocol, over one channel (docs/ofrep.md).

    POST /ofrep/v1/evaluate/flags/{key}   one flag     (server-side providers: Go, Java, Node, ...)
    POST /ofrep/v1/evaluate/flags         every flag   (ETag; 304 on If-None-Match; `eventStreams`)
    GET  /ofrep/v1/events                 SSE: `data: {"type": "refetchEvaluation", ...}` on every publish

Evaluation is the in-process SDK's: the channel's bundle as a Snapshot per
distinct *static* context. The request context's attributes named after
static dimensions of the bundle's catalog pin them (exactly what
`Client(static=...)` does in a Python process); the rest are read per request.
Specialised snapshots are kept in an LRU of `max_contexts`, rebuilt from the
previous one (`Snapshot.from_bytes(..., previous=)`) when the channel moves.

The result is a pure function of (bundle digest, context), so the bulk ETag
is a hash of both and a conditional request is answered without evaluating.
"""
from __future__ import annotations

from safeflags.serve.ofrep.contexts import Contexts, StateLike
from safeflags.serve.ofrep.protocol import BadRequest, Catalog, Request
from safeflags.serve.ofrep.routes import Notifier, Ofrep, setup

__all__ = ["BadRequest", "Catalog", "Contexts", "Notifier", "Ofrep", "Request", "StateLike", "setup"]
