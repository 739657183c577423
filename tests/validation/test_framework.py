"""Loading, settings, the runner, the event payload and the base export."""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from safeflags.compile.config import load_config
from safeflags.compile.driver import CompileResult
from safeflags.source.errors import ConfigError
from safeflags.v1 import common_pb2, spec_pb2
from safeflags.validation import registry
from safeflags.validation.api import Context, FlagValidator, Validator
from safeflags.validation.event import from_payload
from safeflags.validation.finding import Finding, Severity
from safeflags.validation.gitrev import RevisionError, exported
from safeflags.validation.runner import ValidatorCrashed, run
from safeflags.validation.settings import parse_settings, resolve_rules
from tests.validation.harness import HERE

BUILTIN = registry.load(HERE)


def _repo(tmp_path: Path, validation: str = "", files: dict[str, str] | None = None) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    text = (HERE / "data" / "safeflags.yaml").read_text()
    (tmp_path / "safeflags.yaml").write_text(text + validation)
    for rel, body in (files or {}).items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(body)
    return tmp_path


def test_builtins_load_sorted_with_docs() -> None:
    codes = [c.code for c in BUILTIN]
    assert codes == sorted(codes) and len(codes) == len(set(codes))
    assert {"SF101", "SF201", "SF301", "SF401"} <= set(codes)
    for cls in BUILTIN:
        assert "**How to fix**" in (cls.__doc__ or ""), cls.code


VALIDATOR_HEAD = "from safeflags.validation import Validator\nclass V(Validator):\n"


@pytest.mark.parametrize("body, problem", [
    ("import no_such_module\n", "ModuleNotFoundError"),
    (VALIDATOR_HEAD + "    '''d'''\n    code = 'SF101'\n    name = 'x'\n", "already taken"),
    (VALIDATOR_HEAD + "    code = 'X1'\n    name = 'x'\n", "code 'X1'"),
    (VALIDATOR_HEAD + "    code = 'TEAM001'\n    name = 'x'\n", "no docstring"),
    ("x = 1\n", "no Validator subclass"),
])
def test_a_local_validator_that_fails_to_load_stops_the_run(tmp_path: Path, body: str, problem: str) -> None:
    _repo(tmp_path, files={"validators/team.py": body})
    with pytest.raises(registry.ValidatorLoadError) as err:
        registry.load(tmp_path, ["validators/team.py"])
    assert "validators/team.py" in str(err.value) and problem in str(err.value)


def test_settings_errors_are_located(tmp_path: Path) -> None:
    root = _repo(tmp_path, "validation:\n  rules:\n"
                           "    SF3O1: {enabled: false}\n    SF404: {max_dayz: 3}\n    SF101: {enabled: false}\n")
    config = load_config(root)
    with pytest.raises(ConfigError) as err:
        resolve_rules(config, parse_settings(config), BUILTIN)
    got = {(e.line, e.message) for e in err.value.errors}
    base = len((HERE / "data" / "safeflags.yaml").read_text().splitlines())
    assert (base + 3, "no validator has the code 'SF3O1'") in got
    assert (base + 4, "unknown key 'max_dayz'") in got
    assert any(line == base + 5 and "cannot be disabled" in msg for line, msg in got)
    assert any(e.hint == "did you mean 'SF301'?" for e in err.value.errors)


def test_unknown_top_level_key(tmp_path: Path) -> None:
    config = load_config(_repo(tmp_path, "validation:\n  rulez: {}\n"))
    with pytest.raises(ConfigError, match="unknown key 'rulez'"):
        parse_settings(config)


class _Loud(FlagValidator):
    """Reports every flag."""

    code, name = "TST001", "loud"

    def check_flag(self, flag: spec_pb2.FlagSpec, ctx: Context) -> Iterator[Finding]:
        yield self.at(flag, "seen")


def _ctx(tmp_path: Path, validation: str = "", **flags: list[spec_pb2.Suppression]) -> Context:
    config = load_config(_repo(tmp_path, validation))
    specs = {}
    for name, sup in flags.items():
        specs[f"ns.{name}"] = spec_pb2.FlagSpec(key=f"ns.{name}", suppressions=sup, location=common_pb2.Location(
            file=f"flags/ns/{name}.jsonnet", line=2, column=1))
    return Context(CompileResult(config, specs=specs))


