"""A stdlib HTTP server of a test's own on 127.0.0.1, in a daemon thread.

The tests' stand-ins (store origins, proxies, fault injectors) differ in
their handlers only; listening, the URL and stopping are the same for all.
"""
from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive), no access log on stderr."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def send_file(self, path: Path) -> None:
        """200 with the file's bytes, or an empty 404 when there is no such file."""
        body = path.read_bytes() if path.is_file() else b""
        self.send_response(200 if path.is_file() else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class LocalHTTP:
    """Subclasses build their handler class, then call `listen`."""

    scheme = "http"
    httpd: ThreadingHTTPServer
    thread: threading.Thread

    def listen(self, handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None, *,
               start: bool = True) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        if start:
            self.thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        if self.thread.is_alive():  # shutdown() waits for serve_forever, which never ran otherwise
            self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)
