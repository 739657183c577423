"""The service-facing client: types, reasons, errors, reporting, swapping."""
from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

import pytest

import safeflags
from safeflags import BundleError, ErrorCode, Evaluator, Reason, Snapshot
from safeflags.sdk.kernel.bucketing import bucket
from tests.helpers.builder import Builder, Json

b = Builder()
FLAGS = [
    b.flag("a.on", "bool", [False, True], fallback=1),
    b.flag("a.geo", "bool", [False, True], [
        b.rule(b.all_(b.in_("country", "US", "CA", "GB"), b.in_("plan", "pro")), value=1, label="override 1", line=7),
    ]),
    b.flag("a.off", "bool", [False, True], [b.rule(b.const(True), value=1)], disabled=True),
    b.flag("a.regional", "string", ["old", "new"], [b.rule(b.in_("region", "us-east-1"), value=1)]),
    b.flag("a.gated", "int", [0, 10, 20], [
        b.rule(b.not_(b.cmp("app_version", ">=", "2.14.0", "semver")), value=0, reason="default", label="requires"),
        b.rule(b.present("user_id"), split=b.split("user_id", "exp", [(1, 50_000), (2, 100_000)]), reason="split"),
    ], fallback=0, variants=["control", "a", "b"]),
    b.flag("a.ratio", "float", [0.0, 0.25], fallback=1),
    b.flag("a.config", "json", [Json({"limits": [1, 2]}), Json(None)]),
    b.flag("a.needs_geo", "bool", [False, True], [b.rule(b.flag_is("a.geo", True), value=1)]),
    b.flag("a.needs_on", "bool", [False, True], [b.rule(b.flag_is("a.on", True), value=1)]),
]
DATA = b.data(FLAGS)
STATIC = {"region": "us-east-1"}


@pytest.fixture
def client() -> Evaluator:
    return Evaluator.from_bytes(DATA, static=STATIC)


def unit_in(salt: str, lo: int, hi: int) -> str:
    return next(u for u in (f"user-{i}" for i in range(10_000)) if lo <= bucket(salt, u) < hi)


def test_values_and_reasons(client: Evaluator) -> None:
    d = client.details("a.on", False)
    assert (d.value, d.reason, d.error_code) == (True, Reason.STATIC, None)
    d = client.details("a.geo", False, {"country": "CA", "plan": "pro"})
    assert (d.value, d.reason, d.rule_index) == (True, Reason.TARGETING_MATCH, 0)
    d = client.details("a.geo", None, {"country": "CA", "plan": "free"})
    assert (d.value, d.reason, d.rule_index) == (False, Reason.DEFAULT, None)
    assert client.details("a.off", None).reason is Reason.DISABLED and client.get_bool("a.off", True) is False
    # Depends on a static dimension only: a constant here.
    assert client.details("a.regional", "x").reason is Reason.STATIC
    assert client.get_string("a.regional", "x", {"region": "eu-west-1"}) == "new"  # pinned value wins
    assert Evaluator.from_bytes(DATA).get_string("a.regional", "x", {"region": "us-east-1"}) == "new"
    assert Evaluator.from_bytes(DATA).details("a.regional", "x").reason is Reason.DEFAULT


def test_gate_and_split_arms(client: Evaluator) -> None:
    d = client.details("a.gated", -1, {"app_version": "2.13.9", "user_id": "u"})
    assert (d.value, d.variant, d.reason, d.rule_index) == (0, "control", Reason.DEFAULT, 0)
    low, high = unit_in("exp", 0, 50_000), unit_in("exp", 50_000, 100_000)
    d = client.details("a.gated", -1, {"app_version": "2.14.0", "user_id": low})
    assert (d.value, d.variant, d.reason, d.rule_index) == (10, "a", Reason.SPLIT, 1)
    assert client.get_int("a.gated", -1, {"app_version": "2.14.0", "user_id": high}) == 20
    d = client.details("a.gated", -1, {"app_version": "2.14.0"})
    assert (d.value, d.reason) == (0, Reason.DEFAULT)


