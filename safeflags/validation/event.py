"""The GitHub event payload ($GITHUB_EVENT_PATH): which pull request, by whom.

Read for `pull_request`, `pull_request_target` and `pull_request_review`
events, and for `merge_group`, whose payload names the pull request only in
the queue's branch (`gh-readonly-queue/<base>/pr-<N>-<sha>`): the number is
taken from there and everything else from the API, so an approval given on
the pull request still counts in the queue. Any other payload gives an
empty PullRequest (no labels, no approvals), which is the strict reading.

The payload is a snapshot taken when the event fired, and it names no one
who approved: reviews, who applied each label and the current head are read
from the GitHub API (safeflags.validation.github), whose answer wins. A
requested reviewer or team is never read: a request is not an approval, and
the author can make one.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from safeflags.sdk.kernel.errors import SafeflagsError
from safeflags.validation.api import PullRequest


class EventError(SafeflagsError):
    """The event file is missing or is not a JSON object."""


def _names(items: Any, field: str) -> frozenset[str]:
    if not isinstance(items, list):
        return frozenset()
    return frozenset(str(i[field]) for i in items if isinstance(i, dict) and isinstance(i.get(field), str))


def load_event(path: Path) -> PullRequest:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EventError(f"cannot read the event payload {path}: {exc}") from None
    if not isinstance(data, dict):
        raise EventError(f"the event payload {path} is not a JSON object")
    return from_payload(data)


_QUEUED = re.compile(r"^(?:refs/heads/)?gh-readonly-queue/.+/pr-(\d+)-[0-9a-f]{40}$")


def from_payload(data: dict[str, Any]) -> PullRequest:
    pr = data.get("pull_request")
    if not isinstance(pr, dict):
        return _queued(data)
    user = pr.get("user")
    number = pr.get("number", data.get("number", 0))
    head = pr.get("head")
    return PullRequest(
        number=number if isinstance(number, int) and not isinstance(number, bool) else 0,
        author=str(user.get("login", "")) if isinstance(user, dict) else "",
        head_sha=str(head.get("sha", "")) if isinstance(head, dict) else "",
        repository=_repository(data, pr),
        labels=_names(pr.get("labels"), "name"),
    )


def _queued(data: dict[str, Any]) -> PullRequest:
    """The pull request a merge-queue group was made for, by number only (the
    group's head is not the pull request's: its head and reviews come from the API)."""
    group = data.get("merge_group")
    ref = group.get("head_ref") if isinstance(group, dict) else None
    found = _QUEUED.match(ref) if isinstance(ref, str) else None
    if found is None:
        return PullRequest()
    return PullRequest(number=int(found[1]), repository=_repository(data, {}))


def _repository(data: dict[str, Any], pr: dict[str, Any]) -> str:
    """owner/name of the repository the pull request is made to."""
    base = pr.get("base")
    for holder in (data.get("repository"), base.get("repo") if isinstance(base, dict) else None):
        if isinstance(holder, dict) and isinstance(holder.get("full_name"), str):
            return str(holder["full_name"])
    return ""
