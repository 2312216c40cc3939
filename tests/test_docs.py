"""Every ```python block in docs/ runs, in order, as one script per guide."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from doc_blocks import guides, python_blocks


@pytest.mark.parametrize("guide", guides(), ids=lambda p: p.name)
def test_guide_examples_run(guide: Path) -> None:
    namespace: dict[str, object] = {"__name__": f"doc_{guide.stem}"}
    for i, block in enumerate(python_blocks(guide)):
        code = compile(block, f"{guide.name}[block {i}]", "exec")
        exec(code, namespace)
