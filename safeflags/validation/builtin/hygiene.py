"""SF4xx: hygiene — who owns a flag, what it is for, and when it goes."""
from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from safeflags.compile.suggest import did_you_mean
from safeflags.sdk.kernel.timestamps import calendar_date
from safeflags.v1 import common_pb2
from safeflags.validation.api import Context, FlagSpec, FlagValidator
from safeflags.validation.finding import Finding, Severity

TEMPORARY = (common_pb2.FLAG_KIND_RELEASE, common_pb2.FLAG_KIND_EXPERIMENT, common_pb2.FLAG_KIND_MIGRATION)


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expiry(FlagValidator):
    """Expired flag, or a temporary flag without an expiry date.

    **What it catches**: a flag whose `expires` date has passed, and a
    release, experiment or migration flag with no `expires` at all.

    **Why**: flags are debt; every one left behind is a code path nobody
    tests. The date is the owner's promise to come back.

    **How to fix**: remove the flag (and its code paths), or move the date
    with a reason in the pull request. A flag that is permanent by design
    (a kill switch, compliance routing) suppresses this code with a reason.

    **Example**: `expires: '2026-09-30'` on 2026-11-22 — expired 53 days ago.
    """

    code = "SF401"
    name = "expiry"
    severity = Severity.WARNING

    def check_flag(self, flag: FlagSpec, ctx: Context) -> Iterator[Finding]:
        if flag.expires:
            # None when the date is not a real one: the compiler already refused
            # it (SF109) and a validator never raises over what it is given.
            when = calendar_date(flag.expires)
            if when is not None and when < ctx.today:
                days = (ctx.today - when).days
                yield self.at(flag, f"the flag expired on {flag.expires}, {days} day{'s' if days != 1 else ''} ago",
                              ctx.literal(flag, flag.expires), hint="remove the flag, or move its expiry with a reason")
        elif flag.kind in TEMPORARY:
            kind = common_pb2.FlagKind.Name(flag.kind).removeprefix("FLAG_KIND_").lower()
            yield self.at(flag, f"a {kind} flag needs an expiry date",
                          hint="add `expires: 'YYYY-MM-DD'`: when should it be gone?")


class UnknownOwner(FlagValidator):
    """Owner not in the owners list.

    **What it catches**: an `owner` or `co_owners` entry that is not a team
    under `owners:` in safeflags.yaml (with a did-you-mean).

    **Why**: the owner is who gets paged and who cleans up; a typo leaves
    the flag with nobody.

    **How to fix**: use a listed team, or add the team to safeflags.yaml.

    **Example**: `owner: 'team-biling'` — did you mean 'team-billing'?
    """

    code = "SF402"
    name = "unknown-owner"

    def check_flag(self, flag: FlagSpec, ctx: Context) -> Iterator[Finding]:
        owners = ctx.head.config.owners
        if not owners:
            return  # the repository keeps no list
        for who in [flag.owner, *flag.co_owners]:
            if who not in owners:
                near = did_you_mean(who, owners)
                yield self.at(flag, f"{who!r} is not a team in the owners list of safeflags.yaml",
                              ctx.literal(flag, who), hint=f"did you mean {near!r}?" if near else None)


class MissingDescription(FlagValidator):
    """Missing description.

    **What it catches**: a `description` that is empty, blank, a
    placeholder (TODO, TBD, ...) or shorter than `min_length` characters.

    **Why**: the description is what a reviewer and the on-call read when
    the flag shows up in a diff or an incident.

    **How to fix**: say in a sentence what the flag changes for users.

    **Example**: `description: 'todo'`.
    """

    code = "SF403"
    name = "missing-description"

    class Options(_Options):
        min_length: int = Field(default=10, ge=0)

    PLACEHOLDERS = frozenset({"todo", "tbd", "fixme", "xxx", "n/a", "none", "-", "..."})

    def check_flag(self, flag: FlagSpec, ctx: Context) -> Iterator[Finding]:
        text = flag.description.strip()
        if text.lower().rstrip(".") in self.PLACEHOLDERS or len(text) < self.options.min_length:  # type: ignore[attr-defined]
            line = ctx.field(flag, "description")
            what = "is empty" if not text else f"{text!r} says too little"
            yield self.at(flag, f"the description {what}", line,
                          hint="say in a sentence what the flag changes for users")


class StaleRollout(FlagValidator):
    """Fully rolled out for too long: clean it up.

    **What it catches**: a flag whose `fully_rolled_out_since` is more than
    `max_days` days ago.

    **Why**: at 100 % the flag no longer decides anything; it only keeps a
    dead code path and a way to break production by accident.

    **How to fix**: remove the flag and the old code path.

    **Example**: `fully_rolled_out_since: '2026-09-15'` with `max_days: 30`.
    """

    code = "SF404"
    name = "stale-rollout"
    severity = Severity.WARNING

    class Options(_Options):
        max_days: int = Field(default=30, ge=0)

    def check_flag(self, flag: FlagSpec, ctx: Context) -> Iterator[Finding]:
        since = calendar_date(flag.fully_rolled_out_since)
        if since is None:  # absent, or not a real date (SF109)
            return
        days = (ctx.today - since).days
        if days > self.options.max_days:  # type: ignore[attr-defined]
            yield self.at(flag, f"fully rolled out for {days} days (since {flag.fully_rolled_out_since}): clean it up",
                          ctx.field(flag, "fully_rolled_out_since"), hint="remove the flag and the old code path")