def test_prerequisites(client: Evaluator) -> None:
    assert client.get_bool("a.needs_geo", None, {"country": "US", "plan": "pro"}) is True
    assert client.get_bool("a.needs_geo", None, {"country": "FR", "plan": "pro"}) is False
    # A prerequisite on a constant flag is folded at load time.
    assert client.details("a.needs_on", None).reason is Reason.STATIC


def test_wrong_type_and_missing_flag_serve_the_code_default(client: Evaluator) -> None:
    d = client.details("a.on", "dflt", expect="string")
    assert (d.value, d.reason, d.error_code) == ("dflt", Reason.ERROR, ErrorCode.TYPE_MISMATCH)
    assert client.get_string("a.on", "dflt") == "dflt"
    assert client.get_float("a.gated", 1.5) == 1.5  # ints are not widened
    assert client.get_int("a.ratio", 3) == 3
    assert client.get_float("a.ratio", 1.5) == 0.25
    d = client.details("nope", 7)
    assert (d.value, d.reason, d.error_code) == (7, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)
    assert client.get_bool("nope", "x") == "x"
    assert client.status().errors[("nope", "FLAG_NOT_FOUND")] == 2


def test_json_values_are_fresh_copies(client: Evaluator) -> None:
    first = client.get_json("a.config", None)
    first["limits"].append(3)
    assert client.get_json("a.config", None) == {"limits": [1, 2]}
    assert client.details("a.config", None).value == {"limits": [1, 2]}


def test_invalid_context(client: Evaluator) -> None:
    d = client.details("a.geo", "dflt", ["country", "US"])
    assert (d.value, d.error_code) == ("dflt", ErrorCode.INVALID_CONTEXT)
    assert client.get_bool("a.geo", "dflt", 42) == "dflt"
    assert client.get_bool("a.on", "dflt", 42) is True  # a constant does not read the context


