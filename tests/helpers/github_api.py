"""A stand-in for the GitHub REST API on 127.0.0.1: the four reads
`safeflags validate` makes, and the pull request `--pr` opens
(`POST /repos/{owner}/{repo}/pulls`, kept in `pulls` with its title, head,
base and body), served from in-memory state.

    with GitHubApi() as api:
        api.add_pull(7, author="dev", head_sha="abc")
        api.review(7, "lead", "APPROVED")
        api.label(7, "safeflags/skip-stage", actor="lead")
        api.team("acme/flag-reviewers", members=["lead"])
        GitHub(api.token, api.url).read(...)

Bodies are built to GitHub's published OpenAPI description (`@octokit/openapi`,
tests/e2e/test_github_api.py validates every one against it): every
required field, with its type. What GitHub does and the client relies on is
kept: a token is required (401), lists are paginated with `per_page` (30 by
default, at most 100), `page` and a `Link` header; reviews come in
submission order with the commit each was made on; dismissing a review turns
its state to DISMISSED; a requested reviewer shows in `requested_reviewers`
(until they review) and in a `review_requested` event; a team membership is
404 for a non-member and 403 for a team the token may not read.
"""
from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CREATED = "2026-11-20T10:00:00Z"
DOCS = "https://docs.github.com/rest"


