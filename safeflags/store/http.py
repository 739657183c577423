"""A read-only store over plain HTTP(S): `safeflags serve`, or a CDN / static
web server in front of a bucket, with the same key layout.

Stdlib only (http.client), so the SDK needs nothing more to read it. Reads are
conditional (ETag / If-None-Match). A body shorter than its Content-Length is a
fault, never a bundle; one longer than the backend's limits (or a
Content-Length over them) is refused, so an endless body costs at most the
limit.
"""
from __future__ import annotations

import http.client
import json
import ssl
import time
import urllib.parse

from safeflags.store.backend import Keys, Limits, Obj, ObjectInfo
from safeflags.store.errors import (
    AccessDenied,
    NotModified,
    StoreError,
    StoreNotFound,
    StoreUnavailable,
)


class HttpBackend:
    def __init__(self, url: str, *, timeout: float = 10.0, total_timeout: float | None = None,
                 headers: dict[str, str] | None = None, limits: Limits | None = None):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise StoreError(f"bad HTTP store URL {url!r}")
        self.url = url.rstrip("/")
        self.scheme = parsed.scheme
        self.host = parsed.hostname
        self.port = parsed.port
        self.base_path = parsed.path.rstrip("/")
        self.timeout = timeout
        # The whole of one request, body included.
        self.total_timeout = total_timeout if total_timeout is not None else 6 * timeout
        self.headers = dict(headers or {})
        self.limits = limits or Limits()

    def connect(self, timeout: float | None = None) -> http.client.HTTPConnection:
        t = self.timeout if timeout is None else timeout
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=t,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(self.host, self.port, timeout=t)

    def path(self, key: str) -> str:
        return self.base_path + "/" + urllib.parse.quote(key)

    def request(self, path: str, headers: dict[str, str] | None = None, *,
                key: str = "bundles/") -> tuple[int, dict[str, str], bytes]:
        """GET `path`; the body is held to the limit of `key` (listings: the bundle limit)."""
        conn = self.connect()
        what = f"{self.url}{path[len(self.base_path):]}"
        try:
            conn.request("GET", path, headers={**self.headers, **(headers or {})})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, self._body(resp, what, key)
        except (OSError, http.client.HTTPException) as exc:
            raise StoreUnavailable(f"cannot read {self.url}{path[len(self.base_path):]}: "
                                   f"{type(exc).__name__}: {exc}") from None
        finally:
            conn.close()

    def _body(self, resp: http.client.HTTPResponse, what: str, key: str) -> bytes:
        """The whole body, within `total_timeout` and the size limit of `key`.
        The socket timeout bounds each read only: a server dripping a byte at
        a time would hold a refresh forever without this deadline, and one
        sending without end would fill the memory without the limit."""
        deadline = time.monotonic() + self.total_timeout
        expected = resp.getheader("Content-Length")
        limit = self.limits.of(key)
        if resp.status == 200 and expected is not None and expected.isdigit() and int(expected) > limit:
            raise self.limits.refuse(key, what, int(expected))
        chunks = []
        total = 0
        while chunk := resp.read1(min(1 << 16, limit + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                if resp.status != 200:
                    return b"".join(chunks)[:limit]  # an error page: its status is what counts
                raise self.limits.refuse(key, what)
            if time.monotonic() > deadline:
                raise StoreUnavailable(f"cannot read {what}: too slow (no complete answer in "
                                       f"{self.total_timeout:g} s)")
        body = b"".join(chunks)
        if expected is not None and expected.isdigit() and len(body) != int(expected):
            # The connection ended early: a truncated download never passes as whole.
            raise StoreUnavailable(f"cannot read {what}: truncated ({len(body)} of {expected} bytes)")
        return body

    def _status(self, status: int, what: str) -> None:
        if status in (401, 403):
            raise AccessDenied(f"access denied to {what} (HTTP {status})")
        if status >= 500 or status == 429:
            raise StoreUnavailable(f"{what}: server error HTTP {status}")
        if status != 200:
            raise StoreError(f"{what}: unexpected HTTP {status}")

    def check(self) -> None:
        status, _, _ = self.request(self.base_path + "/channels/")
        if status == 404:
            raise StoreNotFound(f"store {self.url} does not exist (HTTP 404)")
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
