"""This repository's own validators, enabled from safeflags.yaml
(`validation.local_validators`). They use the same plugin API as the
built-ins; see docs/validators.md."""
from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from safeflags.validation import Context, Finding, FlagValidator
from safeflags.validation.api import FlagSpec


class PaymentsNeedTwoOwners(FlagValidator):
    """Payments flags need two owning teams.

    **What it catches**: a flag tagged `payments` (or another tag from
    `tags`) with no `co_owners`.

    **Why**: a payments incident at 3 a.m. needs a second team that knows
    the flag; one team's on-call can be unreachable.

    **How to fix**: add a second team, e.g. `co_owners: ['team-security']`.

    **Example**: `tags: ['payments']` with only `owner: 'team-billing'`.
    """

    code = "PAY001"
    name = "payments-two-owners"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        tags: list[str] = Field(default_factory=lambda: ["payments"])

    def check_flag(self, flag: FlagSpec, ctx: Context) -> Iterator[Finding]:
        options = self.options
        assert isinstance(options, self.Options)  # the runner builds them from Options
        tagged = set(flag.tags) & set(options.tags)
        if tagged and not flag.co_owners:
            yield self.at(flag, f"a flag tagged {', '.join(sorted(tagged))} needs a second owning team",
                          ctx.field(flag, "owner"), hint="add co_owners: ['<team>']")
