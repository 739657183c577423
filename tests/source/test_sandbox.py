"""The import sandbox on its own: what `Importer` finds and what it refuses,
without a Jsonnet engine in between (tests/compile/test_located_errors.py
shows the same refusals as located compile errors)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from safeflags.source.sandbox import (
    PACKAGED,
    PACKAGED_TEMPLATES,
    Importer,
    ImportRefused,
    RecordingImporter,
    library_version,
)
from safeflags.version import TEMPLATES_VERSION

BASE = "flags/billing"  # the importing file's directory, as the engine passes it


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A repository inside tmp_path, with files inside and outside its import roots."""
    repo = tmp_path / "repo"
    files = {
        "flags/billing/common.libsonnet": "{ shared: 1 }",
        "flags/search/other.libsonnet": "{ other: 2 }",
        "templates/safeflags.libsonnet": "{ lib: 3 }",
        "secrets.libsonnet": "{ inside_the_repo_but_not_a_root: 4 }",
        # Shares a prefix with the flags/ root: a string prefix test would let it in.
        "flags-private/key.libsonnet": "{ lookalike: 5 }",
    }
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    (tmp_path / "outside.libsonnet").write_text("{ machine: 6 }")
    return repo


def importer(root: Path, cls: type[Importer] = Importer) -> Importer:
    return cls(root, [root / "flags", root / "templates"], [root / "templates"])


def refused(imp: Importer, rel: str, why: str) -> None:
    with pytest.raises(ImportRefused, match=why):
        imp(BASE, rel)


def test_a_file_next_to_the_importer_and_one_from_the_library(root: Path) -> None:
    imp = importer(root)
    assert imp(BASE, "common.libsonnet") == ("flags/billing/common.libsonnet", b"{ shared: 1 }")
    assert imp(BASE, "safeflags.libsonnet") == ("templates/safeflags.libsonnet", b"{ lib: 3 }")
    # `..` is fine while it stays inside a root.
    assert imp(BASE, "../search/other.libsonnet") == ("flags/search/other.libsonnet", b"{ other: 2 }")
    assert imp.imported == {"flags/billing/common.libsonnet", "templates/safeflags.libsonnet",
                            "flags/search/other.libsonnet"}
    assert imp.sources()["templates/safeflags.libsonnet"] == "{ lib: 3 }"
    assert imp.refusal is None


@pytest.mark.parametrize("rel", ["/etc/hostname", "//etc/hostname", "~/.ssh/id_ed25519", "~root/x"])
def test_absolute_paths_are_refused(root: Path, rel: str) -> None:
    refused(importer(root), rel, "absolute paths are not allowed")


@pytest.mark.parametrize("rel", [
    "../../../outside.libsonnet",  # out of the repository
    "../../secrets.libsonnet",  # in the repository, in no import root
    "../../flags-private/key.libsonnet",  # a sibling whose name starts like a root
    "../../flags/../secrets.libsonnet",
])
def test_dotdot_escapes_are_refused(root: Path, rel: str) -> None:
    refused(importer(root), rel, r"resolves outside the repository's import roots \(flags/, templates/\)")


def test_a_symlink_out_of_the_roots_is_refused_and_one_inside_is_followed(root: Path) -> None:
    os.symlink(root.parent / "outside.libsonnet", root / "templates" / "evil.libsonnet")
    os.symlink(root / "secrets.libsonnet", root / "flags" / "billing" / "near.libsonnet")
    os.symlink(root / "flags" / "search" / "other.libsonnet", root / "templates" / "alias.libsonnet")
    os.symlink(root.parent, root / "flags" / "billing" / "up")  # a directory link out
    imp = importer(root)
    refused(imp, "evil.libsonnet", "outside the repository's import roots")
    refused(imp, "near.libsonnet", "outside the repository's import roots")
    refused(imp, "up/outside.libsonnet", "outside the repository's import roots")
    # Inside the roots a link is followed and named by where it leads.
    assert imp(BASE, "alias.libsonnet") == ("flags/search/other.libsonnet", b"{ other: 2 }")


def test_missing_files_and_directories(root: Path) -> None:
    imp = importer(root)
    refused(imp, "nope.libsonnet", r"no such file next to flags/billing or in the template library")
    refused(imp, "../search", "not a file")
    refused(imp, "common.libsonnet\0", "no such file")  # a NUL byte is a refusal, not a crash
    assert imp.imported == set()


def test_the_first_refusal_is_kept_and_answers_are_remembered(root: Path) -> None:
    imp = importer(root)
    refused(imp, "/etc/hostname", "absolute")
    refused(imp, "../../secrets.libsonnet", "outside")
    assert imp.refusal is not None and imp.refusal[0] == "/etc/hostname"
    # The answer for a (base, path) pair holds for the importer's life (one
    # compile), even if the file system changes under it.
    assert imp(BASE, "common.libsonnet")[1] == b"{ shared: 1 }"
    (root / "flags" / "billing" / "common.libsonnet").write_text("{ changed: true }")
    assert imp(BASE, "common.libsonnet")[1] == b"{ shared: 1 }"
    refused(imp, "/etc/hostname", "absolute")
    imp.reset()
    assert (imp.refusal, imp.imported, imp.sources()) == (None, set(), {})


