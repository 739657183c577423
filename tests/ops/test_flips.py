"""`safeflags flips` over a real file store holding versions compiled from a small repository."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from safeflags.cli.main import cli
from safeflags.ops.flips import FlipsError, flips, parse_since
from safeflags.store import BundleStore, open_store
from tests.helpers.repo import FlagRepo, bool_flag

EU_ONLY = "overrides: [sf.when(sf.dim.region.in_(['eu-west-1'])).serve(true)],"
GOV = "overrides: [sf.when(sf.dim.region.in_(['us-gov-west-1'])).serve(true)],"
CANADA = "overrides: [sf.when(sf.dim.region.in_(['ca-central-1'])).serve(true)],"


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Channel prod: v1 a, b, c; v2 turns a on in eu-west-1 only; v3 moves b's override from
    GovCloud to Canada and adds d; v4 removes c. Version 2 is dated 2020."""
    root = tmp_path_factory.mktemp("flips")
    repo = FlagRepo(root / "repo")
    st = open_store(f"file://{root / 'store'}", create=True)
    repo.write("team.a", bool_flag())
    repo.write("team.b", bool_flag(GOV))
    repo.write("team.c", bool_flag())
    steps = [lambda: None,
             lambda: repo.write("team.a", bool_flag(EU_ONLY)),
             lambda: (repo.write("team.b", bool_flag(CANADA)), repo.write("team.d", bool_flag(EU_ONLY))),
             lambda: (repo.root / "flags/team/c.jsonnet").unlink()]
    for n, step in enumerate(steps, 1):
        step()
        result = repo.compile(revision=f"rev{n}")
        assert not result.errors, result.errors
        st.publish(result.data, "prod", source_revision=f"rev{n}")
    record = root / "store/history/prod/0000000002.json"
    body = json.loads(record.read_text())
    record.write_text(json.dumps({**body, "published": "2020-01-01T00:00:00Z"}))
    return root / "store"


@pytest.fixture
def st(store_dir: Path) -> BundleStore:
    return open_store(f"file://{store_dir}")


def listed(st: BundleStore, *static: str, since: datetime | None = None) -> list[tuple[int, str, str]]:
    return [(f.version, f.key, f.change) for f in flips(st, "prod", static=static, since=since)]


def test_a_flip_in_one_region_is_listed_there_only(st: BundleStore) -> None:
    eu = flips(st, "prod", static=["region=eu-west-1"])
    assert [(f.version, f.key, f.change) for f in eu] == [
        (2, "team.a", "modified"), (3, "team.d", "added"), (4, "team.c", "removed")]
    a = eu[0]
    assert (a.previous, a.source_revision, a.exposure_before, a.exposure_after) == (1, "rev2", 0.0, 1.0)
    assert a.rules_before == ("serve false",) and a.rules_after == ("serve true",)
    us = flips(st, "prod", static=["region=us-east-1"])
    assert [(f.version, f.key, f.change) for f in us] == [(3, "team.d", "added"), (4, "team.c", "removed")]
    assert (us[0].exposure_before, us[0].exposure_after) == (0.0, 0.0)  # added, but off in us-east-1


def test_a_change_that_specialises_the_same_is_not_listed(st: BundleStore) -> None:
    # b's override moved between two other regions: same served value in eu-west-1, not everywhere
    assert (3, "team.b", "modified") not in listed(st, "region=eu-west-1")
    everywhere = {(v, k): f for f in flips(st, "prod") for v, k in [(f.version, f.key)]}
    b = everywhere[(3, "team.b")]
    # by the catalog's traffic weights: GovCloud serves 2 %, Canada 3 %
    assert (b.exposure_before, b.exposure_after) == (pytest.approx(0.02), pytest.approx(0.03))
    assert any("ca-central-1" in line for line in b.rules_after)


def test_since_keeps_versions_published_from_then(st: BundleStore) -> None:
    assert listed(st, "region=eu-west-1", since=parse_since("2021-01-01T00:00:00Z")) == [
        (3, "team.d", "added"), (4, "team.c", "removed")]
    assert [v for v, _, _ in listed(st, "region=eu-west-1", since=parse_since("1h"))] == [3, 4]
    assert listed(st, since=parse_since("2999-01-01T00:00:00+02:00")) == []


def test_parse_since() -> None:
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    assert parse_since("30m", now) == datetime(2026, 1, 2, 11, 30, tzinfo=UTC)
    assert parse_since("7d", now) == datetime(2025, 12, 26, 12, 0, tzinfo=UTC)
    assert parse_since("2026-01-02T13:00:00+01:00") == now
    for bad in ("yesterday", "2026-01-02T12:00:00"):
        with pytest.raises(FlipsError):
            parse_since(bad)


def test_bad_static_is_an_error(st: BundleStore) -> None:
    with pytest.raises(FlipsError, match="static dimensions"):
        flips(st, "prod", static=["workspace_id=ws-1"])
    with pytest.raises(FlipsError, match="not one of"):
        flips(st, "prod", static=["region=mars-1"])


def test_cli_json_and_table(store_dir: Path) -> None:
    args = ["flips", "--store", f"file://{store_dir}", "--channel", "prod", "--static", "region=eu-west-1"]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [(f["version"], f["key"]) for f in out] == [(2, "team.a"), (3, "team.d"), (4, "team.c")]
    assert set(out[0]) == {"key", "change", "version", "previous", "published", "publisher", "source_revision",
                           "exposure_before", "exposure_after", "rules_before", "rules_after"}
    assert out[1]["exposure_before"] == 0.0 and out[1]["exposure_after"] == 1.0
    assert out[2]["exposure_after"] == 0.0 and out[2]["rules_after"] == []
    table = CliRunner().invoke(cli, args)
    assert table.exit_code == 0
    row = next(line for line in table.stdout.splitlines() if "team.a" in line)
    assert row.split()[:2] == ["2", "2020-01-01T00:00:00Z"] and "0 % -> 100 %" in row
    bad = CliRunner().invoke(cli, [*args, "--since", "soon"])
    assert bad.exit_code == 2 and "--since 'soon'" in bad.stderr
