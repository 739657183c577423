"""Edits as commands: the one literal a ramp, kill or enable changes, on the example repository."""
from __future__ import annotations

import difflib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeflags.compile.driver import CompileResult, compile_repo
from safeflags.ops.apply import apply
from safeflags.ops.edit import Edit, EditRefused, plan_enable, plan_kill, plan_ramp
from safeflags.v1 import spec_pb2
from safeflags.validation.changes import semantic
from tests.helpers.repo import FlagRepo, bool_flag
from tests.ops.examples import example_git_repo


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return example_git_repo(tmp_path_factory.mktemp("edit") / "repo")


@pytest.fixture(scope="module")
def result(repo: Path) -> CompileResult:
    compiled = compile_repo(repo)
    assert compiled.ok, compiled.errors
    return compiled


@pytest.fixture
def pristine(repo: Path) -> Iterator[None]:
    """Every flag file as committed after the test, whatever it wrote."""
    files = {p: p.read_bytes() for p in (repo / "flags").rglob("*.jsonnet")}
    yield
    for p, data in files.items():
        p.write_bytes(data)


def _steps(result: CompileResult) -> list[tuple[str, str | None, int | None]]:
    """Every allowed step of every example flag with a rollout: (key, next/back, or a stage to go to)."""
    out: list[tuple[str, str | None, int | None]] = []
    for key, spec in sorted(result.specs.items()):
        if not spec.HasField("rollout"):
            continue
        stage, n = spec.rollout.stage, len(spec.rollout.stages)
        out += [(key, "next", None)] if stage < n else []
        out += [(key, "back", None)] if stage > 0 else []
        out += [(key, None, t) for t in range(n + 1) if t != stage]
    return out


Step = tuple[str, str | None, int | None]


@pytest.fixture(scope="module")
def variants(repo: Path, result: CompileResult, tmp_path_factory: pytest.TempPathFactory
             ) -> dict[Step, tuple[Edit, CompileResult, str]]:
    """Every step's output file, compiled: all of them in one run of the compiler
    (one evaluator start, not one per step), each as a flag of its own beside
    the unchanged originals: step -> (the edit, the compile, the variant's key)."""
    root = tmp_path_factory.mktemp("variants") / "repo"
    shutil.copytree(repo, root, ignore=shutil.ignore_patterns(".git", ".safeflags-cache"))
    planned: dict[Step, tuple[Edit, str]] = {}
    for i, step in enumerate(_steps(result)):
        key, move, to = step
        edit = plan_ramp(result, key, step=move, to=to)
        (root / edit.file).with_name(f"{key.rsplit('.', 1)[1]}_step{i}.jsonnet").write_text(edit.after,
                                                                                         encoding="utf-8")
        planned[step] = (edit, f"{key}_step{i}")
    compiled = compile_repo(root, cache=False)
    assert compiled.ok, compiled.errors
    return {step: (edit, compiled, variant) for step, (edit, variant) in planned.items()}


def test_every_example_rollout_has_steps(result: CompileResult) -> None:
    keys = {k for k, _, _ in _steps(result)}
    assert {"billing.new_invoice_path", "checkout.express_pay_mobile", "platform.edge_cache_v2",
            "storage.compaction_v3"} <= keys


def test_the_rest_of_the_bundle_is_unchanged_beside_the_edited_files(
        result: CompileResult, variants: dict[Step, tuple[Edit, CompileResult, str]]) -> None:
    compiled = next(iter(variants.values()))[1]
    for key in result.specs:
        assert semantic(compiled.specs[key]) == semantic(result.specs[key]), key
        assert compiled.flag_facts(key).lowered.compiled() == result.flag_facts(key).lowered.compiled(), key


@given(data=st.data())
def test_a_ramp_step_compiles_to_exactly_the_flag_it_describes(
        result: CompileResult, variants: dict[Step, tuple[Edit, CompileResult, str]], data: st.DataObject) -> None:
    step = data.draw(st.sampled_from(sorted(variants, key=repr)))
    key, move, to = step
    edit, compiled, variant = variants[step]
    before = result.specs[key]
    moves = {"next": before.rollout.stage + 1, "back": before.rollout.stage - 1}
    target = moves[move] if move is not None else to
    assert target is not None
    # Only the stage number differs: the same bytes before and after it.
    prefix = 0
    while edit.before[prefix] == edit.after[prefix]:
        prefix += 1
    suffix = 0
    while edit.before[-1 - suffix] == edit.after[-1 - suffix]:
        suffix += 1
    removed, added = edit.before[prefix: len(edit.before) - suffix], edit.after[prefix: len(edit.after) - suffix]
    assert removed.isdigit() or removed == "", removed
    assert added.isdigit() or added == "", added
    assert edit.before.count("\n") == edit.after.count("\n")
    expected = spec_pb2.FlagSpec()
    expected.CopyFrom(before)
    expected.rollout.stage = target
    got = spec_pb2.FlagSpec()
    got.CopyFrom(compiled.specs[variant])
    got.key = key  # the variant's own file gives it another key; nothing else may differ
    assert semantic(got) == semantic(expected)


