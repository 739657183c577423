"""OFREP, the OpenFeature Remote Evaluation Protocol, over one channel (docs/ofrep.md).

    POST /ofrep/v1/evaluate/flags/{key}   one flag     (server-side providers: Go, Java, Node, ...)
    POST /ofrep/v1/evaluate/flags         every flag   (ETag; 304 on If-None-Match; `eventStreams`)
    GET  /ofrep/v1/events                 SSE: `data: {"type": "refetchEvaluation", ...}` on every publish

Evaluation is the in-process SDK's, per distinct *static* context: the
request context's attributes named after static dimensions of the bundle's
catalog pin them (exactly what `Client(static=...)` does in a Python
process); the rest are read per request. The bundle is parsed once per
digest; each static context (an LRU of `max_contexts`) has an Evaluator over
that parse for single flags, preparing only the flags asked for, and a Table
for bulk answers, which specialises every flag but generates no code
(table.py). Both are rebuilt in the background when the channel moves.

The result is a pure function of (bundle digest, context), so the bulk ETag
is a hash of both, a conditional request is answered without evaluating, and
bulk bodies are kept per (digest, context), bounded in bytes (bodies.py).
"""
from __future__ import annotations

from safeflags.serve.ofrep.bodies import Bodies
from safeflags.serve.ofrep.contexts import Contexts, StateLike
from safeflags.serve.ofrep.protocol import BadRequest, Catalog, Request
from safeflags.serve.ofrep.routes import Notifier, Ofrep, setup
from safeflags.serve.ofrep.table import Checked, Table

__all__ = ["BadRequest", "Bodies", "Catalog", "Checked", "Contexts", "Notifier", "Ofrep", "Request", "StateLike",
           "Table", "setup"]
