"""Regenerates the Python modules of ``externalscaler.proto`` with grpcio-tools (a dev
dependency, imported only when run). ``python -m llmobs.autoscaler.proto.generate [ROOT]``
writes ``ROOT/llmobs/autoscaler/proto/externalscaler_pb2*.py{,i}``; ROOT defaults to the
checkout, so the committed files are rewritten in place.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTO = Path(__file__).with_name("externalscaler.proto")
# The folder that holds ``llmobs/``: protoc names files (and their imports) relative to it.
CHECKOUT = PROTO.parents[3]
# The messages only: the service's wiring is ``service.py``, written by hand (grpc_python_out
# would add a servicer base class of placeholder methods that nothing here would use).
GENERATED = ("externalscaler_pb2.py", "externalscaler_pb2.pyi")


def generate(root: Path) -> list[Path]:
    """Writes the generated modules under ``root`` (mirroring the package path) and returns
    their paths. Raises RuntimeError when protoc fails."""
    # A dev dependency (only the generator needs it), shipped without type information.
    from grpc_tools import protoc  # type: ignore[import-untyped]

    root.mkdir(parents=True, exist_ok=True)
    out = str(root)
    source = str(PROTO.relative_to(CHECKOUT))
    args = ["protoc", f"-I{CHECKOUT}", f"--python_out={out}", f"--pyi_out={out}"]
    args.append(source)
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {source}")
    folder = root / PROTO.parent.relative_to(CHECKOUT)
    return [folder / name for name in GENERATED]


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else CHECKOUT
    try:
        paths = generate(root)
    except RuntimeError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