def test_a_ramp_diff_is_one_line(result: CompileResult) -> None:
    edit = plan_ramp(result, "billing.new_invoice_path", step="next")
    changed = [d for d in difflib.ndiff(edit.before.splitlines(), edit.after.splitlines()) if d[:1] in "+-"]
    assert changed == ["-   rollout: sf.ramps.standard(unit='workspace_id', stage=2),  // 1%, 5%, 25%, 50%, 100%",
                       "+   rollout: sf.ramps.standard(unit='workspace_id', stage=3),  // 1%, 5%, 25%, 50%, 100%"]


@pytest.mark.parametrize("stage", ["s", "1 + 1", "std.parseInt('2')"])
def test_a_computed_stage_is_refused_with_its_line(tmp_path: Path, stage: str) -> None:
    flags = FlagRepo(tmp_path)
    flags.write("team.computed", "local s = 2;\n" + bool_flag(
        f"rollout: sf.ramps.standard(unit='workspace_id', stage={stage}),"))
    compiled = flags.compile()
    assert compiled.ok, compiled.errors
    with pytest.raises(EditRefused, match=r"computed.*flags/team/computed\.jsonnet:8"):
        plan_ramp(compiled, "team.computed", step="next")


def test_no_step_past_the_ends(result: CompileResult) -> None:
    with pytest.raises(EditRefused, match="already at its last stage"):
        plan_ramp(result, "billing.tax_engine_v2", step="next")
    with pytest.raises(EditRefused, match="has no rollout"):
        plan_ramp(result, "billing.payment_processor", step="next")
    with pytest.raises(EditRefused, match="already at stage 2"):
        plan_ramp(result, "billing.new_invoice_path", to=2)


@pytest.mark.usefixtures("pristine")
def test_a_step_that_does_not_validate_writes_nothing(repo: Path, result: CompileResult) -> None:
    edit = plan_ramp(result, "search.reranker_explanations", to=5)  # 1 % -> 100 %, skipping three stages
    on_disk = (repo / edit.file).read_bytes()
    applied = apply(repo, edit)
    assert not applied.ok and not applied.written
    assert "SF301" in {f.code for f in applied.outcome.findings}
    assert "SF301" in applied.report and "stage=5" in applied.report  # rendered while the edit was in place
    assert (repo / edit.file).read_bytes() == on_disk


@pytest.mark.usefixtures("pristine")
def test_a_validated_step_is_written_and_a_dry_run_is_not(repo: Path, result: CompileResult) -> None:
    edit = plan_ramp(result, "storage.compaction_v3", step="next")
    dry = apply(repo, edit, dry_run=True)
    assert dry.ok and not dry.written
    assert (repo / edit.file).read_text(encoding="utf-8") == edit.before
    applied = apply(repo, edit)
    assert applied.ok and applied.written
    assert (repo / edit.file).read_text(encoding="utf-8") == edit.after
    assert applied.diff.startswith(f"--- a/{edit.file}\n+++ b/{edit.file}\n")
    scopes = {s.label: (s.before, s.after) for s in applied.exposure}
    top = scopes["all traffic"]
    assert top[0] < top[1]  # 10 % -> 25 % of workspaces


@pytest.mark.usefixtures("pristine")
def test_kill_engages_a_kill_switch(repo: Path, result: CompileResult) -> None:
    edit = plan_kill(result, "checkout.disable_recommendations")
    added = [d for d in difflib.ndiff(edit.before.splitlines(), edit.after.splitlines()) if d[:1] in "+-"]
    assert added == ["+   default: true,"]  # the template's default is inherited: one line says it
    applied = apply(repo, edit)
    assert applied.ok and applied.written
    assert [(s.before, s.after) for s in applied.exposure if s.label == "all traffic"] == [(0.0, 1.0)]
    assert compile_repo(repo).specs["checkout.disable_recommendations"].default.bool_value is True


