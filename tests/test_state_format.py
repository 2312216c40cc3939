"""The durable byte format of accumulators (docs/accumulators.md): layout, golden bytes, and
rejection of every truncated, damaged, foreign or newer-format input with CorruptStateError.

The decoder is also fuzzed (hypothesis): arbitrary bytes, and valid states edited and then
re-sealed (length and checksums fixed up, as a forger would) so that the structural checks behind
the checksum get exercised too. Inputs that ever crashed the decoder go into REGRESSIONS.
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cxmetrics as cx
from cxmetrics import _accumulator, _native

Accumulator = getattr(cx, "Accumulator", _accumulator.Accumulator)

CORE_MAGIC = b"\x89CXM\r\n\x1a\n"
ACC_MAGIC = b"\x89CXA\r\n\x1a\n"


def small() -> bytes:
    acc = Accumulator("nps", score="s", by=["k", "j"], weight="w", on_invalid="drop")
    acc.update(pa.table({
        "s": [10, 3, None, 9, 12, 0],
        "k": ["eu", "us", None, "eu", "us", "eu"],
        "j": pa.array([1, 1, 2, 2, 1, 1], pa.int8()),
        "w": [1.0, 0.5, 2.0, 1.25, 1.0, 3.0],
    }))
    data: bytes = acc.to_bytes()
    return data


def unsegmented() -> bytes:
    acc = Accumulator("csat")
    acc.update(pa.array([1, 5, 4, None]))
    data: bytes = acc.to_bytes()
    return data


def with_replicates() -> bytes:
    """A weighted state keeping two Poisson-bootstrap replicates (small enough to damage every
    byte of)."""
    acc = Accumulator("csat", score="s", by="k", weight="w", replicates=2, seed=5, stream=3)
    acc.update(pa.table({"s": [5, 4, 1, None], "k": ["a", "b", "a", "b"],
                         "w": [1.5, 0.25, 2.0, 1.0]}))
    data: bytes = acc.to_bytes()
    return data


def reseal_outer(b: bytes | bytearray) -> bytes:
    b = bytearray(b)
    b[16:24] = struct.pack("<Q", len(b))
    b[-4:] = struct.pack("<I", zlib.crc32(bytes(b[:-4])))
    return bytes(b)


def reseal_core(b: bytes | bytearray) -> bytes:
    """Re-seals the core state inside an accumulator, then the accumulator."""
    b = bytearray(b)
    (def_len,) = struct.unpack_from("<I", b, 12)
    start = 24 + def_len
    end = len(b) - 4
    if end - start >= 28:
        b[start + 16:start + 24] = struct.pack("<Q", end - start)
        b[end - 4:end] = struct.pack("<I", zlib.crc32(bytes(b[start:end - 4])))
    return reseal_outer(b)


def rejected(data: bytes) -> str:
    with pytest.raises(cx.CorruptStateError) as err:
        Accumulator.from_bytes(data)
    return str(err.value)


# ---------------------------------------------------------------------------------------------
# layout


def test_layout_matches_the_docs() -> None:
    data = small()
    magic, version, flags, def_len, length = struct.unpack_from("<8sHHIQ", data)
    assert (magic, version, flags, length) == (ACC_MAGIC, 1, 0, len(data))
    assert struct.unpack_from("<I", data, len(data) - 4)[0] == zlib.crc32(data[:-4])
    definition = json.loads(data[24:24 + def_len])
    assert definition == {
        "metric": "nps", "on_invalid": "drop", "table": True, "score": "s", "by": ["k", "j"],
        "weight": "w",
        "options": {"scale": [0, 10], "promoters": [9, 10], "detractors": [0, 6]},
    }
    core = data[24 + def_len:-4]
    magic, version, flags, n_keys, length, low, high = struct.unpack_from("<8sHHIQqq", core)
    assert (magic, version, flags, n_keys, length, low, high) == (
        CORE_MAGIC, 2, 0b11, 2, len(core), 0, 10)
    assert struct.unpack_from("<I", core, len(core) - 4)[0] == zlib.crc32(core[:-4])
    # key types: utf8 (5), int64 (2); then 4 segments in key order, nulls last.
    assert core[40:42] == bytes([5, 2])
    (n_segments,) = struct.unpack_from("<Q", core, 42)
    assert n_segments == 4
    # region column: "eu", "eu", "us", null
    pos = 50
    regions = []
    for _ in range(4):
        if core[pos] == 0:
            regions.append(None)
            pos += 1
        else:
            (n,) = struct.unpack_from("<I", core, pos + 1)
            regions.append(core[pos + 5:pos + 5 + n].decode())
            pos += 5 + n
    assert regions == ["eu", "eu", "us", None]
    waves = []
    for _ in range(4):
        assert core[pos] == 1
        waves.append(struct.unpack_from("<q", core, pos + 1)[0])
        pos += 9
    assert waves == [1, 2, 1, 2]
    k = 11
    counts = np.frombuffer(core, "<u8", 4 * (k + 2), pos).reshape(4, k + 2)
    pos += counts.nbytes
    assert counts[0].tolist() == [1] + [0] * 9 + [1, 0, 0]  # eu/1: scores 0 and 10
    assert counts[2, -1] == 1  # us/1: the invalid 12
    assert counts[3, k] == 1  # null/2: the missing score
    # Weight sums: exact, each a 256-bit integer count of 2^-128 in four little-endian u64 limbs.
    limbs = np.frombuffer(core, "<u8", 2 * 4 * k * 4, pos).reshape(2, 4, k, 4)
    sums = [[[sum(int(v) << (64 * i) for i, v in enumerate(cell)) / 2**128 for cell in row]
             for row in which] for which in limbs]
    wsum, w2sum = sums
    assert wsum[0][0] == 3.0 and wsum[0][10] == 1.0 and w2sum[0][0] == 9.0
    assert wsum[1][9] == 1.25 and w2sum[1][9] == 1.5625
    assert pos + limbs.nbytes == len(core) - 4


# The current format (accumulator frame 1, core state 2): these exact bytes are what
# ``cx.Accumulator("csat")`` fed ``[1, 5, 4, None]`` writes, and they must keep decoding.
GOLDEN_UNSEGMENTED = (
    "894358410d0a1a0a010000009c00000024010000000000007b226279223a6e756c6c2c226d6574726963223a"
    "2263736174222c226f6e5f696e76616c6964223a227261697365222c226f7074696f6e73223a7b2273617469"
    "7366696564223a5b342c355d2c227363616c65223a5b312c355d2c22737461746973746963223a2273686172"
    "65227d2c2273636f7265223a2273636f7265222c227461626c65223a66616c73652c22776569676874223a6e"
    "756c6c7d8943584d0d0a1a0a02000200000000006c0000000000000001000000000000000500000000000000"
    "0100000000000000010000000000000000000000000000000000000000000000010000000000000001000000"
    "00000000010000000000000000000000000000004d81f3f938d74d9b"
)
# The same state as core format 1 wrote it (a released durable format): it must keep decoding,
# to the same state.
GOLDEN_UNSEGMENTED_V1 = (
    "894358410d0a1a0a010000009c00000024010000000000007b226279223a6e756c6c2c226d6574726963223a"
    "2263736174222c226f6e5f696e76616c6964223a227261697365222c226f7074696f6e73223a7b2273617469"
    "7366696564223a5b342c355d2c227363616c65223a5b312c355d2c22737461746973746963223a2273686172"
    "65227d2c2273636f7265223a2273636f7265222c227461626c65223a66616c73652c22776569676874223a6e"
    "756c6c7d8943584d0d0a1a0a01000200000000006c0000000000000001000000000000000500000000000000"
    "0100000000000000010000000000000000000000000000000000000000000000010000000000000001000000"
    "00000000010000000000000000000000000000004a11894338d74d9b"
)


def test_golden_bytes_are_stable() -> None:
    data = unsegmented()
    assert data.hex() == GOLDEN_UNSEGMENTED
    assert Accumulator.from_bytes(bytes.fromhex(GOLDEN_UNSEGMENTED)).to_bytes() == data
    assert Accumulator.from_bytes(bytes.fromhex(GOLDEN_UNSEGMENTED_V1)).to_bytes() == data


def test_empty_states_round_trip() -> None:
    for acc in (Accumulator("nps"), Accumulator("mean", score="x", by=["a", "b"], weight="w")):
        data = acc.to_bytes()
        assert Accumulator.from_bytes(data) == acc
        assert Accumulator.from_bytes(data).to_bytes() == data


# ---------------------------------------------------------------------------------------------
# rejection


@pytest.mark.parametrize("make", [small, unsegmented, with_replicates])
def test_every_single_byte_corruption_is_rejected(make: object) -> None:
    data = make()  # type: ignore[operator]
    assert len(data) < 4000
    for i in range(len(data)):
        for flip in (0x01, 0x80, 0xFF):
            bad = bytearray(data)
            bad[i] ^= flip
            rejected(bytes(bad))


@pytest.mark.parametrize("make", [small, unsegmented, with_replicates])
def test_every_truncation_is_rejected(make: object) -> None:
    data = make()  # type: ignore[operator]
    for n in range(len(data)):
        message = rejected(data[:n])
        if n >= 8 or ACC_MAGIC.startswith(data[:n]):
            assert "truncated" in message, (n, message)
    rejected(data + b"\x00")


def test_foreign_inputs_are_named() -> None:
    for foreign in (b"", b"\x00" * 64, b"PK\x03\x04" + bytes(60), b"\x89PNG\r\n\x1a\n" + bytes(40),
                    b"{\"metric\": \"nps\"}", bytes(range(256))):
        assert "magic" in rejected(foreign) or "truncated" in rejected(foreign)
    bare = _native.Aggregation(0, 10, 0, False).to_bytes()
    assert "bare core state" in rejected(bare)
    with pytest.raises(TypeError):
        Accumulator.from_bytes("not bytes")  # type: ignore[arg-type]
    assert Accumulator.from_bytes(bytearray(small())) == Accumulator.from_bytes(small())
    assert Accumulator.from_bytes(memoryview(small())) == Accumulator.from_bytes(small())


def test_future_versions_say_so() -> None:
    data = bytearray(small())
    data[8:10] = struct.pack("<H", 2)
    message = rejected(reseal_outer(data))
    assert "version 2" in message and "upgrade" in message
    # A newer core state inside a current accumulator.
    data = bytearray(small())
    (def_len,) = struct.unpack_from("<I", data, 12)
    data[24 + def_len + 8:24 + def_len + 10] = struct.pack("<H", 7)
    message = rejected(reseal_core(data))
    assert "version 7" in message and "upgrade" in message


def _with_definition(data: bytes, edit: dict[str, object]) -> bytes:
    (def_len,) = struct.unpack_from("<I", data, 12)
    definition = json.loads(data[24:24 + def_len])
    definition.update(edit)
    header = json.dumps(definition, sort_keys=True, separators=(",", ":")).encode()
    out = bytearray(data[:24]) + header + data[24 + def_len:]
    out[12:16] = struct.pack("<I", len(header))
    return reseal_outer(out)


@pytest.mark.parametrize("edit", [
    {"metric": "csat"},  # scale 1..5 against tallies on 0..10
    {"metric": "unknown"},
    {"by": ["k"]},  # one key name, two key columns in the tallies
    {"weight": None},
    {"score": None},
    {"table": "yes"},
    {"options": {"scale": [0, 10], "promoters": [9, 10]}},
    {"options": {"scale": [0, 10], "promoters": [9, 10], "detractors": [0, "6"]}},
    {"options": {"scale": [0, 10**30], "promoters": [9, 10], "detractors": [0, 6]}},
    {"options": {"scale": [10, 0], "promoters": [9, 10], "detractors": [0, 6]}},
    {"on_invalid": "ignore"},
    {"extra": 1},
    {"bootstrap": {"replicates": 2, "seed": 5}},  # replicates the tallies do not keep
])
def test_inconsistent_definitions_are_rejected(edit: dict[str, object]) -> None:
    rejected(_with_definition(small(), edit))


@pytest.mark.parametrize("edit", [
    {"bootstrap": {"replicates": 3, "seed": 5}},
    {"bootstrap": {"replicates": 2, "seed": None}},
    {"bootstrap": {"replicates": 2}},
    {"bootstrap": None},
    {"bootstrap": {"replicates": True, "seed": 5}},
])
def test_replicate_definitions_must_match_the_state(edit: dict[str, object]) -> None:
    rejected(_with_definition(with_replicates(), edit))


def test_non_canonical_definition_is_rejected() -> None:
    data = small()
    (def_len,) = struct.unpack_from("<I", data, 12)
    header = json.dumps(json.loads(data[24:24 + def_len]), indent=1).encode()
    out = bytearray(data[:24]) + header + data[24 + def_len:]
    out[12:16] = struct.pack("<I", len(header))
    assert "canonical" in rejected(reseal_outer(out))
    bad_len = bytearray(data)
    bad_len[12:16] = struct.pack("<I", 10**6)
    rejected(reseal_outer(bad_len))


# ---------------------------------------------------------------------------------------------
# fuzzing

# Inputs that once crashed or hung the decoder (none so far); each must be rejected cleanly.
REGRESSIONS: list[bytes] = [
    ACC_MAGIC,
    ACC_MAGIC + bytes(16),
    reseal_outer(ACC_MAGIC + struct.pack("<HHIQ", 1, 0, 0, 0) + bytes(4)),
    reseal_outer(ACC_MAGIC + struct.pack("<HHIQ", 1, 0, 2, 0) + b"[]" + bytes(4)),
    reseal_outer(ACC_MAGIC + struct.pack("<HHIQ", 1, 0, 2000, 0) + b"[" * 2000 + bytes(4)),
]


@pytest.mark.parametrize("data", REGRESSIONS)
def test_regressions(data: bytes) -> None:
    rejected(data)


def _decode_or_reject(data: bytes) -> None:
    try:
        acc = Accumulator.from_bytes(data)
    except cx.CorruptStateError:
        return
    # Whatever is accepted is a usable accumulator whose bytes round-trip.
    again = acc.to_bytes()
    assert Accumulator.from_bytes(again).to_bytes() == again
    acc.result()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    _decode_or_reject(data)
    _decode_or_reject(ACC_MAGIC + data)
    _decode_or_reject(reseal_outer(ACC_MAGIC + struct.pack("<HHIQ", 1, 0, len(data) // 2, 0)
                                   + data + bytes(4)))


SEEDS = [small(), unsegmented(), with_replicates()]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.integers(0, 2), edits=st.lists(
    st.tuples(st.integers(0, 10_000), st.integers(0, 255), st.sampled_from("sid")),
    min_size=1, max_size=6))
def test_fuzz_resealed_edits(which: int, edits: list[tuple[int, int, str]]) -> None:
    data = bytearray(SEEDS[which])
    for pos, value, kind in edits:
        i = 24 + pos % max(1, len(data) - 28)
        if kind == "s":
            data[i] = value
        elif kind == "i":
            data.insert(i, value)
        elif len(data) > 40:
            del data[i]
    _decode_or_reject(reseal_core(data))
    _decode_or_reject(reseal_outer(data))
