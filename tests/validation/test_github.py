"""The GitHub REST client: pagination, what it refuses, and errors that name the status and the URL."""
from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from safeflags.validation.approvals import PullRequest
from safeflags.validation.github import GitHub, GitHubError
from tests.helpers.github_api import GitHubApi

Answer = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]


@pytest.fixture
def api() -> Iterator[GitHubApi]:
    with GitHubApi() as server:
        yield server


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], str]]:
    """A one-off server answering every GET with `answer(handler)`; its URL."""
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Answer) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, headers, body = answer(self)
                self.send_response(status)
                for k, v in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def test_lists_are_read_page_by_page(api: GitHubApi) -> None:
    api.add_pull(3, author="dev", head_sha="f" * 40)
    for i in range(7):
        api.review(3, f"r{i}", "APPROVED")
    reviews = GitHub(api.token, api.url, per_page=3).reviews(api.repository, 3)
    assert [r.user for r in reviews] == [f"r{i}" for i in range(7)]
    pages = [ex.query.get("page", ["1"])[0] for ex in api.log if ex.path.endswith("/reviews")]
    assert pages == ["1", "2", "3"]


def test_the_pull_requests_own_facts_win_over_the_payload(api: GitHubApi) -> None:
    api.add_pull(4, author="dev", head_sha="e" * 40, labels=["x"])
    pr = GitHub(api.token, api.url).read(PullRequest(4, "someone", "stale", api.repository, frozenset({"y"})))
    assert (pr.head_sha, pr.author, pr.labels) == ("e" * 40, "dev", frozenset({"x"}))


def test_a_refused_token_is_an_error_naming_status_and_url(api: GitHubApi) -> None:
    api.add_pull(5)
    with pytest.raises(GitHubError) as caught:
        GitHub("wrong", api.url).read(PullRequest(number=5, repository=api.repository))
    assert caught.value.status == 401
    assert f"GET {api.url}/repos/acme/flags/pulls/5 returned HTTP 401 (Bad credentials; the token was refused)" in str(
        caught.value)


def test_a_missing_pull_request_is_an_error(api: GitHubApi) -> None:
    with pytest.raises(GitHubError, match=r"pulls/404 returned HTTP 404 \(Not Found; not found, or the token"):
        GitHub(api.token, api.url).pull(api.repository, 404)


def test_membership_404_is_no_and_403_is_cannot_tell(api: GitHubApi) -> None:
    api.team("acme/a", members=["x"])
    api.team("acme/b", members=["x"], forbidden=True)
    client = GitHub(api.token, api.url)
    assert client.team_member("acme/a", "x") is True
    assert client.team_member("acme/a", "y") is False
    assert client.team_member("acme/nope", "x") is False
    assert client.team_member("acme/b", "x") is None
    assert len(client.notices) == 1 and "team acme/b (HTTP 403" in client.notices[0]


def test_server_errors_and_bodies_that_are_not_json(serve: Callable[[Answer], str]) -> None:
    url = serve(lambda h: (500, {}, b'{"message": "Server Error"}'))
    with pytest.raises(GitHubError, match=r"returned HTTP 500 \(Server Error\)") as caught:
        GitHub("t", url).pull("acme/flags", 1)
    assert caught.value.url == f"{url}/repos/acme/flags/pulls/1"
    url = serve(lambda h: (200, {}, b"<html>"))
    with pytest.raises(GitHubError, match="not JSON"):
        GitHub("t", url).pull("acme/flags", 1)
    url = serve(lambda h: (403, {"X-RateLimit-Remaining": "0"}, b"{}"))
    with pytest.raises(GitHubError, match="rate limit exceeded"):
        GitHub("t", url).reviews("acme/flags", 1)


def test_the_token_never_leaves_the_api_host(serve: Callable[[Answer], str]) -> None:
    seen: list[str | None] = []

    def elsewhere(h: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        seen.append(h.headers.get("Authorization"))
        return 200, {}, b"[]"

    other = serve(elsewhere).replace("127.0.0.1", "localhost")
    url = serve(lambda h: (200, {"Link": f'<{other}/x?page=2>; rel="next"'}, b"[]"))
    with pytest.raises(GitHubError, match="another host"):
        GitHub("t", url).reviews("acme/flags", 1)
    url = serve(lambda h: (302, {"Location": f"{other}/stolen"}, b""))
    with pytest.raises(GitHubError, match="redirects to another host"):
        GitHub("t", url).pull("acme/flags", 1)
    assert seen == []


def test_a_redirect_on_the_api_host_keeps_the_token(serve: Callable[[Answer], str]) -> None:
    seen: list[str | None] = []
    base: list[str] = []

    def answer(h: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        seen.append(h.headers.get("Authorization"))
        if h.path.startswith("/repos/old/"):
            return 301, {"Location": f"{base[0]}/repos/new/flags/pulls/1/reviews?per_page=100"}, b""
        return 200, {}, json.dumps([{"user": {"login": "lead"}, "state": "APPROVED", "commit_id": "c"}]).encode()

    base.append(serve(answer))
    assert [r.user for r in GitHub("t", base[0]).reviews("old/flags", 1)] == ["lead"]
    assert seen == ["Bearer t", "Bearer t"]


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with pytest.raises(GitHubError, match=r"timed out after 0\.2s"):
            GitHub("t", url, timeout=0.2).pull("acme/flags", 1)


def test_unreachable_and_malformed_inputs() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nothing listens there
    with pytest.raises(GitHubError, match="cannot reach"):
        GitHub("t", f"http://127.0.0.1:{port}").pull("acme/flags", 1)
    with pytest.raises(GitHubError, match="owner/name"):
        GitHub("t", "http://127.0.0.1:1").pull("acme", 1)
    with pytest.raises(GitHubError, match="bad GitHub API URL"):
        GitHub("t", "api.github.com")
    with pytest.raises(GitHubError, match="token is required"):
        GitHub("", "https://api.github.com")
