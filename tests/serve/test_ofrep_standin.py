"""The OFREP routes over a stand-in of the server's state: request
validation, error shapes, ETags, the specialised-context LRU and the event
stream, without the rest of `safeflags serve`. test_ofrep.py runs the real
server and the real providers."""
from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeflags.sdk.evaluator import Evaluator
from safeflags.serve.ofrep import Ofrep, setup
from safeflags.store import Pointer
from tests.helpers.repo import FlagRepo, bool_flag
from tests.helpers.waiting import wait_until

CHANNEL = "prod"
FLAGS = "/ofrep/v1/evaluate/flags"


class Metrics:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        self.counts[key] = self.counts.get(key, 0) + amount

    def total(self, name: str) -> int:
        return sum(n for (metric, _), n in self.counts.items() if metric == name)


class StandInState:
    """What safeflags.serve.state.ServeState offers OFREP, over memory."""

    def __init__(self) -> None:
        self.metrics = Metrics()
        self.bundles: dict[str, bytes] = {}
        self.current: Pointer | None = None
        self.listeners: list[Callable[[str, Pointer], None]] = []
        self.bundle_reads = 0

    def pointer(self, channel: str) -> tuple[bytes, str, Pointer] | None:
        if channel != CHANNEL or self.current is None:
            return None
        return b"{}", f'"{self.current.version}"', self.current

    async def bundle(self, digest: str) -> bytes | None:
        self.bundle_reads += 1
        return self.bundles.get(digest)

    def add_listener(self, fn: Callable[[str, Pointer], None]) -> None:
        self.listeners.append(fn)

    def publish(self, data: bytes) -> Pointer:
        """On the event loop: the new pointer, then the listeners, as the server does."""
        digest = "sha256-" + hashlib.sha256(data).hexdigest()
        version = self.current.version + 1 if self.current else 1
        self.bundles[digest] = data
        self.current = Pointer(channel=CHANNEL, version=version, digest=digest, latest=version,
                               updated="2026-12-02T05:00:00Z")
        for fn in self.listeners:
            fn(CHANNEL, self.current)
        return self.current


def auth_middleware(token: str) -> Any:
    @web.middleware
    async def check(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {token}":
            return web.Response(status=401, text="unauthorized")
        return await handler(request)
    return check


class Harness:
    """An aiohttp app with the OFREP routes, served on a loopback port from a thread."""

    def __init__(self, *, token: str | None = None, **options: Any):
        self.state = StandInState()
        self.loop = asyncio.new_event_loop()
        app = web.Application(middlewares=[auth_middleware(token)] if token else [])
        self.ofrep: Ofrep = setup(app, self.state, CHANNEL, **options)
        self.runner = web.AppRunner(app, shutdown_timeout=1.0)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, fn: Callable[[], Any]) -> Any:
        async def run() -> Any:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def publish(self, data: bytes) -> Pointer:
        pointer: Pointer = self.call(lambda: self.state.publish(data))
        return pointer

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """The example repository, then the same with one more flag."""
    repo = FlagRepo(Path(tmp_path_factory.mktemp("repo")), with_examples=True)
    first = repo.compile().data
    repo.write("billing.ofrep_probe", bool_flag(default="true"))
    return first, repo.compile().data


@pytest.fixture
def harness(bundles: tuple[bytes, bytes]) -> Iterator[Harness]:
    h = Harness(max_contexts=4, heartbeat=0.2)
    h.publish(bundles[0])
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def http(harness: Harness) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=harness.url, timeout=10) as client:
        yield client


CTX = {"targetingKey": "u-17", "workspace_id": "ws-1234", "region": "eu-west-1", "environment": "prod"}


def test_a_flag_is_served_as_the_in_process_sdk_serves_it(http: httpx.Client, bundles: tuple[bytes, bytes]) -> None:
    r = http.post(f"{FLAGS}/checkout.cta_copy", json={"context": CTX})
    static = {"region": "eu-west-1", "environment": "prod"}
    want = Evaluator.from_bytes(bundles[0], static=static).details(
        "checkout.cta_copy", None, {"user_id": "u-17", "workspace_id": "ws-1234", **static})
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json() == {"key": "checkout.cta_copy", "value": want.value, "reason": want.reason.value,
                        "variant": want.variant, "metadata": {}}


