"""Generate the Python stubs of protos/*.proto (``make protos``).

Also those of mesh/kv/etcd_proto/*.proto (etcd's API), next to their .proto files.
The stubs are checked in; tests/protos/test_stubs_fresh.py regenerates them into a
temporary folder and fails when the checked-in copies differ. Run with grpcio-tools
1.75.x: its gencode loads under protobuf 6 and 7 alike.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos"
# etcd's v3 API, trimmed to what mesh/kv/etcd.py uses
ETCD_PROTO_DIR = ROOT / "mesh" / "kv" / "etcd_proto"
# protoc writes flat imports (``import model_mesh_pb2``); the stubs live in a package.
_FLAT_IMPORT = re.compile(r"^import (\w+_pb2) as (\w+)$", re.MULTILINE)


def generate(out_dir: Path, proto_dir: Path = PROTO_DIR) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    protos = sorted(proto_dir.glob("*.proto"))
    include = str(Path(protoc.__file__).parent / "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{proto_dir}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(p) for p in protos),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    written = sorted(out_dir.glob("*_pb2*.py*"))
    for path in written:
        text = path.read_text()
        path.write_text(_FLAT_IMPORT.sub(r"from . import \1 as \2", text))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROTO_DIR, help="where protos/ stubs go")
    out = parser.parse_args().out
    for path in [*generate(out), *generate(ETCD_PROTO_DIR, ETCD_PROTO_DIR)]:
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
