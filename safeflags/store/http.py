"""A read-only store over plain HTTP(S): `safeflags serve`, or a CDN / static
web server in front of a bucket, with the same key layout.

On httpx: one connection pool per backend, so a poller's requests reuse one
kept-alive connection instead of a TCP (and TLS) handshake each; proxies and
CA bundles from the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY,
SSL_CERT_FILE), as every other HTTP client of the service honours them.
Reads are conditional (ETag / If-None-Match). A body shorter than its
Content-Length is a fault, never a bundle; one longer than the backend's
limits (or a Content-Length over them) is refused, so an endless body costs at
most the limit. An optional bearer token goes with every request, the event
stream's included; it is never part of a message or a log line.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import urllib.parse
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

import httpx

from safeflags.store.backend import Keys, Limits, Obj, ObjectInfo
from safeflags.store.errors import (
    AccessDenied,
    NotModified,
    StoreError,
    StoreNotFound,
    StoreUnavailable,
)
from safeflags.version import __version__

# An idle pooled connection is kept this long: past the default 30 s poll
# interval, so each poll reuses the last one, and under the 60 s idle timeout
# of common load balancers, which would otherwise close it under our feet.
KEEPALIVE = 50.0
USER_AGENT = f"safeflags/{__version__}"
# Raised before any response arrived: what a kept-alive connection closed by
# the server at the moment it is reused looks like. A GET is safe to send again.
STALE_CONNECTION = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class PollsAtDebug(logging.Filter):
    """httpx logs every request at INFO: a poll every 30 s from every process
    would fill a service's logs with no news. Requests to a store are demoted
    to DEBUG (shown to a handler at DEBUG still); the service's own httpx
    requests keep their level."""

    def __init__(self) -> None:
        super().__init__()
        self.stores: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.levelno == logging.INFO and isinstance(args, tuple) and len(args) >= 2 \
                and str(args[1]).startswith(tuple(self.stores)):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


POLLS_AT_DEBUG = PollsAtDebug()
logging.getLogger("httpx").addFilter(POLLS_AT_DEBUG)


class BearerToken(httpx.Auth):
    """`Authorization: Bearer ...` on every request. An Auth rather than a
    default header: it stays out of the client's headers and of every repr."""

    def __init__(self, token: str):
        if not token or any(c in token for c in "\r\n\0"):
            raise StoreError("the store's bearer token is empty or holds a line break")
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "BearerToken(<hidden>)"


@dataclass
class _Lease:
    client: httpx.Client
    pid: int
    born: float = field(default_factory=time.monotonic)
    users: int = 0
    retired: bool = False


