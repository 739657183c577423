from __future__ import annotations

from tests.helpers.delivery import pub, server, signed

__all__ = ["pub", "server", "signed"]