def test_an_unknown_flag_is_404_flag_not_found(http: httpx.Client) -> None:
    r = http.post(f"{FLAGS}/no.such_flag", json={"context": CTX})
    assert r.status_code == 404
    body = r.json()
    assert (body["key"], body["errorCode"]) == ("no.such_flag", "FLAG_NOT_FOUND")
    assert "no.such_flag" in body["errorDetails"]


@pytest.mark.parametrize(("body", "status", "needle"), [
    (b"[]", 400, "JSON object"),
    (b'{"context": []}', 400, "context must be"),
    (b'{"context": {"targetingKey": 17}}', 400, "targetingKey"),
    (b'{"context": {"workspace_id": ["a"]}}', 400, "workspace_id"),
    (b'{"context": {}, "context": {}}', 400, "duplicate"),
    (b'{"context": {"seats": NaN}}', 400, "not JSON"),
    (b'{"context": {"seats": 1e999}}', 400, "finite"),
    (b"\xff\xfe", 400, "not JSON"),
    (b"", 400, "not JSON"),
    (b'{"context": {"x": "' + b"a" * (70 << 10) + b'"}}', 413, "bytes"),
])
def test_a_bad_body_is_refused_with_invalid_context(http: httpx.Client, body: bytes, status: int,
                                                    needle: str) -> None:
    for path in (f"{FLAGS}/checkout.cta_copy", FLAGS):
        r = http.post(path, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == status, (path, r.text)
        got = r.json()
        assert got["errorCode"] == "INVALID_CONTEXT"
        assert needle in got["errorDetails"]
        assert ("key" in got) == (path != FLAGS)


def test_a_body_that_is_not_json_by_its_type_is_415(http: httpx.Client) -> None:
    r = http.post(FLAGS, content=b'{"context": {}}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


def test_before_the_channel_has_a_bundle_the_answer_is_503_with_retry_after(bundles: tuple[bytes, bytes]) -> None:
    h = Harness()
    try:
        r = httpx.post(f"{h.url}{FLAGS}/checkout.cta_copy", json={"context": {}})
        assert r.status_code == 503
        assert r.headers["Retry-After"] == "1"
        assert r.json()["errorCode"] == "GENERAL"
    finally:
        h.close()


def test_bulk_has_an_etag_answers_304_and_changes_with_a_publish(harness: Harness, http: httpx.Client,
                                                                 bundles: tuple[bytes, bytes]) -> None:
    first = http.post(FLAGS, json={"context": CTX})
    assert first.status_code == 200
    etag = first.headers["ETag"]
    keys = [f["key"] for f in first.json()["flags"]]
    assert keys == sorted(Evaluator.from_bytes(bundles[0]).snapshot.flags)
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = http.post(FLAGS, json={"context": CTX}, headers={"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.content == b""
        assert again.headers["ETag"] == etag
    other = http.post(FLAGS, json={"context": {**CTX, "targetingKey": "u-18"}}, headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["ETag"] != etag
    # An attribute that names no dimension cannot change a value, so it leaves the ETag alone.
    noise = http.post(FLAGS, json={"context": {**CTX, "requestId": "r-1"}}, headers={"If-None-Match": etag})
    assert noise.status_code == 304

    pointer = harness.publish(bundles[1])
    # What a provider sends after a refetchEvaluation event (ADR-0008): accepted, nothing more needed.
    moved = http.post(FLAGS, params={"flagConfigEtag": pointer.digest, "flagConfigLastModified": "1796187600"},
                      json={"context": CTX}, headers={"If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["ETag"] != etag
    body = moved.json()
    assert {"key": "billing.ofrep_probe", "value": True, "reason": "STATIC", "variant": None,
            "metadata": {}} in body["flags"]
    assert body["metadata"] == {"channel": CHANNEL, "digest": pointer.digest}
    assert body["eventStreams"] == [{"type": "sse", "endpoint": {"requestUri": "/ofrep/v1/events"}}]


def test_a_bundle_that_cannot_load_leaves_the_last_good_one_serving(harness: Harness, http: httpx.Client,
                                                                   bundles: tuple[bytes, bytes]) -> None:
    first = http.post(FLAGS, json={"context": CTX})
    harness.publish(b"not a bundle")
    still = http.post(FLAGS, json={"context": CTX}, headers={"If-None-Match": first.headers["ETag"]})
    assert still.status_code == 304
    one = http.post(f"{FLAGS}/checkout.cta_copy", json={"context": CTX})
    served = {f["key"]: f["value"] for f in first.json()["flags"]}
    assert one.status_code == 200 and one.json()["value"] == served["checkout.cta_copy"]
    pointer = harness.publish(bundles[1])
    moved = http.post(FLAGS, json={"context": CTX})
    assert moved.json()["metadata"]["digest"] == pointer.digest


def test_static_dimensions_of_the_context_specialise_a_bounded_set_of_snapshots(harness: Harness,
                                                                                http: httpx.Client) -> None:
    regions = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ca-central-1"]
    for region in regions:
        r = http.post(f"{FLAGS}/billing.tax_engine_v2", json={"context": {**CTX, "region": region}})
        assert r.status_code == 200
    entries = harness.call(lambda: dict(harness.ofrep.contexts.entries))
    assert len(entries) == 4  # max_contexts
    assert {e.snapshot.static.get("region") for e in entries.values()} >= {"eu-west-1", "ca-central-1"}
    assert harness.state.metrics.total("ofrep_contexts_evicted_total") >= 3


def test_a_publish_rebuilds_the_cached_contexts_from_the_previous_ones(harness: Harness, http: httpx.Client,
                                                                      bundles: tuple[bytes, bytes]) -> None:
    http.post(FLAGS, json={"context": CTX})
    pointer = harness.publish(bundles[1])
    wait_until(lambda: all(e.snapshot.digest == pointer.digest
                           for e in harness.call(lambda: list(harness.ofrep.contexts.entries.values()))),
               what="the cached contexts rebuilt for the new bundle")
    r = http.post(f"{FLAGS}/billing.ofrep_probe", json={"context": CTX})
    assert r.json()["value"] is True


@pytest.mark.parametrize("targeting_key", ["workspace_id", "user_id"])
def test_the_targeting_key_fills_the_dimension_it_is_configured_for(bundles: tuple[bytes, bytes],
                                                                    targeting_key: str) -> None:
    h = Harness(targeting_key=targeting_key)
    try:
        h.publish(bundles[0])
        service = {"service": "billing", "service_version": "2.15.0"}  # what the flag requires
        evaluator = Evaluator.from_bytes(bundles[0], static=service)
        reasons = set()
        with httpx.Client(base_url=h.url) as client:
            for i in range(200):  # the flag ramps on workspace_id at 5 %: some of 200 units are in
                r = client.post(f"{FLAGS}/billing.new_invoice_path",
                                json={"context": {"targetingKey": f"k-{i}", **service}})
                want = evaluator.details("billing.new_invoice_path", None, {targeting_key: f"k-{i}"})
                assert (r.json()["value"], r.json()["reason"]) == (want.value, want.reason.value)
                reasons.add(want.reason.value)
        assert ("SPLIT" in reasons) == (targeting_key == "workspace_id")
    finally:
        h.close()


def test_a_dimension_the_server_pins_ignores_the_request_value(bundles: tuple[bytes, bytes]) -> None:
    h = Harness(static_dims={"region": "us-gov-west-1", "not_a_dimension": 1})
    try:
        h.publish(bundles[0])
        pinned = Evaluator.from_bytes(bundles[0], static={"region": "us-gov-west-1"})
        for region in ("eu-west-1", "us-gov-west-1"):
            body = httpx.post(f"{h.url}{FLAGS}", json={"context": {"targetingKey": "u", "region": region}}).json()
            for item in body["flags"]:
                want = pinned.details(item["key"], None, {"user_id": "u"})
                assert (item["value"], item["reason"]) == (want.value, want.reason.value), item["key"]
    finally:
        h.close()


def test_the_event_stream_tells_subscribers_to_refetch_on_a_publish(harness: Harness,
                                                                    bundles: tuple[bytes, bytes]) -> None:
    lines: list[str] = []
    with httpx.Client(base_url=harness.url, timeout=10) as client, \
            client.stream("GET", "/ofrep/v1/events") as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        wait_until(lambda: harness.ofrep.notifier.subscribers == 1, what="the subscriber")
        pointer = harness.publish(bundles[1])
        for line in stream.iter_lines():
            lines.append(line)
            if line.startswith("data:"):
                break
    data = json.loads(lines[-1].removeprefix("data:"))
    assert data == {"type": "refetchEvaluation", "etag": pointer.digest, "lastModified": 1796187600}
    assert "event: message" in lines
    assert any(line.startswith("id: prod:2:") for line in lines)


def test_a_subscriber_reconnecting_after_a_missed_publish_hears_of_it_at_once(harness: Harness) -> None:
    with httpx.Client(base_url=harness.url, timeout=10) as client, \
            client.stream("GET", "/ofrep/v1/events", headers={"Last-Event-ID": "prod:0:000000000000"}) as stream:
        data = next(line for line in stream.iter_lines() if line.startswith("data:"))
    assert json.loads(data.removeprefix("data:"))["type"] == "refetchEvaluation"


def test_auth_middleware_of_the_server_covers_the_routes(bundles: tuple[bytes, bytes]) -> None:
    h = Harness(token="s3cret")
    try:
        h.publish(bundles[0])
        assert httpx.post(f"{h.url}{FLAGS}", json={"context": {}}).status_code == 401
        ok = httpx.post(f"{h.url}{FLAGS}", json={"context": {}}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
    finally:
        h.close()


def test_snapshot_builds_are_counted_for_metrics(harness: Harness, http: httpx.Client) -> None:
    before = harness.state.metrics.total("ofrep_snapshots_built_total")
    http.post(f"{FLAGS}/checkout.cta_copy", json={"context": {**CTX, "region": "us-west-2"}})
    http.post(f"{FLAGS}/checkout.cta_copy", json={"context": {**CTX, "region": "us-west-2"}})
    assert harness.state.metrics.total("ofrep_snapshots_built_total") == before + 1


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4),
                           max_leaves=12)
dimension_names = st.sampled_from(["targetingKey", "user_id", "region", "environment", "seats", "app_version",
                                   "account_created_at", "beta_opt_in", "service", "x"])
contexts = st.dictionaries(dimension_names | st.text(max_size=8), json_values, max_size=6)
bodies = (st.builds(lambda c: json.dumps({"context": c}).encode(), contexts)
          | st.builds(lambda v: json.dumps(v).encode(), json_values)
          | st.binary(max_size=64))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, key=st.sampled_from(["checkout.cta_copy", "platform.logging_policy", "search.max_query_terms",
                                         "nope", "a%2Fb"]))
def test_no_body_gets_a_server_error(http: httpx.Client, body: bytes, key: str) -> None:
    for path in (f"{FLAGS}/{key}", FLAGS):
        r = http.post(path, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code in (200, 400, 404), (path, body, r.status_code, r.text)
        got = r.json()
        assert ("flags" in got) if r.status_code == 200 and path == FLAGS else ("key" in got or "errorCode" in got)


def test_a_bulk_answer_prepares_no_flag_and_a_repeat_is_the_kept_body(harness: Harness, http: httpx.Client) -> None:
    ctx = {**CTX, "region": "ca-central-1"}
    first = http.post(FLAGS, json={"context": ctx})
    other = http.post(FLAGS, json={"context": {**ctx, "targetingKey": "someone-else"}})
    assert first.status_code == other.status_code == 200
    prepared = harness.call(lambda: sum(len(fast) for e in harness.ofrep.contexts.entries.values()
                                        for fast in e.snapshot.fast.values()))
    assert prepared == 0  # the bulk path generates no code, in no context
    assert harness.state.metrics.total("ofrep_tables_built_total") == 1  # one static context, one table
    assert harness.call(lambda: len(harness.ofrep.bodies)) == 2
    again = http.post(FLAGS, json={"context": ctx})
    assert (again.content, again.headers["ETag"]) == (first.content, first.headers["ETag"])
    assert harness.state.metrics.total("ofrep_tables_built_total") == 1
