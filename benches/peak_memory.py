"""Peak memory of one ``cx.nps`` call in a fresh process: ``peak_memory.py SCENARIO ROWS SIZE``.

Builds the scenario's table (``segment_data.py``), makes one small warm-up call (thread pool,
imports), returns freed heap to the OS (``malloc_trim``), resets the high-water mark through
/proc/self/clear_refs, then calls ``cx.nps`` once on the whole table and prints, as the last
line, JSON with the input's bytes, the resident size before the call and the peak (VmHWM)
above it — the memory the call needed beyond the input, result objects included — and the
bytes of the result's per-segment table (part of that peak: with one segment per ten rows the
table alone is about twice the input). Linux only.

The same is measured once more for a second call on the whole table, after the first result is
dropped and freed heap returned again (``repeat_above_bytes``): what each call of a running
service costs. The first call also pays the process's one-time setup of the thread pool's
workers (their stacks and malloc arenas are first touched by a call large enough to split:
about 0.7 MB, whatever the input).
"""

from __future__ import annotations

import ctypes
import gc
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cxmetrics import SegmentedResult


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def main() -> None:
    scenario, rows, size = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    import cxmetrics as cx
    from segment_data import build_dataset

    data = build_dataset(scenario, rows, size)
    by = data.by[0] if len(data.by) == 1 else list(data.by)
    cx.nps(data.table.slice(0, 1000), score="nps", by=by, weight=data.weight)
    first, segments, result_bytes = _call_peak(lambda: cx.nps(data.table, score="nps", by=by,
                                                              weight=data.weight))
    repeat, _, _ = _call_peak(lambda: cx.nps(data.table, score="nps", by=by, weight=data.weight))
    print(json.dumps({
        "scenario": scenario, "rows": rows, "segments": segments,
        "input_bytes": data.nbytes, "rss_before_bytes": first[0],
        "peak_above_bytes": first[1], "repeat_above_bytes": repeat[1],
        "result_table_bytes": result_bytes,
    }))


def _call_peak(call: Callable[[], SegmentedResult]) -> tuple[tuple[int, int], int, int]:
    """((resident bytes before, peak bytes above them), len(result), bytes of the result's
    per-segment table) of one call, after freed heap is returned to the OS and the high-water
    mark reset."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")  # resets VmHWM to the current resident size
    result = call()
    peak = _status_kib("VmHWM")
    # Read after the peak: importing the table is zero-copy, its buffers are the core's.
    return (before * 1024, max(peak - before, 0) * 1024), len(result), result.segments.nbytes


if __name__ == "__main__":
    main()
