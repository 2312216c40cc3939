"""Runs mypy --strict over the Python examples in docs/, one module per guide."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doc_blocks import guides, python_blocks


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for guide in guides():
            target = Path(tmp) / f"doc_{guide.stem}.py"
            target.write_text("\n\n".join(python_blocks(guide)), encoding="utf-8")
            files.append(str(target))
        if not files:
            print("no Python examples in docs/")
            return 0
        config = Path(__file__).resolve().parent.parent / "pyproject.toml"
        cmd = [sys.executable, "-m", "mypy", "--strict", "--config-file", str(config), *files]
        return subprocess.call(cmd)


if __name__ == "__main__":
    raise SystemExit(main())
