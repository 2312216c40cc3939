"""The ```python code blocks of README.md and the Markdown guides in docs/.

Shared by the doc tests and the doc type check, so both see exactly the same code.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(path: Path) -> list[str]:
    """Every ```python block of one guide, in order."""
    return _BLOCK.findall(path.read_text(encoding="utf-8"))


def guides() -> list[Path]:
    """README and the guides in docs/ that contain at least one Python block."""
    candidates = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
    return [p for p in candidates if python_blocks(p)]