@dataclass(frozen=True)
class Exchange:
    """One request the stand-in answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    headers: dict[str, str]
    body: Any
    request: Any = None  # the JSON the client sent, on a POST


@dataclass
class _Pull:
    number: int
    author: str
    head_sha: str
    base_sha: str
    labels: list[str] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)
    title: str = ""
    body: str | None = None
    head_ref: str = ""
    base_ref: str = "main"


@dataclass
class _Team:
    members: set[str]
    pending: set[str]
    forbidden: bool


class GitHubApi:
    """The server and its state; thread-safe, so tests may change it between requests."""

    def __init__(self, owner: str = "acme", repo: str = "flags", token: str = "test-token") -> None:
        self.owner, self.repo, self.token = owner, repo, token
        self.pulls: dict[int, _Pull] = {}
        self.teams: dict[str, _Team] = {}
        self.log: list[Exchange] = []
        self._ids = 1000
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        # A short poll: shutdown() waits for it.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    # --- lifecycle -----------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def repository(self) -> str:
        return f"{self.owner}/{self.repo}"

    def __enter__(self) -> GitHubApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # --- state ---------------------------------------------------------------
    def _id(self) -> int:
        self._ids += 1
        return self._ids

    def add_pull(self, number: int, author: str = "dev", head_sha: str = "a" * 40, labels: Iterable[str] = (),
                 base_sha: str = "b" * 40) -> None:
        with self._lock:
            self.pulls[number] = _Pull(number, author, head_sha, base_sha)
        for name in labels:
            self.label(number, name, actor=author)

    def push(self, number: int, head_sha: str) -> None:
        """A new head commit; reviews stay on the commits they were made on."""
        with self._lock:
            self.pulls[number].head_sha = head_sha

    def request_review(self, number: int, reviewer: str, requester: str | None = None) -> None:
        with self._lock:
            pr = self.pulls[number]
            pr.requested.append(reviewer)
            pr.events.append({**self._event("review_requested", requester or pr.author),
                              "review_requester": user(requester or pr.author), "requested_reviewer": user(reviewer)})

    def review(self, number: int, reviewer: str, state: str, commit: str | None = None) -> None:
        """A submitted review (APPROVED, CHANGES_REQUESTED, COMMENTED), on the head unless `commit` says."""
        with self._lock:
            pr = self.pulls[number]
            if reviewer in pr.requested:
                pr.requested.remove(reviewer)  # GitHub drops a reviewer from the requests once they review
            pr.reviews.append({"id": self._id(), "user": reviewer, "state": state, "commit": commit or pr.head_sha})

    def dismiss(self, number: int, reviewer: str) -> None:
        """Dismiss `reviewer`'s latest approval, as a maintainer does."""
        with self._lock:
            for r in reversed(self.pulls[number].reviews):
                if r["user"] == reviewer and r["state"] in ("APPROVED", "CHANGES_REQUESTED"):
                    r["state"] = "DISMISSED"
                    return
        raise KeyError(f"{reviewer} has no review to dismiss")

    def label(self, number: int, name: str, actor: str) -> None:
        with self._lock:
            pr = self.pulls[number]
            if name not in pr.labels:
                pr.labels.append(name)
            pr.events.append({**self._event("labeled", actor), "label": {"name": name, "color": "ededed"}})

    def unlabel(self, number: int, name: str, actor: str) -> None:
        with self._lock:
            pr = self.pulls[number]
            pr.labels.remove(name)
            pr.events.append({**self._event("unlabeled", actor), "label": {"name": name, "color": "ededed"}})

    def team(self, team: str, members: Iterable[str] = (), pending: Iterable[str] = (),
             forbidden: bool = False) -> None:
        """Team "org/slug"; `forbidden`: the token may not read it (403)."""
        with self._lock:
            self.teams[team.lower()] = _Team({m.lower() for m in members}, {m.lower() for m in pending}, forbidden)

    def _event(self, kind: str, actor: str) -> dict[str, Any]:
        n = self._id()
        return {"id": n, "node_id": f"LE_{n}", "url": f"{self.url}/repos/{self.repository}/issues/events/{n}",
                "actor": user(actor), "event": kind, "commit_id": None, "commit_url": None, "created_at": CREATED,
                "performed_via_github_app": None}

    # --- answers -------------------------------------------------------------
    def answer(self, method: str, path: str, query: dict[str, list[str]],
               auth: str | None, request: Any = None) -> tuple[int, dict[str, str], Any]:
        if auth not in (f"Bearer {self.token}", f"token {self.token}"):
            return _error(401, "Requires authentication" if auth is None else "Bad credentials")
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        with self._lock:
            if method == "POST" and len(parts) == 4 and parts[0] == "repos" and parts[3] == "pulls":
                if f"{parts[1]}/{parts[2]}".lower() != self.repository.lower():
                    return _error(404, "Not Found")
                return self._create_pull(request)
            if method == "GET" and len(parts) >= 5 and parts[0] == "repos" and parts[3] in ("pulls", "issues"):
                if f"{parts[1]}/{parts[2]}".lower() != self.repository.lower() or not parts[4].isdigit():
                    return _error(404, "Not Found")
                pr = self.pulls.get(int(parts[4]))
                if pr is None:
                    return _error(404, "Not Found")
                if parts[3:] == ["pulls", parts[4]]:
                    return 200, {}, self._pull(pr)
                if parts[3:] == ["pulls", parts[4], "reviews"]:
                    return self._page(path, query, [self._review(pr, r) for r in pr.reviews])
                if parts[3:] == ["issues", parts[4], "events"]:
                    return self._page(path, query, list(pr.events))
            if method == "GET" and len(parts) == 6 and parts[0] == "orgs" and parts[2] == "teams" \
                    and parts[4] == "memberships":
                return self._membership(f"{parts[1]}/{parts[3]}", parts[5])
        return _error(404, "Not Found")

    def _create_pull(self, request: Any) -> tuple[int, dict[str, str], Any]:
        """As GitHub: head and base are required, one open pull request per head."""
        if not isinstance(request, dict) or not all(isinstance(request.get(k), str) and request[k]
                                                    for k in ("head", "base", "title")):
            return _error(422, "Validation Failed")
        if any(p.head_ref == request["head"] for p in self.pulls.values()):
            return _error(422, f"A pull request already exists for {self.owner}:{request['head']}.")
        number = max(self.pulls, default=0) + 1
        body = request.get("body")
        pr = _Pull(number, self.owner, "c" * 40, "b" * 40, title=request["title"],
                   body=body if isinstance(body, str) else None, head_ref=request["head"], base_ref=request["base"])
        self.pulls[number] = pr
        answer = self._pull(pr)
        return 201, {"Location": answer["url"]}, answer

    def _page(self, path: str, query: dict[str, list[str]], items: list[Any]) -> tuple[int, dict[str, str], Any]:
        try:
            per_page = min(max(int(query.get("per_page", ["30"])[0]), 1), 100)
            page = max(int(query.get("page", ["1"])[0]), 1)
        except ValueError:
            return _error(422, "Validation Failed")
        last = max((len(items) + per_page - 1) // per_page, 1)
        links = []

        def link(n: int, rel: str) -> str:
            return f'<{self.url}{path}?{urllib.parse.urlencode({"per_page": per_page, "page": n})}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        headers = {"Link": ", ".join(links)} if links else {}
        return 200, headers, items[(page - 1) * per_page: page * per_page]

    def _membership(self, team: str, login: str) -> tuple[int, dict[str, str], Any]:
        t = self.teams.get(team.lower())
        if t is not None and t.forbidden:
            return _error(403, "Resource not accessible by integration")
        if t is None or (login.lower() not in t.members and login.lower() not in t.pending):
            return _error(404, "Not Found")
        state = "active" if login.lower() in t.members else "pending"
        return 200, {}, {"url": f"{self.url}/organizations/1/team/1/memberships/{login}", "role": "member",
                         "state": state}

    def _review(self, pr: _Pull, r: dict[str, Any]) -> dict[str, Any]:
        html = f"https://github.com/{self.repository}/pull/{pr.number}#pullrequestreview-{r['id']}"
        api = f"{self.url}/repos/{self.repository}/pulls/{pr.number}"
        return {
            "id": r["id"], "node_id": f"PRR_{r['id']}", "user": user(r["user"]), "body": "",
            "state": r["state"], "html_url": html, "pull_request_url": api,
            "_links": {"html": {"href": html}, "pull_request": {"href": api}},
            "submitted_at": CREATED, "commit_id": r["commit"], "author_association": "MEMBER",
        }

    def _pull(self, pr: _Pull) -> dict[str, Any]:
        api = f"{self.url}/repos/{self.repository}"
        html = f"https://github.com/{self.repository}/pull/{pr.number}"
        links = {"self": f"{api}/pulls/{pr.number}", "html": html, "issue": f"{api}/issues/{pr.number}",
                 "comments": f"{api}/issues/{pr.number}/comments",
                 "review_comments": f"{api}/pulls/{pr.number}/comments",
                 "review_comment": f"{api}/pulls/comments{{/number}}", "commits": f"{api}/pulls/{pr.number}/commits",
                 "statuses": f"{api}/statuses/{pr.head_sha}"}
        repo = repository(self.owner, self.repo, self.url)
        head = pr.head_ref or f"{pr.author}-change"
        return {
            "url": links["self"], "id": 10_000 + pr.number, "node_id": f"PR_{pr.number}", "html_url": html,
            "diff_url": f"{html}.diff", "patch_url": f"{html}.patch", "issue_url": links["issue"],
            "commits_url": links["commits"], "review_comments_url": links["review_comments"],
            "review_comment_url": links["review_comment"], "comments_url": links["comments"],
            "statuses_url": links["statuses"], "number": pr.number, "state": "open", "locked": False,
            "title": pr.title or f"Pull request {pr.number}", "user": user(pr.author), "body": pr.body,
            "labels": [label(n, i) for i, n in enumerate(pr.labels, 1)],
            "milestone": None, "active_lock_reason": None, "created_at": CREATED, "updated_at": CREATED,
            "closed_at": None, "merged_at": None, "merge_commit_sha": None, "assignee": None, "assignees": [],
            "requested_reviewers": [user(x) for x in pr.requested], "requested_teams": [],
            "head": {"label": f"{self.owner}:{head}", "ref": head, "repo": repo,
                     "sha": pr.head_sha, "user": user(self.owner)},
            "base": {"label": f"{self.owner}:{pr.base_ref}", "ref": pr.base_ref, "repo": repo, "sha": pr.base_sha,
                     "user": user(self.owner)},
            "_links": {k: {"href": v} for k, v in links.items()},
            "author_association": "MEMBER", "auto_merge": None, "draft": False, "merged": False,
            "mergeable": True, "rebaseable": True, "mergeable_state": "clean", "merged_by": None, "comments": 0,
            "review_comments": 0, "maintainer_can_modify": False, "commits": 1, "additions": 1, "deletions": 1,
            "changed_files": 1,
        }


def _error(status: int, message: str) -> tuple[int, dict[str, str], Any]:
    return status, {}, {"message": message, "documentation_url": DOCS, "status": str(status)}


def user(login: str) -> dict[str, Any]:
    """A `simple-user`."""
    api, web = f"https://api.github.com/users/{login}", f"https://github.com/{login}"
    return {
        "name": None, "email": None, "login": login, "id": sum(map(ord, login)), "node_id": f"U_{login}",
        "avatar_url": f"https://avatars.githubusercontent.com/{login}", "gravatar_id": "", "url": api,
        "html_url": web, "followers_url": f"{api}/followers", "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}", "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions", "organizations_url": f"{api}/orgs", "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}", "received_events_url": f"{api}/received_events", "type": "User",
        "site_admin": False,
    }


def label(name: str, n: int) -> dict[str, Any]:
    return {"id": n, "node_id": f"LA_{n}", "url": f"https://api.github.com/labels/{urllib.parse.quote(name)}",
            "name": name, "description": None, "color": "ededed", "default": False}


def repository(owner: str, name: str, base: str) -> dict[str, Any]:
    """A `repository`: the fields GitHub requires, templated as it writes them."""
    api = f"{base}/repos/{owner}/{name}"
    templated = {k: f"{api}/{k.removesuffix('_url')}{{/{arg}}}" for k, arg in (
        ("archive_url", "archive_format"), ("assignees_url", "user"), ("blobs_url", "sha"),
        ("branches_url", "branch"), ("collaborators_url", "collaborator"), ("comments_url", "number"),
        ("commits_url", "sha"), ("contents_url", "path"), ("git_commits_url", "sha"), ("git_refs_url", "sha"),
        ("git_tags_url", "sha"), ("issue_comment_url", "number"), ("issue_events_url", "number"),
        ("issues_url", "number"), ("keys_url", "key_id"), ("labels_url", "name"), ("milestones_url", "number"),
        ("notifications_url", "since"), ("pulls_url", "number"), ("releases_url", "id"), ("statuses_url", "sha"),
        ("trees_url", "sha"),
    )}
    plain = {k: f"{api}/{k.removesuffix('_url')}" for k in (
        "contributors_url", "deployments_url", "downloads_url", "events_url", "forks_url", "hooks_url",
        "languages_url", "merges_url", "stargazers_url", "subscribers_url", "subscription_url", "tags_url",
        "teams_url",
    )}
    counts = {k: 0 for k in ("forks", "forks_count", "open_issues", "open_issues_count", "size",
                              "stargazers_count", "watchers", "watchers_count")}
    flags = {k: False for k in ("fork", "has_downloads", "has_projects", "has_wiki", "has_pages", "archived",
                                "disabled", "private")}
    return {
        **templated, **plain, **counts, **flags, "compare_url": f"{api}/compare/{{base}}...{{head}}",
        "description": None, "full_name": f"{owner}/{name}", "html_url": f"https://github.com/{owner}/{name}",
        "id": 1, "node_id": "R_1", "name": name, "owner": user(owner), "url": api,
        "clone_url": f"https://github.com/{owner}/{name}.git", "default_branch": "main",
        "git_url": f"git://github.com/{owner}/{name}.git", "has_issues": True, "homepage": None, "language": None,
        "mirror_url": None, "license": None, "pushed_at": CREATED, "ssh_url": f"git@github.com:{owner}/{name}.git",
        "svn_url": f"https://github.com/{owner}/{name}", "created_at": CREATED, "updated_at": CREATED,
    }


def _handler(api: GitHubApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            status, headers, body = api.answer("GET", url.path, query, self.headers.get("Authorization"))
            with api._lock:
                api.log.append(Exchange("GET", url.path, query, status, headers, body))
            self._send(status, headers, body)

        def _send(self, status: int, headers: dict[str, str], body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                request = json.loads(raw) if raw else None
            except ValueError:
                request = None
            status, headers, body = api.answer("POST", url.path, {}, self.headers.get("Authorization"), request)
            with api._lock:
                api.log.append(Exchange("POST", url.path, {}, status, headers, body, request))
            self._send(status, headers, body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
