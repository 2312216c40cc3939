"""No optional library is imported unless the input is one of its objects.

Each check runs in a fresh interpreter (a subprocess) so modules imported by other tests do not
count; pandas, polars, DuckDB, PySpark, Dask and matplotlib are all installed in the test
environment, so a stray import would show.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

OPTIONAL = ("pandas", "polars", "duckdb", "pyspark", "dask", "distributed", "matplotlib", "scipy")

_PROBE = """
import json, sys
{prepare}
before = set(sys.modules)
{call}
optional = {optional!r}
print(json.dumps(sorted(m for m in set(sys.modules) - before if m.split(".")[0] in optional)))
"""


def _imported_after(call: str, prepare: str = "") -> list[str]:
    """Optional modules imported by ``call`` (after ``prepare``, which builds the inputs)."""
    code = _PROBE.format(prepare=textwrap.dedent(prepare), call=textwrap.dedent(call),
                         optional=OPTIONAL)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    found: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize("name", ["pandas", "polars"])
def test_optional_libraries_are_installed(name: str) -> None:
    # The isolation checks below mean something only if these could have been imported.
    assert _imported_after(f"import {name}") != []


def test_import_cxmetrics_imports_no_optional_library() -> None:
    assert _imported_after("import cxmetrics") == []


@pytest.mark.parametrize(("prepare", "call"), [
    # NumPy columns, with and without a key and a weight.
    ("import numpy as np, cxmetrics as cx; s = np.array([0, 5, 9, 10, 7])",
     """
     cx.nps(s); cx.nps(s, by=np.array([1, 2, 1, 2, 1]), weight=np.ones(5))
     cx.nps(s, by=np.array(["a", "b", "a", "b", "b"]))
     cx.csat(np.array([1, 5, 4]), ci="wilson"); cx.nps(s, ci="bootstrap", n_resamples=50, seed=1)
     """),
    # Python lists.
    ("import cxmetrics as cx",
     "cx.nps([1, 9, 10], by=['x', 'y', 'x']); cx.csat([1, 2, 5], weight=[1.0, 2.0, 1.5])"),
    # A pyarrow table (built before: pa.table itself imports pandas when it is installed).
    ("import pyarrow as pa, cxmetrics as cx; t = pa.table({'s': [0, 9, 10], 'g': ['a', 'b', 'a']})",
     "cx.nps(t, score='s', by='g').to_arrow()"),
    # Results: pickling, every export but pandas/polars, and the accumulator bytes.
    ("import pickle, numpy as np, cxmetrics as cx",
     """
     res = cx.nps(np.array([0, 9, 10]), by=np.array([1, 1, 2]))
     pickle.loads(pickle.dumps(res)); res.to_arrow(include_overall=True, distribution=True)
     res.to_json(); res.to_dicts(); list(res); res[1]; res.__arrow_c_stream__()
     acc = cx.Accumulator("nps"); acc.update(np.array([1, 9]))
     cx.Accumulator.from_bytes(acc.to_bytes()).result()
     """),
], ids=["numpy", "lists", "arrow", "results-and-accumulator"])
def test_inputs_that_are_not_optional_objects_import_nothing_optional(prepare: str,
                                                                       call: str) -> None:
    assert _imported_after(call, prepare) == []


def test_a_polars_input_does_not_import_pandas() -> None:
    imported = _imported_after("""
    cx.nps(pl.DataFrame({"s": [0, 9, 10], "g": ["a", "b", "a"]}), score="s", by="g")
    cx.nps(pl.Series("s", [0, 9, 10]))
    """, prepare="import polars as pl, cxmetrics as cx")
    assert not any(m.split(".")[0] == "pandas" for m in imported), imported