@pytest.mark.usefixtures("pristine")
def test_kill_switches_a_release_flag_off_and_enable_undoes_it(repo: Path, result: CompileResult) -> None:
    kill = plan_kill(result, "billing.new_invoice_path")
    assert apply(repo, kill).written
    killed = compile_repo(repo)
    assert killed.specs["billing.new_invoice_path"].enabled is False
    enable = plan_enable(killed, "billing.new_invoice_path")
    assert enable.after == kill.before  # the line kill added is gone, nothing else moved
    applied = apply(repo, enable)
    assert applied.ok and applied.written
    assert (repo / kill.file).read_text(encoding="utf-8") == kill.before


def test_enable_removes_the_enabled_false_line(result: CompileResult) -> None:
    edit = plan_enable(result, "search.semantic_reranker")
    changed = [d for d in difflib.ndiff(edit.before.splitlines(), edit.after.splitlines()) if d[:1] in "+-"]
    assert changed == ["-   enabled: false,"]
    with pytest.raises(EditRefused, match="already enabled"):
        plan_enable(result, "billing.new_invoice_path")
    with pytest.raises(EditRefused, match="already switched off"):
        plan_kill(result, "search.semantic_reranker")


@pytest.mark.usefixtures("pristine")
def test_a_scoped_kill_adds_one_first_rule(repo: Path, result: CompileResult) -> None:
    edit = plan_kill(result, "billing.new_invoice_path", [("region", "eu-west-1"), ("region", "eu-central-1")])
    added = [d for d in difflib.ndiff(edit.before.splitlines(), edit.after.splitlines()) if d[:1] in "+-"]
    assert added == ["+     sf.when(sf.dim.region.in_(['eu-west-1', 'eu-central-1'])).serve(false),"]
    applied = apply(repo, edit)
    assert applied.ok and applied.written
    scopes = {s.label: (s.before, s.after) for s in applied.exposure}
    assert scopes["region: eu-west-1"][1] == 0.0 and scopes["region: eu-central-1"][1] == 0.0
    assert scopes["region: us-gov-west-1"] == (0.0, 0.0)
    spec = compile_repo(repo).specs["billing.new_invoice_path"]
    assert semantic(spec) == semantic(edit.expected)


@pytest.mark.usefixtures("pristine")
def test_a_scoped_kill_of_a_kill_switch_writes_its_overrides(repo: Path, result: CompileResult) -> None:
    edit = plan_kill(result, "checkout.disable_recommendations", [("environment", "prod"), ("region", "eu-west-1")])
    added = [d for d in difflib.ndiff(edit.before.splitlines(), edit.after.splitlines()) if d[:1] in "+-"]
    assert added == ["+   overrides: [sf.when(sf.all([sf.dim.environment.in_(['prod']), "
                     "sf.dim.region.in_(['eu-west-1'])])).serve(true)],"]
    applied = apply(repo, edit, dry_run=True)
    assert applied.ok and not applied.written
    assert [(s.before, s.after) for s in applied.exposure if s.label == "region: eu-west-1"] == [(0.0, 0.9)]


def test_a_scoped_kill_takes_static_dimensions_only(result: CompileResult) -> None:
    with pytest.raises(EditRefused, match="static string or enum dimensions only"):
        plan_kill(result, "checkout.disable_recommendations", [("workspace_id", "ws-1")])
    with pytest.raises(EditRefused, match="no value that is off"):
        plan_kill(result, "platform.request_timeout_ms", [("region", "eu-west-1")])
    with pytest.raises(EditRefused, match="a scoped rule would not be read"):
        plan_kill(result, "search.semantic_reranker", [("region", "eu-west-1")])


@pytest.mark.usefixtures("pristine")
def test_an_edit_planned_on_a_stale_file_is_refused(repo: Path, result: CompileResult) -> None:
    edit = plan_ramp(result, "storage.compaction_v3", step="next")
    (repo / edit.file).write_text(edit.before + "\n", encoding="utf-8")
    with pytest.raises(EditRefused, match="changed while the edit was planned"):
        apply(repo, edit)


@pytest.mark.usefixtures("pristine")
def test_uncommitted_work_on_another_flag_is_not_the_edits(repo: Path, result: CompileResult) -> None:
    other = plan_ramp(result, "search.reranker_explanations", step="next")
    (repo / other.file).write_text(other.after, encoding="utf-8")
    planned_on = compile_repo(repo)
    applied = apply(repo, plan_ramp(planned_on, "storage.compaction_v3", step="next"), planned_on=planned_on)
    assert applied.others == [] and applied.ok and applied.written
    assert {c.key for c in applied.outcome.changes} == {"search.reranker_explanations", "storage.compaction_v3"}