def test_errors_are_reported_once_and_hooks_cannot_raise(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[tuple[str, BaseException]] = []

    def hook(key: str, exc: BaseException) -> None:
        seen.append((key, exc))
        raise RuntimeError("the hook itself is broken")

    client = Evaluator.from_bytes(DATA, on_error=hook)
    with caplog.at_level(logging.WARNING, logger="safeflags"):
        for _ in range(3):
            assert client.get_bool("missing", False) is False
            assert client.get_int("a.on", 5) == 5
    assert [k for k, _ in seen] == ["missing", "a.on"]
    assert len([r for r in caplog.records if "missing" in r.getMessage()]) == 1
    assert client.status().errors == {("missing", "FLAG_NOT_FOUND"): 3, ("a.on", "TYPE_MISMATCH"): 3}


def test_unexpected_fault_in_one_flag_is_general_error(client: Evaluator, monkeypatch: pytest.MonkeyPatch) -> None:
    client.get_bool("a.geo", None, {})  # prepared
    boom = RuntimeError("boom")

    def broken(*args: object) -> object:
        raise boom

    monkeypatch.setitem(client.snapshot.fast_bool, "a.geo", broken)
    monkeypatch.setattr(client.snapshot, "outcome_fn", lambda entry: broken)
    monkeypatch.setattr(client.snapshot, "reference", broken)
    d = client.details("a.geo", "dflt", {})
    assert (d.value, d.reason, d.error_code) == ("dflt", Reason.ERROR, ErrorCode.GENERAL)
    assert client.get_bool("a.geo", "dflt", {}) == "dflt"
    assert client.get_bool("a.on", None) is True  # other flags are untouched


def test_no_snapshot_is_not_ready() -> None:
    client = Evaluator()
    d = client.details("a.on", "dflt")
    assert (d.value, d.reason, d.error_code) == ("dflt", Reason.ERROR, ErrorCode.PROVIDER_NOT_READY)
    assert client.get_bool("a.on", False) is False and client.status().ready is False
    client.load_bytes(DATA)
    assert client.get_bool("a.on", False) is True


def test_bad_bytes_are_bundle_errors() -> None:
    with pytest.raises(BundleError, match="digest mismatch"):
        Evaluator.from_bytes(DATA, digest="sha256-" + "0" * 64)
    with pytest.raises(BundleError, match="SHA-256"):
        Evaluator.from_bytes(DATA, digest="md5-abc")
    with pytest.raises(BundleError, match="corrupt or truncated"):
        Evaluator.from_bytes(DATA[: len(DATA) // 2])
    with pytest.raises(BundleError):
        Evaluator.from_bytes(b"\xff" * 64)
    with pytest.raises(BundleError, match="no format version"):
        Evaluator.from_bytes(b"")
    with pytest.raises(BundleError, match="newer"):
        Evaluator.from_bytes(b.data(FLAGS, format_version=2))
    with pytest.raises(BundleError, match="not sorted"):
        bundle = b.bundle(FLAGS)
        bundle.flags[0].key = "zzz"
        Evaluator.from_bytes(bundle.SerializeToString())
    digest = hashlib.sha256(DATA).hexdigest()
    assert Evaluator.from_bytes(DATA, digest=digest).status().digest == f"sha256-{digest}"
    assert Evaluator.from_bytes(DATA, digest=f"SHA256-{digest.upper()}").status().ready


def test_every_truncation_is_refused_or_a_valid_prefix() -> None:
    # Only the digest can catch a cut exactly between two fields; every other
    # cut must be refused, and nothing but BundleError may escape.
    refused = 0
    for n in range(len(DATA)):
        try:
            Snapshot.from_bytes(DATA[:n])
        except BundleError:
            refused += 1
        else:
            with pytest.raises(BundleError):
                Snapshot.from_bytes(DATA[:n], digest=hashlib.sha256(DATA).hexdigest())
    assert refused > len(DATA) * 0.8


def test_from_file_and_status(tmp_path: Path) -> None:
    path = tmp_path / "bundle.pb"
    path.write_bytes(DATA)
    client = safeflags.Client.from_file(path, static={"region": "us-east-1", "user_id": "x", "nope": 1})
    s = client.status()
    assert (s.flags, s.format_version, s.source_revision, s.compiler_version) == (len(FLAGS), 1, "abc123", "0.1.0")
    assert s.static == {"region": "us-east-1"} and s.ignored_static == ("nope", "user_id")


def test_swap_is_atomic_under_threads() -> None:
    old = b.data([b.flag("k", "string", ["old"]), b.flag("j", "string", ["old"])])
    new = b.data([b.flag("k", "string", ["new"]), b.flag("j", "string", ["new"])])
    snaps = [Snapshot.from_bytes(old), Snapshot.from_bytes(new)]
    client = Evaluator(snaps[0])
    stop = threading.Event()
    failures: list[object] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                d = client.details("k", "default", {})
                if d.value not in ("old", "new") or d.error_code is not None:
                    failures.append(d)
                if client.get_string("j", "default") not in ("old", "new"):
                    failures.append("j")
            except Exception as exc:  # pragma: no cover - the point is that this never happens
                failures.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(2000):
        client.swap(Snapshot.from_bytes(old if i % 2 else new) if i % 100 == 0 else snaps[i % 2])
    stop.set()
    for t in threads:
        t.join()
    assert failures == []


def test_explain(client: Evaluator) -> None:
    e = client.explain("a.geo", {"country": "US", "plan": "pro"})
    assert e.details.value is True and e.matched is not None
    assert (e.matched.index, e.matched.label, e.matched.line) == (0, "override 1", 7)
    assert e.rules[0].condition == 'all(country in {"US", "CA", "GB"}, plan in {"pro"})'
    assert "=> 0. override 1" in e.render()
    e = client.explain("a.regional")
    assert e.constant and e.details.reason is Reason.STATIC
    assert client.explain("nope").details.error_code is ErrorCode.FLAG_NOT_FOUND