def test_settings_regrade_scope_and_suppress(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "validation:\n  rules:\n    TST001: {severity: warning, paths: ['flags/ns/a*']}\n",
               a=[], ab=[spec_pb2.Suppression(code="TST001", reason="reviewed: intended")], b=[])
    rules = resolve_rules(ctx.head.config, parse_settings(ctx.head.config), [_Loud])
    out = run(ctx, [_Loud(rules["TST001"].options)], rules)
    assert [(f.flag, f.severity) for f in out.findings] == [("ns.a", Severity.WARNING)]
    assert [(s.flag, s.code, len(s.silenced)) for s in out.suppressions] == [("ns.ab", "TST001", 1)]
    assert not out.failed


def test_a_validator_that_raises_stops_the_run(tmp_path: Path) -> None:
    class Boom(Validator):
        """Breaks."""

        code, name = "TST002", "boom"

        def check(self, ctx: Context) -> Iterator[Finding]:
            raise KeyError("oops")

    with pytest.raises(ValidatorCrashed, match=r"TST002 \(boom\) raised KeyError"):
        run(_ctx(tmp_path), [Boom()], {})


def test_a_validator_may_only_report_its_own_code(tmp_path: Path) -> None:
    class Liar(Validator):
        """Reports someone else's code."""

        code, name = "TST003", "liar"

        def check(self, ctx: Context) -> Iterator[Finding]:
            yield Finding("SF101", Severity.ERROR, "x", "f")

    with pytest.raises(ValidatorCrashed, match="its own code"):
        run(_ctx(tmp_path), [Liar()], {})


def test_event_payload() -> None:
    pr = from_payload({
        "pull_request": {"number": 7, "user": {"login": "ana"}, "labels": [{"name": "safeflags/skip-stage"}],
                         "head": {"sha": "abc"}, "base": {"repo": {"full_name": "acme/flags"}},
                         "requested_reviewers": [{"login": "bo"}], "requested_teams": [{"slug": "flag-reviewers"}]},
        "review": {"state": "APPROVED", "user": {"login": "cy"}},
    })
    assert (pr.number, pr.author, pr.head_sha, pr.repository) == (7, "ana", "abc", "acme/flags")
    assert pr.labels == {"safeflags/skip-stage"}
    # Requests are not approvals, and the payload's one review is not the list: reviews and who
    # applied each label come from the API only.
    assert pr.reviews == () and pr.label_events is None
    assert from_payload({"pull_request": {"number": 7}, "repository": {"full_name": "o/r"}}).repository == "o/r"
    assert from_payload({"push": {}}).labels == frozenset()


def _git(cwd: Path, *args: str) -> None:
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", *identity, *args], cwd=cwd, check=True, capture_output=True)


def test_base_is_read_from_git_objects_not_the_work_tree(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    _repo(sub, files={"flags/a.txt": "committed\n"})
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "base")
    (sub / "flags" / "a.txt").write_text("dirty work tree\n")
    with exported(sub, "main") as rev:
        assert (rev.root / "flags" / "a.txt").read_text() == "committed\n"
        assert (rev.root / "safeflags.yaml").is_file()
    assert not rev.root.exists()
    with pytest.raises(RevisionError, match="unknown revision"), exported(sub, "no-such-ref"):
        pass
    shutil.rmtree(tmp_path / ".git")


def test_a_merge_group_payload_names_its_pull_request_by_number_only() -> None:
    sha = "a" * 40
    queued = from_payload({"merge_group": {"head_ref": f"refs/heads/gh-readonly-queue/main/pr-42-{sha}",
                                           "head_sha": "b" * 40, "base_sha": sha},
                           "repository": {"full_name": "acme/flags"}})
    assert (queued.number, queued.repository, queued.head_sha, queued.author) == (42, "acme/flags", "", "")
    assert queued.labels == frozenset() and queued.label_events is None
    for ref in ("refs/heads/main", f"gh-readonly-queue/main/pr-x-{sha}", f"gh-readonly-queue/main/pr-42-{sha[:8]}"):
        assert from_payload({"merge_group": {"head_ref": ref}}).number == 0
