"""Shared test set-up: make the ``helpers`` package (``tests/helpers/``) importable in every
pytest import mode."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
