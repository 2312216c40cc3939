"""Peak memory of one ``cx.nps`` call in a fresh process: ``peak_memory.py SCENARIO ROWS SIZE``.

Builds the scenario's table (``segment_data.py``), makes one small warm-up call (thread pool,
imports), returns freed heap to the OS (``malloc_trim``), resets the high-water mark through
/proc/self/clear_refs, then calls ``cx.nps`` once on the whole table and prints, as the last
line, JSON with the input's bytes, the resident size before the call and the peak (VmHWM)
above it — the memory the call needed beyond the input, result objects included. Linux only.
"""

from __future__ import annotations

import ctypes
import gc
import json
import sys


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
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")  # resets VmHWM to the current resident size
    result = cx.nps(data.table, score="nps", by=by, weight=data.weight)
    peak = _status_kib("VmHWM")
    print(json.dumps({
        "scenario": scenario, "rows": rows, "segments": len(result),
        "input_bytes": data.nbytes, "rss_before_bytes": before * 1024,
        "peak_above_bytes": max(peak - before, 0) * 1024,
    }))


if __name__ == "__main__":
    main()
