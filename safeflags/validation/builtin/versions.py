"""SF303: version gates, both ways — a flag enabled where the version it
requires is not deployed, and a requirement removed or loosened where the
old one is not deployed."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from safeflags.compile.yamldoc import YamlDoc
from safeflags.sdk.kernel import semver
from safeflags.source.errors import ConfigError, SourceError
from safeflags.validation.api import Change, ChangeValidator, Context, FlagSpec
from safeflags.validation.builtin.edits import Position, exposure_candidates, in_flag
from safeflags.validation.finding import Finding


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Deployment(_Options):
    where: dict[str, str | list[str]] = Field(default_factory=dict)
    version: str


class Inventory(_Options):
    services: dict[str, list[_Deployment]]


def load_inventory(root: Path, rel: str) -> Inventory:
    path = root / rel
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([SourceError(rel, 0, 0, f"cannot read the deployment inventory: {exc.strerror}")]) from None
    doc = YamlDoc.parse(rel, text)
    try:
        return Inventory.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(doc.validation_errors(exc, Inventory)) from None


def _where(dep: _Deployment) -> dict[str, frozenset[str]]:
    return {k: frozenset([v] if isinstance(v, str) else v) for k, v in dep.where.items()}


def _scope(dep: _Deployment) -> str:
    return ", ".join(f"{k}={v if isinstance(v, str) else '|'.join(v)}" for k, v in sorted(dep.where.items())) \
        or "everywhere"


def _needs(spec: FlagSpec) -> Mapping[str, str]:
    """service -> the highest min_version the flag requires of it."""
    out: dict[str, str] = {}
    for req in spec.requires:
        need, have = semver.parse(req.min_version), semver.parse(out.get(req.service, ""))
        if req.service not in out or (need is not None and (have is None or need > have)):
            out[req.service] = req.min_version
    return out


def _below(version: str, need: str) -> bool:
    have, want = semver.parse(version), semver.parse(need)
    return have is not None and want is not None and have < want


class VersionNotDeployed(ChangeValidator):
    """A flag serving where the service version it requires is not deployed.

    **What it catches**: in each scope of the deployment inventory (the file
    named by `inventory`) where a service runs a version below what the
    flag requires of it:

    - a change that newly exposes traffic there while a `requires` entry
      names a `min_version` above the deployed one;
    - a change that removes a `requires` entry, or lowers its `min_version`
      to or below the deployed version, while the flag serves something
      other than its default there: judged like enabling the flag where the
      old requirement is not deployed.

    **Why**: below the required version the SDK serves the default, so the
    stage reviewed today takes effect on some later deploy, unreviewed and
    unwatched — or, with the gate gone, the flag reaches code that is not
    there at all.

    **How to fix**: ship the version first, or leave those scopes out, or
    keep the requirement. If the deployed version has the code after all,
    say so with a suppression: `suppress: [sf.suppress('SF303', 'why')]`.

    **Example**: ramping `billing.new_invoice_path` (requires billing
    2.14.0) while prod runs billing 2.13.4; or deleting its `requires`.
    """

    code = "SF303"
    name = "version-not-deployed"

    class Options(_Options):
        inventory: str | None = None  # YAML file, relative to the repository root

    def check(self, ctx: Context) -> Iterator[Finding]:
        rel = self.options.inventory  # type: ignore[attr-defined]
        if not rel:
            return
        judge = ctx.base if ctx.base is not None else ctx.head
        inventory = load_inventory(judge.config.root, rel)
        for change in ctx.changes:
            if change.after is None or not change.after.enabled:
                continue
            yield from self._enabled(change, ctx, inventory)
            yield from self._loosened(change, ctx, inventory)

    def _enabled(self, change: Change, ctx: Context, inventory: Inventory) -> Iterator[Finding]:
        after = change.after
        assert after is not None
        for service, need in _needs(after).items():
            for dep in inventory.services.get(service, []):
                if not _below(dep.version, need):
                    continue
                share = ctx.exposure(change).newly_where(_where(dep))
                if share <= 0:
                    continue
                yield self.at(
                    after, f"newly enables ~{share:.0%} of {_scope(dep)}, where {service} {dep.version} is "
                    f"deployed but the flag requires {need}", in_flag(ctx, after, *exposure_candidates(change, ctx)),
                    hint=f"deploy {service} {need} there first, or keep the rollout out of that scope",
                )

    def _loosened(self, change: Change, ctx: Context, inventory: Inventory) -> Iterator[Finding]:
        before, after = change.before, change.after
        if before is None or after is None:
            return
        now = _needs(after)
        for service, old in _needs(before).items():
            new = now.get(service)
            if new is not None and not _below(new, old):
                continue  # kept or raised
            for dep in inventory.services.get(service, []):
                if not _below(dep.version, old) or (new is not None and _below(dep.version, new)):
                    continue  # met before, or still gated now
                share = ctx.exposure(change).share_where(_where(dep), "exposed_after")
                if share <= 0:
                    continue
                what = f"lowers the requirement on {service} from {old} to {new}" if new is not None \
                    else f"removes the requirement {service} ≥ {old}"
                where: list[Position] = [ctx.literal(after, new)] if new is not None else []
                where += [int(r.location.line) for r in after.requires if r.service == service]
                where += [ctx.field(after, "requires"), int(after.location.line)]
                yield self.at(
                    after, f"{what} while {service} {dep.version} is deployed in {_scope(dep)}: the flag now "
                    f"serves ~{share:.0%} of {_scope(dep)} something other than its default there",
                    in_flag(ctx, after, *where),
                    hint=f"deploy {service} {old} there first, or keep the requirement; if {dep.version} has the "
                    "code after all, say so in a suppression (sf.suppress('SF303', 'why'))",
                )
