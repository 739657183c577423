"""Loading validators: the built-ins come from a table in code, whatever the
package metadata says; entry points add third-party validators, which may
not take a built-in's code; a run with nothing to load stops."""
from __future__ import annotations

import sys
import textwrap
import tomllib
from collections.abc import Iterator
from importlib.metadata import EntryPoints
from pathlib import Path

import pytest

from safeflags.validation import registry
from safeflags.validation.builtin import BUILTIN

ROOT = Path(__file__).resolve().parents[2]
EVERY_CODE = {f"SF{n}" for n in (*range(101, 110), *range(201, 205), *range(301, 315), *range(401, 405))}

VALIDATOR = '''
from safeflags.validation import Validator

class {cls}(Validator):
    """A third-party rule."""

    code = "{code}"
    name = "third-party"

    def check(self, ctx):
        return []
'''


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path where tests install distributions."""
    path = tmp_path / "site"
    path.mkdir()
    before = set(sys.modules)
    monkeypatch.syspath_prepend(str(path))
    yield path
    for name in set(sys.modules) - before:
        if name.startswith("acme_"):
            del sys.modules[name]


def install(site: Path, dist: str, entries: dict[str, str], modules: dict[str, str] | None = None) -> None:
    """A real installed distribution: dist-info metadata with entry points in
    the validators' group, and its modules."""
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "".join(f"{name} = {value}\n" for name, value in entries.items())
    (info / "entry_points.txt").write_text(f"[{registry.GROUP}]\n{lines}")
    for name, text in (modules or {}).items():
        (site / f"{name}.py").write_text(textwrap.dedent(text))


def no_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a vendored copy, a PYTHONPATH checkout or a frozen build sees."""
    monkeypatch.setattr(registry, "entry_points", lambda **_: EntryPoints(()))


def test_the_builtins_load_without_any_package_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    no_entry_points(monkeypatch)
    codes = [cls.code for cls in registry.load(ROOT)]
    assert set(codes) == EVERY_CODE
    assert codes == sorted(codes)
    assert [cls.code for cls in BUILTIN] == sorted(EVERY_CODE)


def test_the_builtins_are_not_registered_as_entry_points() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    group = project.get("entry-points", {}).get(registry.GROUP, {})
    builtin = {f"{cls.__module__}:{cls.__qualname__}" for cls in BUILTIN}
    assert not set(group) & EVERY_CODE and not set(group.values()) & builtin


def test_stale_metadata_naming_the_builtins_loads_each_once(site: Path) -> None:
    # An install made when the built-ins were entry points, one of them since moved.
    install(site, "safeflags_old", {
        "SF101": "safeflags.validation.builtin.compile_errors:JsonnetError",
        "SF401": "safeflags.validation.builtin.gone:Expiry",
    })
    codes = [cls.code for cls in registry.load(ROOT)]
    assert sorted(codes) == sorted(EVERY_CODE)


def test_a_third_party_validator_loads_beside_the_builtins(site: Path) -> None:
    install(site, "acme_rules", {"ACME001": "acme_rules:Rule"},
            {"acme_rules": VALIDATOR.format(cls="Rule", code="ACME001")})
    classes = registry.load(ROOT)
    assert [c.code for c in classes] == sorted(EVERY_CODE | {"ACME001"})
    assert next(c for c in classes if c.code == "ACME001").__module__ == "acme_rules"


def test_a_third_party_entry_point_cannot_take_a_builtin_code(site: Path) -> None:
    install(site, "acme_impostor", {"SF101": "acme_impostor:Impostor"},
            {"acme_impostor": VALIDATOR.format(cls="Impostor", code="SF101")})
    with pytest.raises(registry.ValidatorLoadError) as err:
        registry.load(ROOT)
    message = str(err.value)
    assert message.startswith("validator SF101 (acme_impostor:Impostor) failed to load")
    assert "already taken by SF101 (built-in safeflags.validation.builtin.compile_errors:JsonnetError)" in message


def test_a_broken_third_party_entry_point_stops_the_run_named(site: Path) -> None:
    install(site, "acme_broken", {"ACME002": "acme_broken:Rule"}, {"acme_broken": "import acme_no_such_module\n"})
    with pytest.raises(registry.ValidatorLoadError, match=r"ACME002 \(acme_broken:Rule\).*ModuleNotFoundError"):
        registry.load(ROOT)


def test_nothing_to_load_stops_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    no_entry_points(monkeypatch)
    monkeypatch.setattr(registry, "BUILTIN", ())
    with pytest.raises(registry.NoValidators, match="no validator loaded"):
        registry.load(ROOT)
