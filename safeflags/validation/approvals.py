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
finding's hint says so.
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


@dataclass
class Approvals:
    pull_request: PullRequest = field(default_factory=PullRequest)
    groups: Mapping[str, ApproverGroup] = field(default_factory=dict)
    membership: MembershipCheck | None = None
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
        if login in users:
            return True
        for name in groups:
            group = self.groups.get(name)
            if group is None:
                group = ApproverGroup(github_team=f"{self.pull_request.owner}/{name}" if self.pull_request.owner
                                      else "")
            if login in group.users:
                return True
            if group.github_team and self._member(group.github_team, login):
                return True
        return False

    def _member(self, team: str, login: str) -> bool:
        if self.membership is None:
            return False
        key = (team, login)
        if key not in self._memo:
            self._memo[key] = self.membership(team, login)
        return bool(self._memo[key])

    # --- reviews and labels -----------------------------------------------
    def approving_reviewers(self) -> tuple[str, ...]:
        """Logins whose latest counting review is APPROVED on the head commit,
        the author left out."""
        pr = self.pull_request
        latest: dict[str, Review] = {}
        for r in pr.reviews:
            if r.state in COUNTING:
                latest[r.user] = r
        return tuple(sorted(
            user for user, r in latest.items()
            if r.state == APPROVED and user != pr.author and (not pr.head_sha or r.commit == pr.head_sha)
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
            if actor is None or actor == self.pull_request.author:
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

    def why_not(self, labels: Iterable[str] = ()) -> str:
        """A hint on why nothing counted (for a finding's hint)."""
        pr = self.pull_request
        present = [x for x in labels if x in pr.labels]
        if present and pr.label_events is None:
            return (f"the label {present[0]!r} is on the pull request, but who applied it is unknown "
                    "(validate reads it from the GitHub API: give it a token)")
        if present and self.label_applier(present[0]) == pr.author:
            return f"the label {present[0]!r} was applied by the author, which does not count"
        return ""