class HttpBackend:
    def __init__(self, url: str, *, timeout: float = 10.0, total_timeout: float | None = None,
                 headers: dict[str, str] | None = None, limits: Limits | None = None, token: str | None = None,
                 max_connection_age: float = 300.0):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise StoreError(f"bad HTTP store URL {url!r}")
        self.url = url.rstrip("/")
        self.origin = f"{parsed.scheme}://{parsed.netloc}"
        self.base_path = parsed.path.rstrip("/")
        self.timeout = timeout
        # The whole of one request, body included.
        self.total_timeout = total_timeout if total_timeout is not None else 6 * timeout
        self.headers = dict(headers or {})
        self.limits = limits or Limits()
        self.auth = BearerToken(token) if token is not None else None
        # Connections are dialled afresh this often: behind a load balancer that
        # balances connections, new servers then get their share after a scale-out.
        self.max_connection_age = max_connection_age
        self._lease: _Lease | None = None
        self._lock = threading.Lock()
        try:
            POLLS_AT_DEBUG.stores.add(str(httpx.URL(self.url + "/")))
        except httpx.InvalidURL as exc:
            raise StoreError(f"bad HTTP store URL {url!r}: {exc}") from None

    def new_client(self, *, read_timeout: float | None = None, connections: int = 4,
                   keepalive: bool = True) -> httpx.Client:
        """A client with this backend's proxies, CA bundle, token and headers;
        the event stream opens its own, so a held stream never takes the
        connection a poll needs."""
        timeout = httpx.Timeout(self.timeout, read=self.timeout if read_timeout is None else read_timeout)
        try:
            return httpx.Client(
                auth=self.auth, headers={"User-Agent": USER_AGENT, **self.headers}, timeout=timeout,
                limits=httpx.Limits(max_connections=connections,
                                    max_keepalive_connections=connections if keepalive else 0,
                                    keepalive_expiry=KEEPALIVE),
                trust_env=True, follow_redirects=False)
        except (ValueError, OSError, httpx.InvalidURL) as exc:
            # A malformed HTTPS_PROXY, or an SSL_CERT_FILE that is not there.
            raise StoreError(f"cannot reach {self.url} with the proxy and TLS settings of the environment "
                             f"(HTTPS_PROXY, HTTP_PROXY, SSL_CERT_FILE): {exc}") from None

    @contextlib.contextmanager
    def _leased(self) -> Iterator[httpx.Client]:
        """The pooled client, held for one request. A client past `max_connection_age`
        (or recycled) is retired: closed once its last request ends."""
        expired: _Lease | None = None
        with self._lock:
            lease = self._lease
            if lease is not None and lease.pid == os.getpid() and \
                    time.monotonic() - lease.born > self.max_connection_age:
                lease.retired = True
                expired, lease = (lease if lease.users == 0 else None), None
            if lease is None or lease.pid != os.getpid():
                # A forked child must not talk over its parent's pooled sockets:
                # both would read one stream of responses. Dropped, not closed,
                # since closing could end the parent's connection too.
                lease = self._lease = _Lease(self.new_client(), os.getpid())
            lease.users += 1
        if expired is not None:
            expired.client.close()
        try:
            yield lease.client
        finally:
            with self._lock:
                lease.users -= 1
                done = lease.retired and lease.users == 0
            if done:
                lease.client.close()

    def recycle(self) -> None:
        """Dial afresh at the next request. The event stream calls it when it
        drops: the server behind may have gone or restarted, and a kept-alive
        connection to one that is shutting down would keep polling it."""
        with self._lock:
            lease, self._lease = self._lease, None
            if lease is None or lease.pid != os.getpid():
                return
            lease.retired = True
            done = lease.users == 0
        if done:
            lease.client.close()

    def close(self) -> None:
        self.recycle()

    def path(self, key: str) -> str:
        return self.base_path + "/" + urllib.parse.quote(key)

    def request(self, path: str, headers: dict[str, str] | None = None, *,
                key: str = "bundles/") -> tuple[int, dict[str, str], bytes]:
        """GET `path`; the body is held to the limit of `key` (listings: the bundle limit)."""
        what = f"{self.url}{path[len(self.base_path):]}"
        try:
            with self._leased() as client:
                req = client.build_request("GET", self.origin + path, headers=headers)
                try:
                    resp = client.send(req, stream=True)
                except STALE_CONNECTION:
                    resp = client.send(req, stream=True)
                try:
                    body = self._body(resp, what, key)
                finally:
                    resp.close()  # a body not read to its end closes the connection instead of pooling it
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"cannot read {what}: {type(exc).__name__}: {exc}") from None
        return resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, body

    def _body(self, resp: httpx.Response, what: str, key: str) -> bytes:
        """The whole body, within `total_timeout` and the size limit of `key`.
        The read timeout bounds each read only: a server dripping a byte at a
        time would hold a refresh forever without this deadline, and one
        sending without end would fill the memory without the limit. The
        limit counts decoded bytes, so a compressed bomb is stopped too; a
        short body is h11's RemoteProtocolError, never a bundle."""
        deadline = time.monotonic() + self.total_timeout
        expected = resp.headers.get("Content-Length")
        limit = self.limits.of(key)
        if resp.status_code == 200 and expected is not None and expected.isdigit() and int(expected) > limit:
            raise self.limits.refuse(key, what, int(expected))
        chunks = []
        total = 0
        for chunk in resp.iter_bytes():
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                if resp.status_code != 200:
                    return b"".join(chunks)[:limit]  # an error page: its status is what counts
                raise self.limits.refuse(key, what)
            if time.monotonic() > deadline:
                raise StoreUnavailable(f"cannot read {what}: too slow (no complete answer in "
                                       f"{self.total_timeout:g} s)")
        return b"".join(chunks)

    def _status(self, status: int, what: str) -> None:
        if status in (401, 403):
            told = ("the store refused the bearer token given (token=)" if self.auth is not None
                    else "the store may want a bearer token (token=)")
            raise AccessDenied(f"access denied to {what} (HTTP {status}): {told}")
        if status >= 500 or status == 429:
            raise StoreUnavailable(f"{what}: server error HTTP {status}")
        if status != 200:
            raise StoreError(f"{what}: unexpected HTTP {status}")

    def check(self) -> None:
        status, _, _ = self.request(self.base_path + "/channels/")
        if status == 404:
            raise StoreNotFound(f"store {self.url} does not exist (HTTP 404)")
        if status == 403 and self.auth is not None:  # a token was given and refused: say so now
            self._status(status, self.url)
        if status not in (200, 403):  # a CDN may refuse listings and still serve objects
            self._status(status, self.url)

    def get(self, key: str, if_none_match: str | None = None) -> Obj | None:
        headers = {"If-None-Match": if_none_match} if if_none_match else {}
        status, hdrs, body = self.request(self.path(key), headers, key=key)
        if status == 304:
            raise NotModified
        if status == 404:
            return None
        self._status(status, f"{self.url}/{key}")
        return Obj(body, hdrs.get("etag", ""))

    def info(self, key: str) -> ObjectInfo | None:
        # Read-only and rarely asked (writers ask it of their own store): a GET says as much as a HEAD would.
        return None if self.get(key) is None else ObjectInfo(key, 0.0)

    def sweep(self, older_than: float, now: float) -> Keys:
        return []  # read-only: nothing of ours to remove

    def list(self, prefix: str) -> list[ObjectInfo]:
        # `safeflags serve` answers a listing of a folder as JSON; a CDN may not.
        folder = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
        status, _, body = self.request(self.path(folder) + "?prefix=" + urllib.parse.quote(prefix))
        if status == 404:
            return []
        self._status(status, f"{self.url}/{folder}")
        try:
            items = json.loads(body)
            return [ObjectInfo(str(i["key"]), float(i["modified"])) for i in items]
        except (ValueError, KeyError, TypeError):
            raise StoreError(f"{self.url}/{folder}: not a listing") from None

    def put(self, key: str, data: bytes, *, if_match: str | None = None, if_absent: bool = False) -> str:
        raise StoreError(f"{self.url} is read-only: publish to the file:// or s3:// store behind it")

    def delete(self, key: str) -> None:
        raise StoreError(f"{self.url} is read-only")
