"""A small client of the GitHub REST API: who approved a pull request.

Four reads, all GET, as GitHub's OpenAPI description names them:

- `/repos/{owner}/{repo}/pulls/{pull_number}`: the head commit, the author, the labels;
- `/repos/{owner}/{repo}/pulls/{pull_number}/reviews`: submitted reviews, in order;
- `/repos/{owner}/{repo}/issues/{issue_number}/events`: who applied or removed each label;
- `/orgs/{org}/teams/{team_slug}/memberships/{username}`: is a reviewer in a team.

Lists follow the `Link: <...>; rel="next"` header, on the API's own host
only: the token is never sent anywhere else, redirects included. Every
failure is a `GitHubError` naming the HTTP status and the URL (exit 2),
except on a membership: 404 is GitHub's "not a member", and 403 means the
token may not read the team, which is "cannot tell" (None) and a notice.
"""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from email.message import Message
from http.client import HTTPMessage
from typing import IO, Any

from safeflags.sdk.kernel.errors import SafeflagsError
from safeflags.validation.approvals import LabelEvent, PullRequest, Review
from safeflags.version import __version__

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
MAX_BODY = 8 * 1024 * 1024  # a page of 100 reviews or events is well under 1 MB
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="([^"]*)"')
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class GitHubError(SafeflagsError):
    """A GitHub API request failed, or answered something unreadable."""

    def __init__(self, message: str, *, status: int | None = None, url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.url = url


@dataclass(frozen=True)
class PullFacts:
    """What the pull request itself says, as the API has it now."""

    head_sha: str
    author: str
    labels: frozenset[str]


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect on the API's host with the token, refuses one elsewhere."""

    def __init__(self, origin: tuple[str, str], token: str) -> None:
        self.origin, self.token = origin, token

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: HTTPMessage, newurl: str) -> urllib.request.Request | None:
        if _origin(newurl) != self.origin:
            raise GitHubError(f"GitHub API: GET {req.full_url} redirects to another host ({newurl}): refused, "
                              "the token is not sent there", status=code, url=req.full_url)
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            new.add_unredirected_header("Authorization", f"Bearer {self.token}")
        return new


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def _login(user: Any) -> str:
    return str(user.get("login", "")) if isinstance(user, dict) else ""


