"""The worker pool: started at the first call, not at import; pinned one worker per allowed CPU
on Linux unless ``CXMETRICS_PIN_THREADS=0`` or the worker count differs from the CPUs allowed.

Each case runs in a fresh interpreter, since the pool is built once per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="thread affinity is read from /proc (Linux)")

# Imports cxmetrics, lists its worker threads, runs one grouped call large enough to use the
# pool, lists them again with each one's allowed CPUs.
PROBE = r"""
import json, os, sys
import numpy as np, pyarrow as pa
if len(sys.argv) > 1:
    os.sched_setaffinity(0, {int(c) for c in sys.argv[1].split(",")})
import cxmetrics as cx

def workers():
    found = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                name = f.read().strip()
            if not name.startswith("cxmetrics-"):
                continue
            with open(f"/proc/self/task/{tid}/status") as f:
                allowed = next(line.split(":", 1)[1].strip() for line in f
                               if line.startswith("Cpus_allowed_list"))
        except FileNotFoundError:
            continue
        found[name] = allowed
    return found

before = workers()
rng = np.random.default_rng(0)
n = 400_000
table = pa.table({"k": pa.array(rng.integers(0, 50, n)), "s": pa.array(rng.integers(0, 11, n))})
res = cx.nps(table, score="s", by="k")
print(json.dumps({"before": before, "after": workers(), "segments": len(res),
                  "allowed": sorted(os.sched_getaffinity(0))}))
"""


def probe(env: dict[str, str] | None = None, cpus: str | None = None) -> dict[str, object]:
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("RAYON_NUM_THREADS", "CXMETRICS_PIN_THREADS")}
    full_env.update(env or {})
    out = subprocess.run([sys.executable, "-c", PROBE, *([cpus] if cpus else [])],
                         capture_output=True, text=True, env=full_env, timeout=300)
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout)
    return result


def two_cpus() -> list[int]:
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(allowed) < 2:
        pytest.skip("needs at least two CPUs")
    return allowed


@linux_only
def test_no_worker_starts_at_import_and_each_is_pinned_to_its_own_cpu() -> None:
    allowed = two_cpus()
    seen = probe()
    assert seen["before"] == {}  # import starts no thread (a fork after import is safe)
    after = seen["after"]
    assert isinstance(after, dict) and len(after) == len(allowed)
    assert sorted(int(v) for v in after.values()) == allowed
    assert seen["segments"] == 50


@linux_only
def test_pinning_can_be_turned_off() -> None:
    allowed = two_cpus()
    after = probe({"CXMETRICS_PIN_THREADS": "0"})["after"]
    assert isinstance(after, dict) and len(after) == len(allowed)
    # Each may run on every allowed CPU ("0-1"), none on one alone.
    assert all(not v.isdigit() for v in after.values()), after


@linux_only
def test_fewer_workers_than_cpus_are_not_pinned() -> None:
    # Several processes with one worker each would otherwise all pile onto the first CPU.
    two_cpus()
    after = probe({"RAYON_NUM_THREADS": "1"})["after"]
    assert isinstance(after, dict)
    assert len(after) == 1 and all(not v.isdigit() for v in after.values()), after


@linux_only
def test_a_restricted_process_pins_within_its_own_cpus() -> None:
    allowed = two_cpus()
    subset = allowed[-2:]
    seen = probe(cpus=",".join(map(str, subset)))
    assert seen["allowed"] == subset
    after = seen["after"]
    assert isinstance(after, dict)
    assert sorted(int(v) for v in after.values()) == subset


@linux_only
def test_a_child_forked_after_import_can_compute() -> None:
    script = r"""
import os, sys
import numpy as np, pyarrow as pa
import cxmetrics as cx
t = pa.table({"k": pa.array(np.arange(300_000) % 7), "s": pa.array(np.arange(300_000) % 11)})
pid = os.fork()
if pid == 0:
    res = cx.nps(t, score="s", by="k")
    os._exit(0 if len(res) == 7 else 3)
_, status = os.waitpid(pid, 0)
res = cx.nps(t, score="s", by="k")
sys.exit(os.waitstatus_to_exitcode(status) or (0 if len(res) == 7 else 4))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
