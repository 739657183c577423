"""The template library as the package ships it: every file of it is
package data (so the wheel holds all of it: scripts/package-check.sh looks
inside a real one), and it declares the version the compiler reports."""
from __future__ import annotations

import fnmatch
import tomllib

from safeflags.version import TEMPLATES_VERSION, __version__
from tests.helpers.repo import ROOT, TEMPLATES
from tests.templates.test_dsl import evaluate


def test_every_library_file_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["safeflags"]
    files = sorted(p.relative_to(TEMPLATES.parent).as_posix() for p in TEMPLATES.rglob("*") if p.is_file())
    assert "templates/safeflags.libsonnet" in files
    assert [f for f in files if not any(fnmatch.fnmatchcase(f, pat) for pat in patterns)] == []
    # One source: the example repository vendors none of it (its own helpers could live there).
    assert [f for f in files if (ROOT / f).exists()] == []


def test_the_library_declares_the_version_the_compiler_reports() -> None:
    assert evaluate("sf.version") == TEMPLATES_VERSION == __version__
