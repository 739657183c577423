"""The import sandbox on its own: what `Importer` finds and what it refuses,
without a Jsonnet engine in between (tests/compile/test_located_errors.py
shows the same refusals as located compile errors)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from safeflags.source.sandbox import Importer, ImportRefused, RecordingImporter

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
