"""Delivery across os.fork(): gunicorn --preload, celery prefork and
multiprocessing's fork context load the flags in the parent, then fork
workers. A forked child has only the thread that forked, so without this its
poller and push listener are gone and it serves the parent's snapshot until
it is STALE, saying nothing.

One hook per process (`os.register_at_fork`) restarts, in the child, every
Delivery still running: fresh locks and events (a thread of the parent may
have held one at the fork, and that thread does not exist in the child: the
lock would stay held for good), a store connection of its own, new threads.
What the parent's threads were holding (sockets of the store and of the event
stream) is left alone, never closed: the parent shares those descriptors,
and a shutdown from the child would cut the parent's connection.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import weakref
from typing import Any, Protocol

log = logging.getLogger("safeflags")


class Restartable(Protocol):
    channel: str

    def after_fork(self, parent: int) -> None: ...


_live: weakref.WeakSet[Any] = weakref.WeakSet()
_registered = False


def track(delivery: Restartable) -> None:
    """Restart `delivery` in every child forked while it runs (untrack it when closed)."""
    global _registered
    if not _registered:
        _registered = True
        os.register_at_fork(after_in_child=_after_in_child)
    _live.add(delivery)


def untrack(delivery: Restartable) -> None:
    _live.discard(delivery)


def _after_in_child() -> None:
    parent = os.getppid()
    _reinit_sdk_locks()
    for delivery in list(_live):
        try:
            delivery.after_fork(parent)
        except Exception:  # one delivery's failure must not stop the others, nor the child
            log.exception("safeflags: cannot restart delivery of channel %r in forked child pid %d",
                          delivery.channel, os.getpid())


def _reinit_sdk_locks() -> None:
    # The SDK's module-level code cache lock is taken while a refresh warms a
    # snapshot: forked during that, the child's first lazy preparation would wait
    # forever. Looked up, not imported: no import machinery in a fork hook.
    codegen = sys.modules.get("safeflags.sdk.codegen")
    if codegen is not None and hasattr(codegen, "_CODE_LOCK"):
        setattr(codegen, "_CODE_LOCK", threading.Lock())  # noqa: B010 (a private name the stubs do not know)


def fresh_locks(*objects: Any) -> None:
    """Give each of `objects` (an Evaluator, a Snapshot) a new `_lock` / `_problem_lock`
    where it has one: only a thread that no longer exists can be holding the old one."""
    for obj in objects:
        for name in ("_lock", "_problem_lock"):
            if isinstance(getattr(obj, name, None), type(threading.Lock())):
                setattr(obj, name, threading.Lock())
