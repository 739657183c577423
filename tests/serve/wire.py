"""Raw HTTP/1.1 over a socket: what a hostile or careless client sends, byte for byte."""
from __future__ import annotations

import re
import socket
import ssl
import time
import weakref


def connect(port: int, *, timeout: float = 5.0, tls: ssl.SSLContext | None = None) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return tls.wrap_socket(sock, server_hostname="localhost") if tls is not None else sock


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (socket.timeout if it never does)."""
    out = b""
    while True:
        data = sock.recv(65536)
        if not data:
            return out
        out += data


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed (EOF or reset) before the socket's timeout."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def statuses(data: bytes) -> list[int]:
    return [int(m) for m in re.findall(rb"(?m)^HTTP/1\.[01] (\d{3}) ", data)]


def request(path: str, *headers: str, method: str = "GET", body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response with a Content-Length (or none: 304) from a keep-alive connection; what follows
    it stays buffered for the next call."""
    buf = _buffers.setdefault(sock, bytearray())
    while b"\r\n\r\n" not in buf:
        _fill(sock, buf)
    head, _, _ = bytes(buf).partition(b"\r\n\r\n")
    del buf[: len(head) + 4]
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(buf) < length:
        _fill(sock, buf)
    body = bytes(buf[:length])
    del buf[:length]
    return int(lines[0].split()[1]), headers, body


def _fill(sock: socket.socket, buf: bytearray) -> None:
    more = sock.recv(65536)
    if not more:
        raise ConnectionError(f"closed after {bytes(buf)!r}")
    buf += more


_buffers: weakref.WeakKeyDictionary[socket.socket, bytearray] = weakref.WeakKeyDictionary()


def drip(sock: socket.socket, data: bytes, gap: float) -> int:
    """Send `data` a byte at a time; how many bytes went before the server cut the connection."""
    for i, byte in enumerate(data):
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return i
        time.sleep(gap)  # the attack itself: a client this slow, not a wait for a result
    return len(data)
