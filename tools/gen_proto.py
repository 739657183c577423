"""Regenerate safeflags/v1/*_pb2.py(i) from proto/safeflags/v1/*.proto.

Usage: python tools/gen_proto.py [OUT_DIR]

The generated modules are committed so that the SDK installs without
grpcio-tools; tests/test_proto.py regenerates them into a temporary
directory and fails if they differ from the committed ones.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"


def generate(out_dir: Path) -> list[Path]:
    from grpc_tools import protoc

    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in (PROTO_DIR / "safeflags" / "v1").glob("*.proto"))
    args = ["protoc", f"-I{PROTO_DIR}", f"--python_out={out_dir}", f"--pyi_out={out_dir}", *protos]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted((out_dir / "safeflags" / "v1").glob("*_pb2.py*"))


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT
    for path in generate(out):
        print(path.relative_to(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
