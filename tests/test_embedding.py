"""docs/embedding.md as a user runs it: all its blocks as one script in a fresh interpreter.

``tests/test_docs.py`` already runs every block in-process; there ``__name__`` is not
``"__main__"``, so the process-pool part (guarded, as spawned children re-import the script)
runs only here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from doc_blocks import DOCS, python_blocks


def test_embedding_guide_runs_as_a_script(tmp_path: Path) -> None:
    script = tmp_path / "embedding_example.py"
    script.write_text("\n\n".join(python_blocks(DOCS / "embedding.md")), encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr
    # The guarded process-pool part ran: it prints one overall result per part (3 parts).
    assert out.stdout.count("nps = ") >= 3 + 1, out.stdout
