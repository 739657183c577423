"""Wait on a condition with a deadline instead of sleeping a fixed time."""
from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(pred: Callable[[], object], timeout: float = 10.0, what: str = "condition",
               step: float = 0.005) -> float:
    """Return the seconds it took for pred() to hold; fail the test past the deadline."""
    start = time.monotonic()
    while True:
        if pred():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)
