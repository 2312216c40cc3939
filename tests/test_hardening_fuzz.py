"""Fuzzing the decoder and the CLI's CSV path, and hammering one accumulator from threads.

The state fuzz re-seals every mutated blob (recomputes its CRC-32 checksums) so the mutations
reach the decoder's logic instead of stopping at the checksum. Every outcome must be a decoded
accumulator that behaves, or a ``CorruptStateError``; never another exception or a crash.
"""

from __future__ import annotations

import random
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import cxmetrics as cx
from cxmetrics.cli import main as cli_main

CORE_MAGIC = b"\x89CXM\r\n\x1a\n"


def reseal(blob: bytearray) -> bytes:
    """Recomputes the trailing CRC-32 of the core state inside ``blob`` (when it is embedded in
    an envelope that ends with its own checksum) and then of the whole blob. Both layers end with
    CRC-32 (zlib.crc32) of everything before it."""
    data = bytearray(blob)
    inner = data.find(CORE_MAGIC)
    if inner > 0 and len(data) - 4 - inner >= 8:
        end = len(data) - 4
        struct.pack_into("<I", data, end - 4, zlib.crc32(data[inner:end - 4]))
    if len(data) >= 4:
        struct.pack_into("<I", data, len(data) - 4, zlib.crc32(data[:-4]))
    return bytes(data)


def _seed_states() -> list[bytes]:
    rng = np.random.default_rng(5)
    plain = cx.Accumulator("nps", score="score", by="team")
    plain.update(pa.table({"score": rng.integers(0, 11, 300),
                           "team": rng.choice(["a", "b", "c"], 300)}))
    weighted = cx.Accumulator("csat", score="score", by=["region", "n"], weight="w")
    weighted.update(pa.table({"score": rng.integers(1, 6, 200),
                              "region": rng.choice(["x", "y"], 200),
                              "n": rng.integers(0, 3, 200), "w": rng.uniform(0.5, 2.0, 200)}))
    mean = cx.Accumulator("mean")
    mean.update(rng.integers(1, 6, 50))
    empty = cx.Accumulator("nps").to_bytes()
    return [plain.to_bytes(), weighted.to_bytes(), mean.to_bytes(), empty]


def _mutate(rng: random.Random, blob: bytes) -> bytes:
    data = bytearray(blob)
    choice = rng.randrange(6)
    body = max(len(data) - 4, 1)
    if choice == 0:  # flip bits
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(body)] ^= 1 << rng.randrange(8)
    elif choice == 1:  # overwrite a byte with an extreme value
        data[rng.randrange(body)] = rng.choice([0x00, 0xFF, 0x7F, 0x80])
    elif choice == 2:  # overwrite a 4- or 8-byte field (counts, lengths) with an extreme value
        width = rng.choice([4, 8])
        at = rng.randrange(max(body - width, 1))
        value = rng.choice([0, 1, 2**(8 * width) - 1, 2**(8 * width - 1), 2**31, 2**53 + 1])
        value %= 2**(8 * width)
        data[at:at + width] = value.to_bytes(width, "little")
    elif choice == 3:  # truncate
        del data[rng.randrange(body):body]
    elif choice == 4:  # insert bytes
        at = rng.randrange(body)
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 9)))
    else:  # swap two chunks
        a, b = sorted(rng.sample(range(body), 2))
        data[a:b] = data[a:b][::-1]
    return reseal(data)


def _exercise(acc: cx.Accumulator) -> None:
    """A decoded accumulator must answer, re-encode and merge with typed errors only."""
    try:
        acc.result()
        again = cx.Accumulator.from_bytes(acc.to_bytes())
        assert again.to_bytes() == acc.to_bytes()
        acc.merge(acc)
    except cx.CxError:
        pass


