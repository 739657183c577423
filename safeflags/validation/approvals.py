"""Who approved a pull request, read strictly.

An approval is a submitted review whose state is APPROVED, on the pull
request's current head commit, by someone other than the author, who is in
the approver set a rule names: a group from `validation.approvers` in
safeflags.yaml (listed users, or a GitHub team whose membership is checked
through the API), or a user named directly. Each reviewer's latest
submitted review is the one that counts: a later "changes requested" or a
dismissal takes an approval back. A *requested* review never counts: the
author can request anyone.

A rule that names no approvers accepts an approval from anyone but the
author. A label counts as approval only when the person who last applied it is an
approver other than the author. Who applied a label is known only from the
GitHub API (the issue's events); without it no label counts, and the
finding's hint says so (`why_not`). GitHub logins are compared without
case, as GitHub does.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

# Review states as the REST API spells them.
APPROVED = "APPROVED"
COUNTING = frozenset({"APPROVED", "CHANGES_REQUESTED", "DISMISSED"})  # COMMENTED and PENDING change nothing


@dataclass(frozen=True)
class Review:
    user: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
    commit: str  # the head commit the review was submitted on ("" when unknown)


@dataclass(frozen=True)
class LabelEvent:
    label: str
    actor: str
    added: bool  # labeled (True) or unlabeled (False)


@dataclass(frozen=True)
class PullRequest:
    """What is known about the pull request being judged."""

    number: int = 0
    author: str = ""
    head_sha: str = ""
    repository: str = ""  # owner/name
    labels: frozenset[str] = frozenset()
    reviews: tuple[Review, ...] = ()  # in submission order
    # The labeled/unlabeled events in order; None when unknown (no API).
    label_events: tuple[LabelEvent, ...] | None = None

    @property
    def owner(self) -> str:
        return self.repository.partition("/")[0]


@dataclass(frozen=True)
class ApproverGroup:
    users: frozenset[str] = frozenset()
    github_team: str = ""  # "org/slug", checked through the API when a token can read it


# (org/slug, login) -> member? None when it cannot be told (no token, no access).
MembershipCheck = Callable[[str, str], "bool | None"]


def same_login(a: str, b: str) -> bool:
    return a.lower() == b.lower()


@dataclass
class Approvals:
    pull_request: PullRequest = field(default_factory=PullRequest)
    groups: Mapping[str, ApproverGroup] = field(default_factory=dict)
    membership: MembershipCheck | None = None
    # Why reviews and label events were not read ("" when they were, or
    # when the pull request carries them): the hint of every refusal.
    unread: str = ""
    _memo: dict[tuple[str, str], bool | None] = field(default_factory=dict, repr=False)

    # --- the sets ---------------------------------------------------------
    def in_set(self, login: str, groups: Iterable[str] = (), users: Iterable[str] = ()) -> bool:
        """`login` is a named user or a member of one of the groups. A group
        not defined in `validation.approvers` is read as a team of the
        repository's organisation. A rule that names no one accepts anyone
        (but the author, whom the callers leave out)."""
        groups, users = tuple(groups), tuple(users)
        if not groups and not users:
            return True
        if any(same_login(login, u) for u in users):
            return True
        for name in groups:
            group = self.groups.get(name)
            if group is None:
                group = ApproverGroup(github_team=f"{self.pull_request.owner}/{name}" if self.pull_request.owner
                                      else "")
            if any(same_login(login, u) for u in group.users):
                return True
            if group.github_team and self._member(group.github_team, login):
                return True
        return False

    def _member(self, team: str, login: str) -> bool:
        if self.membership is None:
            return False
        key = (team.lower(), login.lower())
        if key not in self._memo:
            self._memo[key] = self.membership(team, login)
        return bool(self._memo[key])

    # --- reviews and labels -----------------------------------------------
    def latest_reviews(self) -> dict[str, Review]:
        """Each reviewer's latest review that says something (approves,
        requests changes, or was dismissed), by login."""
        latest: dict[str, Review] = {}
        for r in self.pull_request.reviews:
            if r.state in COUNTING:
                latest[r.user.lower()] = r
        return latest

    def _on_head(self, review: Review) -> bool:
        head = self.pull_request.head_sha
        return not head or review.commit == head

    def approving_reviewers(self) -> tuple[str, ...]:
        """Logins whose latest counting review is APPROVED on the head commit,
        the author left out."""
        pr = self.pull_request
        return tuple(sorted(
            r.user for r in self.latest_reviews().values()
            if r.state == APPROVED and not same_login(r.user, pr.author) and self._on_head(r)
        ))

    def approvers(self, groups: Iterable[str] = (), users: Iterable[str] = ()) -> tuple[str, ...]:
        """Approving reviewers who are in the set."""
        groups, users = tuple(groups), tuple(users)
        return tuple(u for u in self.approving_reviewers() if self.in_set(u, groups, users))

    def label_applier(self, label: str) -> str | None:
        """Who last applied `label`, if it is on the pull request and that is known."""
        pr = self.pull_request
        if label not in pr.labels or pr.label_events is None:
            return None
        actor = None
        for e in pr.label_events:
            if e.label == label:
                actor = e.actor if e.added else None
        return actor

    def label(self, labels: Iterable[str], groups: Iterable[str] = (), users: Iterable[str] = (),
              *, anyone: bool = False) -> str | None:
        """The first of `labels` that counts: applied last by an approver in
        the set (by anyone but the author when `anyone` or no set is named)."""
        groups, users = tuple(groups), tuple(users)
        for name in labels:
            actor = self.label_applier(name)
            if actor is None or same_login(actor, self.pull_request.author):
                continue
            if anyone or self.in_set(actor, groups, users):
                return name
        return None

    def granted(self, labels: Iterable[str] = (), groups: Iterable[str] = (), users: Iterable[str] = ()) -> str | None:
        """How the set approved, in words ("review by alice", "label X applied
        by bob"), or None."""
        groups, users = tuple(groups), tuple(users)
        who = self.approvers(groups, users)
        if who:
            return f"approved by {', '.join(who)}"
        found = self.label(labels, groups, users)
        if found is not None:
            return f"label {found!r} applied by {self.label_applier(found)}"
        return None

    def why_not(self, labels: Iterable[str] = (), groups: Iterable[str] = (), users: Iterable[str] = ()) -> str:
        """Why nothing counted, for a finding's hint ("" when there is nothing
        to say): approvals that were not read, or read and refused."""
        pr = self.pull_request
        if self.unread:
            return f"reviews and who applied labels are read from the GitHub API, and were not: {self.unread}"
        groups, users = tuple(groups), tuple(users)
        reasons = []
        present = [x for x in labels if x in pr.labels]
        if present and pr.label_events is None:
            reasons.append(f"the label {present[0]!r} is on the pull request, but who applied it is unknown "
                           "(validate reads it from the GitHub API: give it a token)")
        elif present:
            actor = self.label_applier(present[0])
            if actor is not None and same_login(actor, pr.author):
                reasons.append(f"the label {present[0]!r} was applied by the author, which does not count")
            elif actor is not None:
                reasons.append(f"the label {present[0]!r} was applied by {actor}, who is not an approver here")
        for r in sorted(self.latest_reviews().values(), key=lambda r: r.user.lower()):
            if r.state != APPROVED:
                continue
            if same_login(r.user, pr.author):
                reasons.append("the author's own approval does not count")
            elif not self._on_head(r):
                reasons.append(f"{r.user} approved an older commit ({r.commit[:7] or 'unknown'}), not the head "
                               f"({pr.head_sha[:7]})")
            elif not self.in_set(r.user, groups, users):
                unknown = any(v is None for (_, login), v in self._memo.items() if login == r.user.lower())
                reasons.append(f"{r.user} approved but is not an approver here"
                               + (" (a team's members could not be read with the token given)" if unknown else ""))
        return "; ".join(reasons)
