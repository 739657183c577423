"""Real local HTTP servers for the HTTP client's tests: a scripted origin
that records every request and counts the connections it accepted, a
forwarding proxy (plain requests and CONNECT tunnels) that records what it
forwarded, and a self-signed certificate for 127.0.0.1."""
from __future__ import annotations

import datetime
import ipaddress
import select
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.helpers.local_http import LocalHTTP, QuietHandler


@dataclass
class Seen:
    path: str
    headers: dict[str, str]  # lowercase names
    connection: int  # which accepted connection carried it (1, 2, ...)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Script = Callable[[BaseHTTPRequestHandler], None]


class Origin(LocalHTTP):
    """Answers each path from `replies` (or a `scripts` function that writes
    the response itself); 404 otherwise."""

    def __init__(self, tls: ssl.SSLContext | None = None, root: Path | None = None):
        self.root = root  # a directory served for paths with no reply or script
        self.replies: dict[str, Reply] = {}
        self.scripts: dict[str, Script] = {}
        self.seen: list[Seen] = []
        self.connections = 0
        self.closed = 0  # connections ended, by either side
        self._lock = threading.Lock()
        origin = self

        class Handler(QuietHandler):
            def setup(self) -> None:
                super().setup()
                with origin._lock:
                    origin.connections += 1
                    self.number = origin.connections

            def finish(self) -> None:
                super().finish()
                with origin._lock:
                    origin.closed += 1

            def do_GET(self) -> None:
                path = urllib.parse.urlsplit(self.path).path
                with origin._lock:
                    origin.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()},
                                            self.number))
                if path in origin.scripts:
                    return origin.scripts[path](self)
                reply = origin.replies.get(path) or origin.file(path)
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if "Content-Length" not in reply.headers:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if reply.status != 304:
                    self.wfile.write(reply.body)

        self.listen(Handler, tls)

    def file(self, path: str) -> Reply:
        target = self.root / path.lstrip("/") if self.root is not None and ".." not in path else None
        if target is None or not target.is_file():
            return Reply(404, b"not here\n")
        return Reply(200, target.read_bytes())

    def paths(self) -> list[str]:
        with self._lock:
            return [s.path for s in self.seen]


class ForwardProxy(LocalHTTP):
    """An HTTP proxy: forwards absolute-form requests (http:// through a
    proxy) and tunnels CONNECT (https:// through a proxy); records each
    request line's target."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        self.headers: list[dict[str, str]] = []
        proxy = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                import http.client

                proxy.targets.append(self.path)
                proxy.headers.append({k.lower(): v for k, v in self.headers.items()})
                target = urllib.parse.urlsplit(self.path)
                conn = http.client.HTTPConnection(target.hostname or "", target.port, timeout=10)
                keep = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "host")}
                conn.request("GET", target.path + (f"?{target.query}" if target.query else ""), headers=keep)
                resp = conn.getresponse()
                body = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                conn.close()

            def do_CONNECT(self) -> None:
                proxy.targets.append(self.path)
                proxy.headers.append({k.lower(): v for k, v in self.headers.items()})
                host, port = self.path.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)), timeout=10)
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                ends = [self.connection, upstream]
                try:
                    while True:
                        readable, _, _ = select.select(ends, [], [], 10)
                        if not readable:
                            return
                        for end in readable:
                            data = end.recv(1 << 16)
                            if not data:
                                return
                            (upstream if end is self.connection else self.connection).sendall(data)
                except OSError:
                    return
                finally:
                    upstream.close()
                    self.close_connection = True

        self.listen(Handler)


def self_signed(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context for 127.0.0.1 and the PEM file a client trusts it by."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx, cert_file
