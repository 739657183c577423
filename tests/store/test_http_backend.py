"""HttpBackend against real servers on 127.0.0.1: connection reuse, proxies
and CA bundles from the environment, the bearer token, conditional reads,
statuses, and reads bounded by the limits."""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from safeflags.store import (
    AccessDenied,
    Limits,
    NotModified,
    ObjectTooLarge,
    StoreError,
    StoreNotFound,
    StoreUnavailable,
    open_backend,
)
from safeflags.store.http import HttpBackend
from tests.helpers.waiting import wait_until
from tests.store.http_origin import ForwardProxy, Origin, Reply, self_signed

TOKEN = "s3cr3t-t0ken-value"
POINTER = "channels/prod.json"


@pytest.fixture
def origin() -> Iterator[Origin]:
    server = Origin()
    server.replies["/" + POINTER] = Reply(200, b'{"version": 1}', {"ETag": '"v1"'})
    yield server
    server.close()


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    server = ForwardProxy()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_many_requests_share_one_connection(origin: Origin) -> None:
    backend = HttpBackend(origin.url, timeout=5)
    for _ in range(20):
        obj = backend.get(POINTER)
        assert obj is not None and obj.data == b'{"version": 1}' and obj.etag == '"v1"'
    assert len(origin.seen) == 20 and origin.connections == 1
    backend.close()


def test_recycle_and_a_fork_dial_afresh(origin: Origin, monkeypatch: pytest.MonkeyPatch) -> None:
    import safeflags.store.http as http_module

    backend = HttpBackend(origin.url, timeout=5)
    backend.get(POINTER)
    backend.recycle()  # what a dropped event stream asks
    backend.get(POINTER)
    assert origin.connections == 2
    pid = http_module.os.getpid()
    monkeypatch.setattr(http_module.os, "getpid", lambda: pid + 1)  # as in a forked child
    backend.get(POINTER)
    backend.get(POINTER)
    assert origin.connections == 3  # its own connection, then reused
    assert [s.connection for s in origin.seen] == [1, 2, 3, 3]


def test_old_connections_are_retired(origin: Origin) -> None:
    backend = HttpBackend(origin.url, timeout=5, max_connection_age=0.0)
    backend.get(POINTER)
    assert origin.closed == 0  # kept alive
    backend.get(POINTER)
    assert origin.connections == 2
    wait_until(lambda: origin.closed == 1, what="the retired connection closed")


def test_recycle_closes_the_pooled_connection(origin: Origin) -> None:
    backend = HttpBackend(origin.url, timeout=5)
    backend.get(POINTER)
    backend.recycle()
    wait_until(lambda: origin.closed == 1, what="the pooled connection closed")


def test_conditional_get(origin: Origin) -> None:
    backend = HttpBackend(origin.url, timeout=5)
    first = backend.get(POINTER)
    assert first is not None
    origin.replies["/" + POINTER] = Reply(304, headers={"ETag": '"v1"'})
    with pytest.raises(NotModified):
        backend.get(POINTER, if_none_match=first.etag)
    assert origin.seen[-1].headers["if-none-match"] == '"v1"' and "if-none-match" not in origin.seen[0].headers


@pytest.mark.parametrize(("status", "error", "message"), [
    (401, AccessDenied, r"HTTP 401\): the store may want a bearer token \(token=\)"),
    (403, AccessDenied, "HTTP 403"),
    (429, StoreUnavailable, "HTTP 429"),
    (503, StoreUnavailable, "HTTP 503"),
    (418, StoreError, "unexpected HTTP 418"),
])
def test_statuses(origin: Origin, status: int, error: type[Exception], message: str) -> None:
    origin.replies["/" + POINTER] = Reply(status, b"no\n")
    with pytest.raises(error, match=message):
        HttpBackend(origin.url, timeout=5).get(POINTER)


