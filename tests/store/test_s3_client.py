"""The store-backed client reading a real S3-compatible server."""
from __future__ import annotations

import pytest

from safeflags.delivery import Client
from safeflags.store import open_store
from tests.helpers.bundles import numbered
from tests.helpers.waiting import wait_until


def test_client_follows_an_s3_channel(s3_env) -> None:  # type: ignore[no-untyped-def]
    url = f"s3://{s3_env.bucket}/client"
    store = open_store(url)
    store.publish(numbered(1), "prod")
    with Client(store=url, channel="prod", poll_interval=0.1) as client:
        assert client.get_int("t.n", 0) == 1
        # Polls in between are conditional (304): they confirm the snapshot, load nothing.
        first = client.delivery_status().synced_at  # type: ignore[union-attr]
        wait_until(lambda: client.delivery_status().synced_at > first, what="a poll")  # type: ignore[union-attr, operator]
        assert client.delivery_status().updates == 1  # type: ignore[union-attr]
        store.publish(numbered(2), "prod")
        wait_until(lambda: client.get_int("t.n", 0) == 2, what="version 2 from S3")
        st = client.delivery_status()
        assert st is not None and st.healthy and st.version == 2 and st.faults == {}


def test_wrong_credentials_are_a_counted_fault(s3_env, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    url = f"s3://{s3_env.bucket}/client-creds"
    open_store(url).publish(numbered(1), "prod")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with Client(store=url, channel="prod", poll_interval=0.1) as client:
        assert client.details("t.n", 0).error_code is not None  # nothing to serve
        st = client.delivery_status()
        assert st is not None and st.faults.get("access_denied") == 1 and "access denied" in (st.last_error or "")
