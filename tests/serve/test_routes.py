"""The routes of `safeflags serve`: the store's own layout with the right caching headers,
the immutable pieces, listings, /healthz and /metrics."""
from __future__ import annotations

import hashlib
import json

from safeflags.store import BundleStore, open_store
from safeflags.store.layout import chunk_key, digest_of, manifest_key
from tests.helpers.delivery import Publisher
from tests.helpers.waiting import wait_until
from tests.serve.conftest import Serve, Watched
from tests.serve.wire import connect, read_all, request, response

IMMUTABLE = "public, max-age=31536000, immutable"


def get(port: int, path: str, *headers: str) -> tuple[int, dict[str, str], bytes]:
    with connect(port) as sock:
        sock.sendall(request(path, *headers))
        return response(sock)


def test_bundle_manifest_and_chunks_are_immutable_with_the_digest_as_etag(pub: Publisher, serve: Serve) -> None:
    srv = serve()
    ptr = pub.store.pointer("prod")
    status, headers, body = get(srv.port, f"/bundles/{ptr.digest}.pb")
    assert status == 200 and digest_of(body) == ptr.digest
    assert headers["cache-control"] == IMMUTABLE and headers["etag"] == f'"{ptr.digest}"'
    status, headers, manifest = get(srv.port, f"/manifests/{ptr.digest}.pb")
    assert status == 200 and manifest == pub.store.backend.get(manifest_key(ptr.digest)).data  # type: ignore[union-attr]
    assert headers["cache-control"] == IMMUTABLE and headers["etag"] == f'"{ptr.digest}"'
    chunks = [e.key for e in pub.store.backend.list("chunks/")]
    assert chunks
    for key in chunks:
        name = key.removeprefix("chunks/").removesuffix(".pb")
        status, headers, data = get(srv.port, f"/chunks/{name}.pb")
        assert status == 200 and "sha256-" + hashlib.sha256(data).hexdigest() == name
        assert headers["cache-control"] == IMMUTABLE and headers["etag"] == f'"{name}"'
        assert get(srv.port, f"/chunks/{name}.pb", f'If-None-Match: "{name}"')[0] == 304


def test_unknown_or_malformed_pieces_are_404(serve: Serve) -> None:
    srv = serve()
    missing = "sha256-" + "0" * 64
    for path in (f"/bundles/{missing}.pb", f"/manifests/{missing}.pb", f"/chunks/{missing}.pb",
                 "/chunks/sha256-xyz.pb", "/bundles/../channels/prod.json.pb", "/nothing/here"):
        assert get(srv.port, path)[0] == 404, path


def test_a_piece_that_does_not_match_its_digest_is_never_served(pub: Publisher, serve: Serve) -> None:
    forged = "sha256-" + hashlib.sha256(b"what it should be").hexdigest()
    pub.store.backend.put(chunk_key(forged), b"something else")
    srv = serve()
    assert get(srv.port, f"/chunks/{forged}.pb")[0] == 502


def test_pointer_etag_and_no_cache(pub: Publisher, serve: Serve) -> None:
    srv = serve()
    status, headers, body = get(srv.port, "/channels/prod.json")
    assert status == 200 and json.loads(body)["version"] == 1 and headers["cache-control"] == "no-cache"
    assert get(srv.port, "/channels/prod.json", f"If-None-Match: {headers['etag']}")[0] == 304
    pub.publish(2)
    wait_until(lambda: get(srv.port, "/channels/prod.json", f"If-None-Match: {headers['etag']}")[0] == 200,
               what="the moved pointer served")


def test_history_records_and_listings(pub: Publisher, serve: Serve) -> None:
    pub.publish(2)
    srv = serve()
    status, headers, body = get(srv.port, "/history/prod/")
    assert status == 200 and headers["cache-control"] == "no-cache"
    keys = [e["key"] for e in json.loads(body)]
    assert keys == ["history/prod/0000000001.json", "history/prod/0000000002.json"]
    status, _, record = get(srv.port, "/" + keys[0])
    assert status == 200 and json.loads(record)["version"] == 1
    assert get(srv.port, "/history/prod/?prefix=history/prod/0000000002")[2].count(b'"key"') == 1
    reader = open_store(srv.url)  # the read-only HTTP store on top of all this
    assert reader.channels() == ["prod"] and [r.version for r in reader.history("prod")] == [1, 2]


def test_head_answers_without_a_body(pub: Publisher, serve: Serve) -> None:
    srv = serve()
    with connect(srv.port) as sock:
        sock.sendall(request("/channels/prod.json", method="HEAD") + request("/healthz", "Connection: close"))
        data = read_all(sock)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: 0" not in head
    assert rest.startswith(b"HTTP/1.1 200")  # the next response right after the head: no body between


def test_healthz_says_whether_the_store_watch_succeeds(watched: tuple[Watched, BundleStore], serve: Serve) -> None:
    backend, store = watched
    srv = serve(store=store, list_interval=0.05)
    status, _, body = get(srv.port, "/healthz")
    assert status == 200 and json.loads(body)["store_reachable"] is True
    backend.down = True
    wait_until(lambda: json.loads(get(srv.port, "/healthz")[2])["store_reachable"] is False,
               what="the failed watch reported")
    assert get(srv.port, "/channels/prod.json")[0] == 200  # what it has, it still serves
    backend.down = False
    wait_until(lambda: json.loads(get(srv.port, "/healthz")[2])["store_reachable"] is True, what="recovered")


def test_healthz_turns_503_once_the_watch_is_stale(watched: tuple[Watched, BundleStore], serve: Serve) -> None:
    backend, store = watched
    srv = serve(store=store)
    assert get(srv.port, "/healthz")[0] == 200
    backend.down = True
    srv.state.last_watch = 0.0  # as if the last good poll were long ago
    wait_until(lambda: get(srv.port, "/healthz")[0] == 503, what="503 for a stale watch")
    assert get(srv.port, "/healthz")[1]["cache-control"] == "no-store"


def test_metrics_in_prometheus_text_format(pub: Publisher, serve: Serve) -> None:
    srv = serve()
    get(srv.port, "/channels/prod.json")
    get(srv.port, "/nothing")
    pub.publish(2)
    wait_until(lambda: srv.state.metrics.value("publishes_seen_total", channel="prod") == 1, what="publish seen")
    status, headers, body = get(srv.port, "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    for line in ('safeflags_serve_requests_total{route="channel",status="200"} 1',
                 'safeflags_serve_requests_total{route="unmatched",status="404"} 1',
                 'safeflags_serve_publishes_seen_total{channel="prod"} 1',
                 "# TYPE safeflags_serve_subscribers gauge", "safeflags_serve_subscribers 0",
                 "# TYPE safeflags_serve_connections gauge", "# TYPE safeflags_serve_bytes_sent_total counter"):
        assert line in text.splitlines(), line
    for sample in (ln for ln in text.splitlines() if ln and not ln.startswith("#")):
        name, value = sample.rsplit(" ", 1)
        float(value)  # every sample is `name{labels} number`
        assert name.startswith("safeflags_serve_")
