"""The store commands, end to end through click, on both backends."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from safeflags.cli.main import cli
from tests.helpers.bundles import numbered


@pytest.fixture
def bundles(tmp_path: Path) -> list[Path]:
    paths = []
    for n in (1, 2, 3):
        p = tmp_path / f"b{n}.pb"
        p.write_bytes(numbered(n))
        paths.append(p)
    return paths


def sf(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_publish_pin_rollback_unpin_gc(store_url: str, bundles: list[Path]) -> None:
    s = ("--store", store_url, "--channel", "prod")
    assert sf("publish", bundles[0], *s)[0] == 0
    code, out, _ = sf("publish", bundles[1], *s)
    assert code == 0 and "published version 2 of 'prod'" in out
    code, out, _ = sf("rollback", *s)
    assert code == 0 and "version 1" in out and "pinned (latest 2)" in out
    code, _, err = sf("publish", bundles[2], *s)
    assert code == 2 and "is pinned at version 1" in err and "--force" in err
    code, out, _ = sf("publish", bundles[2], *s, "--force")
    assert code == 0 and "unpinned it" in out
    code, out, _ = sf("pin", *s, 2)
    assert code == 0 and "pinned channel 'prod'" in out
    assert "version 3" in sf("unpin", *s)[1]
    code, out, _ = sf("history", *s, "--json")
    assert [r["version"] for r in json.loads(out)["history"]] == [1, 2, 3]
    assert [(e["action"], e["from_version"], e["version"]) for e in json.loads(out)["events"]] == [
        ("rollback", 2, 1), ("pin", 3, 2), ("unpin", 2, 3)]
    assert "rollback  2 -> 1" in sf("history", *s)[1]
    code, out, _ = sf("channels", "--store", store_url)
    assert code == 0 and out.splitlines()[1].split()[:3] == ["prod", "3", "3"]
    code, out, _ = sf("gc", "--store", store_url, "--keep", 1, "--min-age", 0)
    assert code == 0 and "deleted 2 bundle(s), kept 1" in out
    # The two deleted bundles share no chunk with the kept one: their manifests and chunks go too.
    assert "deleted 2 chunk(s) no kept bundle's manifest lists" in out


def test_clear_errors(store_url: str, bundles: list[Path], tmp_path: Path) -> None:
    sf("publish", bundles[0], "--store", store_url, "--channel", "staging")
    code, _, err = sf("history", "--store", store_url, "--channel", "stagign")
    assert code == 2
    assert err.strip() == (f"safeflags: error: channel 'stagign' does not exist in {store_url} "
                           "(channels: staging); did you mean 'staging'?")
    code, _, err = sf("pin", "--store", store_url, "--channel", "staging", 5)
    assert code == 2 and "has no version 5 (versions 1..1)" in err
    junk = tmp_path / "junk.pb"
    junk.write_bytes(b"\x00garbage")
    code, _, err = sf("publish", junk, "--store", store_url, "--channel", "staging")
    assert code == 2 and "junk.pb" in err


def test_missing_store(tmp_path: Path) -> None:
    code, _, err = sf("channels", "--store", f"file://{tmp_path}/none")
    assert code == 2 and "does not exist" in err


def test_bad_credentials_are_named(s3_env, bundles: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    code, _, err = sf("publish", bundles[0], "--store", f"s3://{s3_env.bucket}/x", "--channel", "prod")
    assert code == 2 and "access denied" in err and "AWS_SECRET_ACCESS_KEY" in err


def test_publish_signs_channel_version_and_digest(tmp_path: Path, bundles: list[Path]) -> None:
    from cryptography.hazmat.primitives import serialization

    from safeflags.delivery.signature import load_public_key, statement, verify
    from safeflags.store import open_store
    from tests.helpers.delivery import new_keypair

    key, public_pem = new_keypair()
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    url = f"file://{tmp_path / 'st'}"
    code, out, _ = sf("publish", bundles[0], "--store", url, "--channel", "prod", "--sign-key", tmp_path / "key.pem")
    assert code == 0 and ", signed" in out
    ptr = open_store(url).pointer("prod")
    verify(statement("prod", 1, ptr.digest), ptr.signature, load_public_key(public_pem))
    assert "yes" in sf("history", "--store", url, "--channel", "prod")[1].splitlines()[1]