def test_the_recording_importer_notes_each_call_with_the_bytes_hash(root: Path) -> None:
    imp = importer(root, RecordingImporter)
    assert isinstance(imp, RecordingImporter)
    imp(BASE, "common.libsonnet")
    imp("templates", "safeflags.libsonnet")
    digest = hashlib.sha256(b"{ shared: 1 }").hexdigest()
    assert imp.calls == [
        (BASE, "common.libsonnet", "flags/billing/common.libsonnet", digest),
        ("templates", "safeflags.libsonnet", "templates/safeflags.libsonnet",
         hashlib.sha256(b"{ lib: 3 }").hexdigest()),
    ]
    refused(imp, "/etc/hostname", "absolute")
    assert len(imp.calls) == 2  # a refusal is not a dependency


# --- the packaged template library: a fixed root of its own ---------------

def test_the_packaged_library_serves_what_the_repository_does_not_vendor(root: Path) -> None:
    imp = importer(root)
    # The repository's own copy wins; what it lacks comes from the package, named by no machine path.
    assert imp(BASE, "safeflags.libsonnet") == ("templates/safeflags.libsonnet", b"{ lib: 3 }")
    found, data = imp(BASE, "ramps.libsonnet")
    assert (found, data) == (f"{PACKAGED}/ramps.libsonnet", (PACKAGED_TEMPLATES / "ramps.libsonnet").read_bytes())
    assert found in imp.imported and imp.sources()[found] == data.decode()
    # The packaged files import each other only: a repository file of the same name is not half-mixed in.
    (root / "templates" / "conditions.libsonnet").write_text("{ repository: 7 }")
    assert imp(f"{PACKAGED}/", "conditions.libsonnet")[1] == (PACKAGED_TEMPLATES / "conditions.libsonnet").read_bytes()
    assert imp(BASE, "conditions.libsonnet") == ("templates/conditions.libsonnet", b"{ repository: 7 }")
    # Without a packaged library there is no fallback.
    refused(Importer(root, [root / "flags"], [], packaged=None), "ramps.libsonnet", "no such file")


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A package laid out like the installed one: its template library next to its code."""
    pkg = tmp_path / "pkg"
    (pkg / "templates").mkdir(parents=True)
    (pkg / "compile").mkdir()
    (pkg / "templates" / "lib.libsonnet").write_text("{ packaged: 8 }")
    (pkg / "version.py").write_text("__version__ = 'x'\n")
    (pkg / "compile" / "driver.py").write_text("# code, not a template\n")
    os.symlink(pkg / "version.py", pkg / "templates" / "code.libsonnet")
    os.symlink(tmp_path / "outside.libsonnet", pkg / "templates" / "machine.libsonnet")
    return pkg


@pytest.mark.parametrize(("base", "rel"), [
    (base, rel) for base in (BASE, f"{PACKAGED}/")
    for rel in ("../version.py", "../compile/driver.py", "../../pkg/version.py", "sub/../../version.py",
                "code.libsonnet", "machine.libsonnet")  # links in the packaged folder: to the package, the machine
] + [(f"{PACKAGED}/sub/", "../../version.py"), (f"{PACKAGED}/sub/", "../code.libsonnet")])
def test_no_import_leaves_the_packaged_library(tmp_path: Path, package: Path, base: str, rel: str) -> None:
    (tmp_path / "outside.libsonnet").write_text("{ machine: 6 }")
    (package / "templates" / "sub").mkdir()
    repo = tmp_path / "repo"
    (repo / "flags" / "billing").mkdir(parents=True)
    imp = Importer(repo, [repo / "flags"], [repo / "templates"], packaged=package / "templates")
    with pytest.raises(ImportRefused, match="resolves outside the packaged template library") as info:
        imp(base, rel)
    assert str(tmp_path) not in str(info.value)
    assert imp.imported == set()
    assert imp(base.replace("sub/", ""), "lib.libsonnet") == (f"{PACKAGED}/lib.libsonnet", b"{ packaged: 8 }")


def test_the_installed_package_is_out_of_reach_too(root: Path) -> None:
    imp = importer(root)
    package = PACKAGED_TEMPLATES.parent
    for base in (BASE, f"{PACKAGED}/"):
        for rel in ("../version.py", "../source/sandbox.py", f"../../{package.name}/version.py", "../templates/"):
            with pytest.raises(ImportRefused) as info:
                imp(base, rel)
            assert str(package) not in str(info.value), (base, rel)
    assert imp(f"{PACKAGED}/", "../templates/ramps.libsonnet")[0] == f"{PACKAGED}/ramps.libsonnet"  # stays inside


def test_a_repository_folder_named_like_the_package_is_only_a_repository_folder(root: Path) -> None:
    (root / PACKAGED).mkdir()
    (root / PACKAGED / "ramps.libsonnet").write_text("{ planted: 9 }")
    (root / PACKAGED / "extra.libsonnet").write_text("{ planted: 10 }")
    imp = importer(root)
    assert imp(f"{PACKAGED}/", "ramps.libsonnet")[1] == (PACKAGED_TEMPLATES / "ramps.libsonnet").read_bytes()
    refused(imp, f"../../{PACKAGED}/extra.libsonnet", "outside the repository's import roots")
    with pytest.raises(ImportRefused, match="no such file"):
        imp(f"{PACKAGED}/", "extra.libsonnet")


def test_the_library_version_says_packaged_or_vendored(root: Path) -> None:
    assert library_version(root, root / "lib") == TEMPLATES_VERSION  # nothing vendored there
    assert library_version(root, root / "templates") == "unknown (vendored in templates/)"
    (root / "templates" / "safeflags.libsonnet").write_text("{\n  version:: '0.0.9',\n}\n")
    assert library_version(root, root / "templates") == "0.0.9 (vendored in templates/)"
    assert library_version(root, root / "templates" / ".." / "templates") == "0.0.9 (vendored in templates/)"