class GitHub:
    """Reads through the REST API with one token; `notices` collects what
    could not be told (a team the token may not read)."""

    def __init__(self, token: str, api_url: str = DEFAULT_API_URL, *, timeout: float = 10.0,
                 per_page: int = 100, max_pages: int = 100) -> None:
        if not token:
            raise GitHubError("a GitHub token is required")
        self.api_url = api_url.rstrip("/")
        if _origin(self.api_url)[0] not in ("http", "https") or not _origin(self.api_url)[1]:
            raise GitHubError(f"bad GitHub API URL {api_url!r} (want e.g. {DEFAULT_API_URL})")
        self.timeout = timeout
        self.per_page = per_page
        self.max_pages = max_pages
        self.notices: list[str] = []
        self._token = token
        self._opener = urllib.request.build_opener(_Redirects(_origin(self.api_url), token))

    # --- transport ----------------------------------------------------------
    def _get(self, url: str) -> tuple[int, Any, Message]:
        """GET `url`: (status, parsed JSON body, headers) for a 2xx; raises
        urllib.error.HTTPError for other statuses, GitHubError for the rest."""
        req = urllib.request.Request(url, method="GET", headers={
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": f"safeflags/{__version__}",
        })
        req.add_unredirected_header("Authorization", f"Bearer {self._token}")
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                body = resp.read(MAX_BODY + 1)
                status, headers = int(resp.status), resp.headers
        except urllib.error.HTTPError:
            raise
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError) or isinstance(exc, TimeoutError):
                raise GitHubError(f"GitHub API: GET {url} timed out after {self.timeout:g}s", url=url) from None
            raise GitHubError(f"GitHub API: cannot reach GET {url}: {reason}", url=url) from None
        if len(body) > MAX_BODY:
            raise GitHubError(f"GitHub API: GET {url} answered more than {MAX_BODY} bytes", status=status, url=url)
        try:
            return status, json.loads(body) if body else None, headers
        except ValueError:
            raise GitHubError(f"GitHub API: GET {url} answered HTTP {status} with a body that is not JSON",
                              status=status, url=url) from None

    def _fail(self, exc: urllib.error.HTTPError, url: str) -> GitHubError:
        message = ""
        try:
            data = json.loads(exc.read(64 * 1024) or b"{}")
            if isinstance(data, dict) and isinstance(data.get("message"), str):
                message = data["message"]
        except (ValueError, OSError):
            pass
        finally:
            exc.close()
        why = {401: "the token was refused", 404: "not found, or the token cannot read it"}.get(exc.code, "")
        if exc.code in (403, 429) and exc.headers.get("X-RateLimit-Remaining") == "0":
            why = "rate limit exceeded"
        detail = "; ".join(x for x in (message, why) if x)
        return GitHubError(f"GitHub API: GET {url} returned HTTP {exc.code}" + (f" ({detail})" if detail else ""),
                           status=exc.code, url=url)

    def _one(self, path: str) -> Any:
        url = self.api_url + path
        try:
            return self._get(url)[1]
        except urllib.error.HTTPError as exc:
            raise self._fail(exc, url) from None

    def _pages(self, path: str) -> Iterator[Any]:
        """Every item of a list, page by page along rel="next"."""
        url: str | None = f"{self.api_url}{path}?per_page={self.per_page}"
        for _ in range(self.max_pages):
            if url is None:
                return
            try:
                status, body, headers = self._get(url)
            except urllib.error.HTTPError as exc:
                raise self._fail(exc, url) from None
            if not isinstance(body, list):
                raise GitHubError(f"GitHub API: GET {url} answered HTTP {status} with no list", status=status, url=url)
            yield from body
            url = self._next(url, headers.get("Link") or "")
        if url is not None:
            raise GitHubError(f"GitHub API: GET {url}: more than {self.max_pages} pages", url=url)

    def _next(self, url: str, link: str) -> str | None:
        nxt = next((target for target, rel in _LINK.findall(link) if rel == "next"), None)
        if nxt is None:
            return None
        nxt = urllib.parse.urljoin(url, nxt)
        if _origin(nxt) != _origin(self.api_url):
            raise GitHubError(f"GitHub API: GET {url} links its next page on another host ({nxt}): refused",
                              url=url)
        return nxt

    # --- the four reads -----------------------------------------------------
    @staticmethod
    def _repo(repository: str) -> str:
        if not _REPOSITORY.match(repository):
            raise GitHubError(f"the repository must be written owner/name, not {repository!r}")
        owner, name = repository.split("/")
        return f"/repos/{_quote(owner)}/{_quote(name)}"

    def pull(self, repository: str, number: int) -> PullFacts:
        data = self._one(f"{self._repo(repository)}/pulls/{int(number)}")
        head = data.get("head") if isinstance(data, dict) else None
        if not isinstance(head, dict) or not isinstance(head.get("sha"), str):
            raise GitHubError(f"GitHub API: pull request {repository}#{number} has no head commit")
        labels = data.get("labels") or []
        return PullFacts(
            head_sha=head["sha"], author=_login(data.get("user")),
            labels=frozenset(str(x["name"]) for x in labels if isinstance(x, dict) and isinstance(x.get("name"), str)),
        )

    def reviews(self, repository: str, number: int) -> tuple[Review, ...]:
        """Submitted reviews in order; a review by a deleted account (no user) is left out."""
        out = []
        for r in self._pages(f"{self._repo(repository)}/pulls/{int(number)}/reviews"):
            login = _login(r.get("user")) if isinstance(r, dict) else ""
            if login:
                out.append(Review(login, str(r.get("state", "")), str(r.get("commit_id") or "")))
        return tuple(out)

    def label_events(self, repository: str, number: int) -> tuple[LabelEvent, ...]:
        out = []
        for e in self._pages(f"{self._repo(repository)}/issues/{int(number)}/events"):
            if not isinstance(e, dict) or e.get("event") not in ("labeled", "unlabeled"):
                continue
            label = e.get("label")
            if isinstance(label, dict) and isinstance(label.get("name"), str):
                out.append(LabelEvent(label["name"], _login(e.get("actor")), e["event"] == "labeled"))
        return tuple(out)

    def team_member(self, team: str, login: str) -> bool | None:
        """Is `login` an active member of `team` ("org/slug")? None when the
        token may not read the team."""
        org, _, slug = team.partition("/")
        if not org or not slug or not login:
            return False
        url = f"{self.api_url}/orgs/{_quote(org)}/teams/{_quote(slug)}/memberships/{_quote(login)}"
        try:
            _, data, _ = self._get(url)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                exc.close()
                return False
            if exc.code == 403:
                exc.close()
                self.notices.append(f"cannot read the members of team {team} (HTTP 403 on GET {url}): approvals "
                                    "through it do not count; give a token that can read the organisation's teams")
                return None
            raise self._fail(exc, url) from None
        return isinstance(data, dict) and data.get("state") == "active"

    def read(self, pr: PullRequest) -> PullRequest:
        """`pr` with its head, author, labels, reviews and label events as
        the API has them now (the API's answer wins over the event payload's)."""
        facts = self.pull(pr.repository, pr.number)
        return replace(
            pr, head_sha=facts.head_sha, author=facts.author or pr.author, labels=facts.labels,
            reviews=self.reviews(pr.repository, pr.number), label_events=self.label_events(pr.repository, pr.number),
        )
