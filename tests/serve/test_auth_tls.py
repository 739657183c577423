"""The bearer token on every route but /healthz, and TLS with a certificate made in the test."""
from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest

from safeflags.delivery import Client
from safeflags.serve import FlagServer, ServeError
from safeflags.store import open_store
from tests.helpers.delivery import Publisher
from tests.helpers.waiting import wait_until
from tests.serve.conftest import Serve
from tests.serve.wire import connect, read_all, request, response, statuses

TOKEN = "s3cret-token-for-tests"
PROTECTED = ["/channels/prod.json", "/events?channel=prod", "/metrics", "/channels/", "/history/prod/",
             "/bundles/sha256-" + "0" * 64 + ".pb"]


def status_of(port: int, path: str, *headers: str) -> tuple[int, dict[str, str]]:
    with connect(port) as sock:
        sock.sendall(request(path, *headers, "Connection: close"))
        status, headers_, _ = response(sock)
        return status, headers_


@pytest.mark.parametrize("path", PROTECTED)
def test_every_route_but_healthz_needs_the_token(serve: Serve, path: str) -> None:
    srv = serve(token=TOKEN)
    status, headers = status_of(srv.port, path)
    assert status == 401 and headers["www-authenticate"] == 'Bearer realm="safeflags"'
    status, headers = status_of(srv.port, path, "Authorization: Bearer wrong")
    assert status == 401 and 'error="invalid_token"' in headers["www-authenticate"]
    assert status_of(srv.port, path, f"Authorization: Basic {TOKEN}")[0] == 401
    assert status_of(srv.port, path, f"Authorization: Bearer {TOKEN}")[0] != 401


def test_healthz_stays_open_for_load_balancers(serve: Serve) -> None:
    srv = serve(token=TOKEN)
    assert status_of(srv.port, "/healthz")[0] == 200


def test_the_delivery_client_sends_the_token(pub: Publisher, serve: Serve) -> None:
    srv = serve(token=TOKEN)
    with Client(store=srv.url, channel="prod", poll_interval=30, token=TOKEN) as client:
        assert client.get_int("t.n", 0) == 1
        wait_until(lambda: client.delivery_status().push == "connected", what="stream")  # type: ignore[union-attr]
        pub.publish(2)
        wait_until(lambda: client.get_int("t.n", 0) == 2, what="version 2 by push, with the token")


def test_an_empty_token_is_refused(pub: Publisher) -> None:
    with pytest.raises(ServeError, match="empty"):
        FlagServer(open_store(pub.url), token="  ")


def self_signed(tmp_path: Path) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_tls_serves_the_layout_and_the_stream(serve: Serve, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    srv = serve(tls_cert=cert, tls_key=key)
    assert srv.url.startswith("https://127.0.0.1:")
    trust = ssl.create_default_context(cafile=cert)
    with connect(srv.port, tls=trust) as sock:
        sock.sendall(request("/channels/prod.json"))
        status, headers, _ = response(sock)
        assert status == 200
        sock.sendall(request("/channels/prod.json", f"If-None-Match: {headers['etag']}", "Connection: close"))
        assert response(sock)[0] == 304
    with connect(srv.port, tls=trust) as sock:
        sock.sendall(request("/events?channel=prod"))
        data = b""
        while b'"version": 1' not in data:
            data += sock.recv(65536)
    with connect(srv.port) as plain:  # plain HTTP to a TLS port gets no HTTP answer
        plain.sendall(request("/healthz", "Connection: close"))
        assert statuses(read_all(plain)) == []


def test_tls_needs_both_files_and_loadable_ones(pub: Publisher, tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path)
    with pytest.raises(ServeError, match="both"):
        FlagServer(open_store(pub.url), tls_cert=cert)
    with pytest.raises(ServeError, match="cannot load"):
        FlagServer(open_store(pub.url), tls_cert=cert, tls_key=str(tmp_path / "missing.pem"))


def test_ofrep_routes_are_behind_the_token_too(serve: Serve) -> None:
    srv = serve(token=TOKEN, ofrep_channel="prod")
    body = b'{"context": {"targetingKey": "u1"}}'
    for auth in ([], ["Authorization: Bearer wrong"]):
        with connect(srv.port) as sock:
            sock.sendall(request("/ofrep/v1/evaluate/flags", *auth, f"Content-Length: {len(body)}",
                                 "Content-Type: application/json", method="POST") + body)
            assert response(sock)[0] == 401
    with connect(srv.port) as sock:
        sock.sendall(request("/ofrep/v1/evaluate/flags", f"Authorization: Bearer {TOKEN}",
                             f"Content-Length: {len(body)}", "Content-Type: application/json",
                             method="POST") + body)
        assert response(sock)[0] == 200