def test_absent_objects_and_stores(origin: Origin) -> None:
    backend = HttpBackend(origin.url, timeout=5)
    assert backend.get("channels/nope.json") is None
    with pytest.raises(StoreNotFound):
        backend.check()  # /channels/ is 404 here
    origin.replies["/channels/"] = Reply(403)
    backend.check()  # a CDN may refuse listings and serve objects
    with pytest.raises(AccessDenied, match="refused the bearer token"):
        HttpBackend(origin.url, timeout=5, token=TOKEN).check()  # ...but a refused token is said at once


def test_unreachable_is_unavailable() -> None:
    from tests.helpers.s3server import free_ports

    with pytest.raises(StoreUnavailable, match="cannot read"):
        HttpBackend(f"http://127.0.0.1:{free_ports(1)[0]}", timeout=2).get(POINTER)


def test_bearer_token_on_every_request_and_never_logged(origin: Origin, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log every request at DEBUG
    backend = open_backend(origin.url, timeout=5, token=TOKEN)
    assert backend.get(POINTER) is not None
    assert backend.get("bundles/sha256-00.pb") is None
    backend.list("channels/")
    origin.replies["/" + POINTER] = Reply(403)
    with pytest.raises(AccessDenied) as refused:
        backend.get(POINTER)
    assert [s.headers.get("authorization") for s in origin.seen] == [f"Bearer {TOKEN}"] * 4
    assert "httpx" in caplog.text or "httpcore" in caplog.text  # the logs were there to leak into
    assert TOKEN not in caplog.text and TOKEN not in str(refused.value) and TOKEN not in repr(vars(backend))


def test_store_requests_log_at_debug_and_the_services_own_do_not(origin: Origin,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    import httpx

    origin.replies["/store/" + POINTER] = Reply(200, b"{}")
    origin.replies["/app"] = Reply(200, b"ok")
    caplog.set_level(logging.INFO)
    assert HttpBackend(origin.url + "/store", timeout=5).get(POINTER) is not None
    with httpx.Client() as own:
        own.get(origin.url + "/app")
    assert [r.getMessage().split()[3] for r in caplog.records if r.name == "httpx"] == [origin.url + "/app"]
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    HttpBackend(origin.url + "/store", timeout=5).get(POINTER)
    assert f"{origin.url}/store/{POINTER}" in caplog.text  # still there for whoever asks for DEBUG


def test_no_token_no_header(origin: Origin) -> None:
    HttpBackend(origin.url, timeout=5).get(POINTER)
    assert "authorization" not in origin.seen[0].headers
    assert origin.seen[0].headers["user-agent"].startswith("safeflags/")


@pytest.mark.parametrize("token", ["", "a\r\nX-Injected: 1"])
def test_a_token_that_is_no_header_value_is_refused(token: str) -> None:
    with pytest.raises(StoreError, match="bearer token"):
        HttpBackend("http://127.0.0.1:1", token=token)


def test_http_proxy_from_the_environment(origin: Origin, proxy: ForwardProxy,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    backend = HttpBackend(origin.url, timeout=5, token=TOKEN)
    obj = backend.get(POINTER)
    assert obj is not None and obj.data == b'{"version": 1}'
    assert proxy.targets == [f"{origin.url}/{POINTER}"]  # absolute form: through the proxy
    assert origin.paths() == [f"/{POINTER}"]


def test_no_proxy_is_honoured(origin: Origin, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert HttpBackend(origin.url, timeout=5).get(POINTER) is not None
    assert proxy.targets == [] and len(origin.seen) == 1


def test_https_proxy_and_ca_bundle_from_the_environment(tmp_path: Path, proxy: ForwardProxy,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    tls, cert = self_signed(tmp_path)
    secure = Origin(tls=tls)
    secure.replies["/" + POINTER] = Reply(200, b'{"version": 2}')
    try:
        with pytest.raises(StoreUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            HttpBackend(secure.url, timeout=5).get(POINTER)  # not trusted: the system's CA bundle
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        backend = HttpBackend(secure.url, timeout=5, token=TOKEN)
        for _ in range(3):
            obj = backend.get(POINTER)
            assert obj is not None and obj.data == b'{"version": 2}'
        port = secure.url.rsplit(":", 1)[1]
        assert proxy.targets == [f"127.0.0.1:{port}"]  # one CONNECT tunnel, reused
        assert "authorization" not in proxy.headers[0]  # the token travels inside the tunnel only
        assert [s.headers["authorization"] for s in secure.seen[-3:]] == [f"Bearer {TOKEN}"] * 3
    finally:
        secure.close()


# -- bounded reads -------------------------------------------------------------------------
LIMIT = 1 << 16


def endless(h: BaseHTTPRequestHandler, hung_up: threading.Event) -> None:
    """A 200 with no length that never ends; sets `hung_up` once the client stops reading."""
    h.send_response(200)
    h.send_header("Connection", "close")
    h.end_headers()
    endless_body(h, hung_up)


def endless_body(h: BaseHTTPRequestHandler, hung_up: threading.Event) -> None:
    try:
        while True:
            h.wfile.write(bytes(1 << 14))
    except OSError:
        hung_up.set()
    h.close_connection = True


def test_a_false_content_length_is_refused_unread(origin: Origin) -> None:
    key = "bundles/sha256-aa.pb"
    hung_up = threading.Event()

    def lying(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(1 << 40))
        h.end_headers()
        endless_body(h, hung_up)

    origin.scripts["/" + key] = lying
    with pytest.raises(ObjectTooLarge, match=f"{1 << 40:,} bytes"):
        HttpBackend(origin.url, timeout=5, limits=Limits(bundle=LIMIT)).get(key)
    assert hung_up.wait(10)


def test_an_endless_body_stops_at_the_limit(origin: Origin) -> None:
    key = "bundles/sha256-bb.pb"
    hung_up = threading.Event()
    origin.scripts["/" + key] = lambda h: endless(h, hung_up)
    with pytest.raises(ObjectTooLarge, match=f"larger than {LIMIT:,} bytes"):
        HttpBackend(origin.url, timeout=5, limits=Limits(bundle=LIMIT)).get(key)
    assert hung_up.wait(10)  # the client hung up instead of reading on


def test_the_pointer_limit_holds_for_pointers(origin: Origin) -> None:
    origin.replies["/" + POINTER] = Reply(200, b"{}" + b" " * 5000)
    with pytest.raises(ObjectTooLarge, match="max_pointer_size"):
        HttpBackend(origin.url, timeout=5, limits=Limits(pointer=4096)).get(POINTER)
    origin.replies["/" + POINTER] = Reply(200, b"{}" + b" " * 4094)
    assert HttpBackend(origin.url, timeout=5, limits=Limits(pointer=4096)).get(POINTER) is not None


def test_a_truncated_body_is_unavailable_never_an_object(origin: Origin) -> None:
    def short(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "1000")
        h.end_headers()
        h.wfile.write(bytes(10))
        h.wfile.flush()
        h.close_connection = True

    origin.scripts["/bundles/sha256-cc.pb"] = short
    with pytest.raises(StoreUnavailable, match="cannot read"):
        HttpBackend(origin.url, timeout=5).get("bundles/sha256-cc.pb")


def test_an_oversized_error_page_keeps_its_status(origin: Origin) -> None:
    origin.replies["/" + POINTER] = Reply(503, bytes(LIMIT * 4))
    with pytest.raises(StoreUnavailable, match="HTTP 503"):
        HttpBackend(origin.url, timeout=5, limits=Limits(pointer=LIMIT)).get(POINTER)


def test_a_compressed_bomb_is_bounded_by_what_it_inflates_to(origin: Origin) -> None:
    import gzip

    origin.replies["/bundles/sha256-dd.pb"] = Reply(200, gzip.compress(bytes(LIMIT * 16)),
                                                    {"Content-Encoding": "gzip"})
    with pytest.raises(ObjectTooLarge):
        HttpBackend(origin.url, timeout=5, limits=Limits(bundle=LIMIT)).get("bundles/sha256-dd.pb")
