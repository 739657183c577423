"""The committed generated code is what the .proto files generate, and
`protoc --decode` reads a compiled bundle."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.repo import ROOT, FlagRepo

sys.path.insert(0, str(ROOT / "tools"))
import gen_proto


def test_generated_code_is_reproducible(tmp_path: Path) -> None:
    generated = gen_proto.generate(tmp_path)
    assert [p.name for p in generated] == sorted(p.name for p in (ROOT / "safeflags" / "v1").glob("*_pb2.py*"))
    for path in generated:
        committed = ROOT / "safeflags" / "v1" / path.name
        assert path.read_text() == committed.read_text(), f"{path.name} is stale: run python tools/gen_proto.py"


@pytest.fixture(scope="module")
def example_bundle(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    repo = FlagRepo(tmp_path_factory.mktemp("ex") / "repo", with_examples=True)
    result = repo.compile()
    assert result.ok, [e.format() for e in result.errors]
    return result.data


def test_protoc_decodes_a_compiled_bundle(example_bundle: bytes) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'proto'}", "--decode=safeflags.v1.Bundle",
         "safeflags/v1/bundle.proto"],
        input=example_bundle, capture_output=True, check=True,
    ).stdout.decode()
    assert "format_version: 1" in out
    assert 'key: "billing.new_invoice_path"' in out
    assert 'salt: "billing.new_invoice_path"' in out
    assert 'source_revision: "test"' in out
