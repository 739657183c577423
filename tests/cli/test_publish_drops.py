"""`safeflags publish` refuses, without --force, a bundle with no flags or
one that drops more than --max-drop (default 50 %) of the flags the channel
serves now, and says how many of how many."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from safeflags.cli.main import cli
from safeflags.store import open_store
from tests.helpers.builder import Builder


def bundle(tmp_path: Path, keys: list[str], revision: str) -> Path:
    b = Builder()
    path = tmp_path / f"{revision}.pb"
    path.write_bytes(b.data([b.flag(k, "bool", [True]) for k in keys], source_revision=revision))
    return path


def sf(*args: object, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner(env=env).invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def store(tmp_path: Path) -> tuple[str, str]:
    url = f"file://{tmp_path / 'store'}"
    ten = [f"f.k{i}" for i in range(10)]
    assert sf("publish", bundle(tmp_path, ten, "full"), "--store", url, "--channel", "prod")[0] == 0
    return url, "prod"


def test_a_bundle_without_flags_is_refused(tmp_path: Path, store: tuple[str, str]) -> None:
    url, channel = store
    empty = bundle(tmp_path, [], "empty")
    code, _, err = sf("publish", empty, "--store", url, "--channel", channel)
    assert code == 2 and "refusing to publish a bundle with 0 flags to 'prod'" in err and "--force" in err
    code, _, err = sf("publish", empty, "--store", url, "--channel", "brand-new")  # no channel to compare with
    assert code == 2 and "0 flags" in err
    assert open_store(url).pointer(channel).version == 1
    assert sf("publish", empty, "--store", url, "--channel", channel, "--force")[0] == 0


def test_dropping_more_than_half_is_refused_with_the_counts(tmp_path: Path, store: tuple[str, str]) -> None:
    url, channel = store
    four = bundle(tmp_path, [f"f.k{i}" for i in range(4)] + ["f.new"], "four")  # drops k4..k9
    code, _, err = sf("publish", four, "--store", url, "--channel", channel)
    assert code == 2
    assert err.strip() == (
        "safeflags: error: refusing to publish: the bundle drops 6 of the 10 flags 'prod' serves now (version 1), "
        "60 %, more than the 50 % allowed: f.k4, f.k5, f.k6, f.k7, f.k8, ... (1 more); "
        "use --force to publish anyway, or --max-drop to allow more")
    assert open_store(url).pointer(channel).version == 1
    assert sf("publish", four, "--store", url, "--channel", channel, "--max-drop", 60)[0] == 0
    assert open_store(url).pointer(channel).version == 2


def test_the_limit_comes_from_the_environment_and_force_overrides_it(tmp_path: Path, store: tuple[str, str]) -> None:
    url, channel = store
    half = bundle(tmp_path, [f"f.k{i}" for i in range(5)], "half")  # exactly 50 %: allowed
    assert sf("publish", half, "--store", url, "--channel", channel)[0] == 0
    one = bundle(tmp_path, ["f.k0"], "one")  # 80 % of the five served now
    code, _, err = sf("publish", one, "--store", url, "--channel", channel, env={"SAFEFLAGS_MAX_DROP": "10"})
    assert code == 2 and "drops 4 of the 5 flags" in err and "more than the 10 % allowed" in err
    code, out, _ = sf("publish", one, "--store", url, "--channel", channel, "--force")
    assert code == 0 and "published version 3" in out


def test_renaming_a_few_flags_passes(tmp_path: Path, store: tuple[str, str]) -> None:
    url, channel = store
    renamed = bundle(tmp_path, [f"f.k{i}" for i in range(8)] + ["f.x", "f.y"], "renamed")
    code, out, err = sf("publish", renamed, "--store", url, "--channel", channel)
    assert code == 0 and err == "" and "published version 2" in out