def _fuzz(iterations: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    seeds = _seed_states()
    outcomes = {"decoded": 0, "refused": 0}
    for _ in range(iterations):
        blob = _mutate(rng, rng.choice(seeds))
        try:
            acc = cx.Accumulator.from_bytes(blob)
        except cx.CorruptStateError:
            outcomes["refused"] += 1
            continue
        outcomes["decoded"] += 1
        _exercise(acc)
    return outcomes


def test_resealed_unmutated_states_still_decode() -> None:
    # The fuzz is only meaningful if re-sealing leaves a valid blob valid.
    for blob in _seed_states():
        assert reseal(bytearray(blob)) == blob


def test_from_bytes_fuzz_with_valid_checksums() -> None:
    outcomes = _fuzz(1_500, seed=1)
    # Most mutations are refused by the decoder's own checks (the checksums pass).
    assert outcomes["refused"] > 500, outcomes


@pytest.mark.slow
def test_from_bytes_fuzz_with_valid_checksums_long() -> None:
    _fuzz(30_000, seed=2)


# --------------------------------------------------------------------------------------------
# CLI CSV fuzz: exit status 0 (a report) or 2 (an error message), never a traceback


CSV = "score,team,w\n10,a,1.0\n9,b,2\n0,a,0.5\n7,\"b\",1\n5,c,1.5\n8,a,1\n"


def _mutate_text(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(chars))
        op = rng.randrange(3)
        if op == 0:
            chars[at] = rng.choice(['"', ",", "\n", "\r", "\x00", "x", "-", ".", "9", " ", "é"])
        elif op == 1:
            del chars[at]
        else:
            chars.insert(at, rng.choice(['"', ",", "\n", "1e400", "nan", "-1", "9" * 20]))
    return "".join(chars)


@pytest.mark.parametrize("seed", range(3))
def test_cli_csv_fuzz(tmp_path: Path, seed: int, capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(seed)
    for i in range(40):
        path = tmp_path / f"f{i}.csv"
        path.write_text(_mutate_text(rng, CSV), encoding="utf-8")
        args = ["report", str(path), "--score", "score", "--by", "team"]
        if rng.random() < 0.5:
            args += ["--weight", "w"]
        if rng.random() < 0.3:
            args += ["--on-invalid", "drop"]
        status = cli_main(args)
        captured = capsys.readouterr()
        assert status in (0, 2), (path.read_text(), captured.err)
        assert "Traceback" not in captured.err
        if status == 2:
            assert captured.err.startswith("cxmetrics report: error:"), captured.err


# --------------------------------------------------------------------------------------------
# Concurrency: 8 threads updating, merging and reading one accumulator


def test_eight_threads_on_one_accumulator_lose_nothing() -> None:
    rng = np.random.default_rng(11)
    batches = [pa.table({"score": rng.integers(0, 11, 20_000),
                         "team": rng.choice(["a", "b", "c"], 20_000)}) for _ in range(32)]
    shared = cx.Accumulator("nps", score="score", by="team")
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(k: int) -> None:
        try:
            barrier.wait()
            for j in range(k, len(batches), 8):
                shared.update(batches[j])
                # Readers and mergers run alongside the writers.
                shared.result()
                shared.merge(cx.Accumulator("nps", score="score", by="team"))
                shared.to_bytes()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    serial = cx.Accumulator("nps", score="score", by="team")
    for batch in batches:
        serial.update(batch)
    assert shared.result().overall.n == 32 * 20_000
    # Tallies are order-free: the bytes equal the serial result's.
    assert shared.to_bytes() == serial.to_bytes()


@pytest.mark.parametrize("trial", range(5))
def test_concurrent_first_update_is_atomic(trial: int) -> None:
    # Reproducer: 4 threads' first update() on a fresh accumulator lost whole batches.
    scores = np.full(200_000, 9, dtype=np.int8)
    acc = cx.Accumulator("nps")
    barrier = threading.Barrier(4)

    def feed() -> None:
        barrier.wait()
        acc.update(scores)

    threads = [threading.Thread(target=feed) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert acc.result().n == 800_000
