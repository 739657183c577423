"""A stage's `bake` (the minimum time after the previous stage reached the services) is a duration
the scheduler can read, carried into the spec; anything else is a located SF109 at the literal."""
from __future__ import annotations

import pytest

from safeflags.compile.driver import CompileResult
from safeflags.source.errors import SourceError
from tests.helpers.repo import FlagRepo, bool_flag

CASES = {
    "team.good": "rollout: sf.ramps.custom([1, sf.ramps.stage(10, bake='2h'), 100], unit='workspace_id', stage=1),",
    "team.all": "rollout: sf.ramps.standard(unit='workspace_id', stage=1, bake='30m'),",
    "team.words": "rollout: sf.ramps.custom([1, sf.ramps.stage(10, bake='1 day')], unit='workspace_id', stage=1),",
    "team.unit": "rollout: sf.ramps.standard(unit='workspace_id', stage=1,\n  bake=[null, '1h', '2w']),",
}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[FlagRepo, CompileResult]:
    repo = FlagRepo(tmp_path_factory.mktemp("bake"))
    for key, body in CASES.items():
        repo.write(key, bool_flag(body))
    return repo, repo.compile(jobs=1, cache=False)


def only_error(compiled: tuple[FlagRepo, CompileResult], key: str) -> SourceError:
    _, result = compiled
    errors = [e for e in result.errors if e.file == f"flags/{key.replace('.', '/')}.jsonnet"]
    assert len(errors) == 1, [e.format() for e in errors]
    return errors[0]


def test_a_duration_reaches_the_spec(compiled: tuple[FlagRepo, CompileResult]) -> None:
    _, result = compiled
    assert [s.bake for s in result.specs["team.good"].rollout.stages] == ["", "2h", ""]
    assert {s.bake for s in result.specs["team.all"].rollout.stages} == {"30m"}


@pytest.mark.parametrize(("key", "stage", "literal"), [("team.words", 1, "1 day"), ("team.unit", 2, "2w")])
def test_a_bad_duration_is_located_at_its_literal(compiled: tuple[FlagRepo, CompileResult], key: str, stage: int,
                                                  literal: str) -> None:
    repo, _ = compiled
    err = only_error(compiled, key)
    assert (err.code, err.field_path) == ("SF109", f"rollout.stages[{stage}].bake")
    assert f"{literal!r} is not a duration" in err.message and err.hint and "24h" in err.hint
    line = (repo.root / err.file).read_text().splitlines()[err.line - 1]
    assert line[err.column - 1:].startswith(f"'{literal}'"), err.format()
