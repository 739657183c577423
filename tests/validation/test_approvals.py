"""Approvals read strictly: what counts, what never does, and the hint that says why.

Most pull requests here are read from the GitHub stand-in through the real
client, so each fact is the one GitHub would give (a requested reviewer
does not appear among reviews; a dismissed review turns DISMISSED).
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from safeflags.validation.approvals import Approvals, ApproverGroup, LabelEvent, PullRequest, Review
from safeflags.validation.github import GitHub
from tests.helpers.github_api import GitHubApi

HEAD = "c" * 40
OLD = "9" * 40
LABEL = "safeflags/approved-blast-radius"
TEAM = ["flag-reviewers"]


@pytest.fixture
def api() -> Iterator[GitHubApi]:
    with GitHubApi() as server:
        server.add_pull(1, author="dev", head_sha=HEAD)
        server.team("acme/flag-reviewers", members=["lead", "ana"])
        yield server


def approvals(api: GitHubApi, groups: dict[str, ApproverGroup] | None = None) -> Approvals:
    client = GitHub(api.token, api.url)
    pr = client.read(PullRequest(number=1, author="dev", repository=api.repository))
    return Approvals(pr, groups or {}, client.team_member)


def test_a_team_members_approval_on_the_head_counts(api: GitHubApi) -> None:
    api.review(1, "lead", "APPROVED")
    a = approvals(api)
    assert a.approvers(TEAM) == ("lead",)
    assert a.granted([LABEL], TEAM) == "approved by lead"


def test_an_approval_outside_the_set_does_not_count(api: GitHubApi) -> None:
    api.review(1, "mallory", "APPROVED")
    a = approvals(api)
    assert a.approvers(TEAM) == () and a.granted([LABEL], TEAM) is None
    assert "mallory approved but is not an approver here" in a.why_not([LABEL], TEAM)
    # A rule that names nobody takes anyone but the author.
    assert a.approvers() == ("mallory",)


def test_a_requested_review_never_counts(api: GitHubApi) -> None:
    api.request_review(1, "lead", requester="dev")
    a = approvals(api)
    assert a.pull_request.reviews == () and a.granted([LABEL], TEAM) is None
    assert a.approvers() == ()


def test_the_authors_own_approval_never_counts(api: GitHubApi) -> None:
    api.team("acme/flag-reviewers", members=["dev", "lead"])
    api.review(1, "dev", "APPROVED")
    a = approvals(api)
    assert a.approvers() == () and a.granted([LABEL], TEAM) is None
    assert "the author's own approval does not count" in a.why_not([LABEL], TEAM)


def test_an_approval_of_an_older_commit_does_not_count(api: GitHubApi) -> None:
    api.push(1, OLD)
    api.review(1, "lead", "APPROVED")
    api.push(1, HEAD)
    a = approvals(api)
    assert a.granted([LABEL], TEAM) is None
    assert f"lead approved an older commit ({OLD[:7]}), not the head ({HEAD[:7]})" in a.why_not([LABEL], TEAM)
    api.review(1, "lead", "APPROVED")  # approved again on the new head
    assert approvals(api).granted([LABEL], TEAM) == "approved by lead"


@pytest.mark.parametrize("take_back", ["CHANGES_REQUESTED", "DISMISSED"])
def test_a_later_change_request_or_dismissal_takes_an_approval_back(api: GitHubApi, take_back: str) -> None:
    api.review(1, "lead", "APPROVED")
    if take_back == "DISMISSED":
        api.dismiss(1, "lead")
    else:
        api.review(1, "lead", take_back)
    assert approvals(api).granted([LABEL], TEAM) is None


def test_a_comment_after_an_approval_changes_nothing(api: GitHubApi) -> None:
    api.review(1, "lead", "APPROVED")
    api.review(1, "lead", "COMMENTED")
    assert approvals(api).granted([LABEL], TEAM) == "approved by lead"


def test_a_pending_team_invitation_is_not_membership(api: GitHubApi) -> None:
    api.team("acme/flag-reviewers", members=["ana"], pending=["lead"])
    api.review(1, "lead", "APPROVED")
    assert approvals(api).granted([LABEL], TEAM) is None


def test_a_team_the_token_cannot_read_counts_nobody_and_says_so(api: GitHubApi) -> None:
    api.team("acme/flag-reviewers", members=["lead"], forbidden=True)
    api.review(1, "lead", "APPROVED")
    a = approvals(api)
    assert a.granted([LABEL], TEAM) is None
    assert "could not be read" in a.why_not([LABEL], TEAM)


def test_listed_users_of_a_group_need_no_api(api: GitHubApi) -> None:
    api.review(1, "Bo", "APPROVED")  # logins compare without case, as on GitHub
    groups = {"security": ApproverGroup(users=frozenset({"bo"}))}
    assert approvals(api, groups).granted([], ["security"]) == "approved by Bo"
    assert approvals(api, groups).granted([], ["security"], ["zed"]) == "approved by Bo"


def test_a_group_names_its_own_team(api: GitHubApi) -> None:
    api.team("other-org/security", members=["ana"])
    api.review(1, "ana", "APPROVED")
    groups = {"security": ApproverGroup(github_team="other-org/security")}
    assert approvals(api, groups).granted([], ["security"]) == "approved by ana"
    api.team("other-org/security", members=[])
    assert approvals(api, groups).granted([], ["security"]) is None


def test_a_label_applied_by_the_author_does_not_count(api: GitHubApi) -> None:
    api.label(1, LABEL, actor="dev")
    a = approvals(api)
    assert a.label([LABEL], TEAM) is None and a.label([LABEL], anyone=True) is None
    assert a.granted([LABEL], TEAM) is None
    assert "applied by the author" in a.why_not([LABEL], TEAM)


def test_a_label_applied_by_an_approver_counts(api: GitHubApi) -> None:
    api.label(1, LABEL, actor="lead")
    a = approvals(api)
    assert a.granted([LABEL], TEAM) == f"label {LABEL!r} applied by lead"


def test_a_label_applied_by_someone_else_counts_only_for_anyone(api: GitHubApi) -> None:
    api.label(1, LABEL, actor="mallory")
    a = approvals(api)
    assert a.granted([LABEL], TEAM) is None and a.label([LABEL], anyone=True) == LABEL
    assert "applied by mallory, who is not an approver here" in a.why_not([LABEL], TEAM)


def test_the_last_application_of_a_label_is_the_one_that_counts(api: GitHubApi) -> None:
    api.label(1, LABEL, actor="lead")
    api.unlabel(1, LABEL, actor="dev")
    api.label(1, LABEL, actor="dev")
    assert approvals(api).granted([LABEL], TEAM) is None
    api.unlabel(1, LABEL, actor="dev")
    assert approvals(api).granted([LABEL], TEAM) is None  # not on the pull request any more


def test_without_the_api_nothing_counts_and_the_hint_says_why() -> None:
    # What the event payload alone gives: labels, no reviews, no label events.
    pr = PullRequest(number=1, author="dev", head_sha=HEAD, repository="acme/flags", labels=frozenset({LABEL}))
    a = Approvals(pr, unread="no GitHub token was given (--github-token or $GITHUB_TOKEN)")
    assert a.granted([LABEL], TEAM) is None and a.granted([LABEL]) is None and a.label([LABEL], anyone=True) is None
    assert "no GitHub token was given" in a.why_not([LABEL], TEAM)
    bare = Approvals(pr)
    assert "who applied it is unknown" in bare.why_not([LABEL])


def test_reviews_without_a_known_head_count_on_any_commit() -> None:
    pr = PullRequest(author="dev", reviews=(Review("lead", "APPROVED", OLD),))
    assert Approvals(pr).approvers() == ("lead",)
    events = (LabelEvent(LABEL, "lead", True),)
    pr = PullRequest(author="dev", labels=frozenset({LABEL}), label_events=events)
    assert Approvals(pr).label([LABEL], users=["lead"]) == LABEL
