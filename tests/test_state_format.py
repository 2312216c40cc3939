"""The durable byte format of accumulators (docs/accumulators.md): layout, golden bytes, and
rejection of every truncated, damaged, foreign or newer-format input with CorruptStateError.

Accumulators are written in core state format 3, which carries their definition; the envelope
used before (``\\x89CXA``: a JSON definition around a core state of format 1 or 2) is still
read, from golden bytes written by that version (``tests/golden``).

The decoder is also fuzzed (hypothesis): arbitrary bytes, and valid states edited and then
re-sealed (length and checksums fixed up, as a forger would) so that the structural checks behind
the checksum get exercised too. Inputs that ever crashed the decoder go into REGRESSIONS.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

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
GOLDEN = Path(__file__).parent / "golden"


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


def legacy_small() -> bytes:
    """``small()`` as the JSON envelope (accumulator frame 1, core format 2) wrote it."""
    return bytes.fromhex((GOLDEN / "accumulator-v1-small.hex").read_text().replace("\n", ""))


def legacy_with_replicates() -> bytes:
    """``with_replicates()`` as the JSON envelope wrote it."""
    return bytes.fromhex(
        (GOLDEN / "accumulator-v1-replicates.hex").read_text().replace("\n", ""))


def reseal(b: bytes | bytearray) -> bytes:
    """Fixes up the length field and checksum after an edit (the outer frame of a legacy
    accumulator, or a format-3 state)."""
    b = bytearray(b)
    b[16:24] = struct.pack("<Q", len(b))
    b[-4:] = struct.pack("<I", zlib.crc32(bytes(b[:-4])))
    return bytes(b)


def reseal_core(b: bytes | bytearray) -> bytes:
    """Re-seals the core state inside a legacy accumulator, then the accumulator."""
    b = bytearray(b)
    (def_len,) = struct.unpack_from("<I", b, 12)
    start = 24 + def_len
    end = len(b) - 4
    if end - start >= 28:
        b[start + 16:start + 24] = struct.pack("<Q", end - start)
        b[end - 4:end] = struct.pack("<I", zlib.crc32(bytes(b[start:end - 4])))
    return reseal(b)


def rejected(data: bytes) -> str:
    with pytest.raises(cx.CorruptStateError) as err:
        Accumulator.from_bytes(data)
    return str(err.value)


def _name(data: bytes, pos: int) -> tuple[str | None, int]:
    """A name of the definition section: u8 present, then u32 length and UTF-8."""
    if data[pos] == 0:
        return None, pos + 1
    (n,) = struct.unpack_from("<I", data, pos + 1)
    return data[pos + 5:pos + 5 + n].decode(), pos + 5 + n


# ---------------------------------------------------------------------------------------------
# layout


def test_layout_matches_the_docs() -> None:
    core = small()
    magic, version, flags, n_keys, length, low, high = struct.unpack_from("<8sHHIQqq", core)
    # flags: weighted, has tallies, has a definition.
    assert (magic, version, flags, n_keys, length, low, high) == (
        CORE_MAGIC, 3, 0b1011, 2, len(core), 0, 10)
    assert struct.unpack_from("<I", core, len(core) - 4)[0] == zlib.crc32(core[:-4])
    # The definition: nps (0), promoters 9..10, detractors 0..6, on_invalid drop (1), a table (1),
    # then the column names.
    assert core[40] == 0
    assert struct.unpack_from("<4q", core, 41) == (9, 10, 0, 6)
    assert core[73:75] == bytes([1, 1])
    score, pos = _name(core, 75)
    assert core[pos] == 1
    (n_by,) = struct.unpack_from("<I", core, pos + 1)
    pos += 5
    by = []
    for _ in range(n_by):
        name, pos = _name(core, pos)
        by.append(name)
    weight, pos = _name(core, pos)
    assert (score, by, weight) == ("s", ["k", "j"], "w")
    # key types: utf8 (5), int64 (2); then 4 segments in key order, nulls last.
    assert core[pos:pos + 2] == bytes([5, 2])
    (n_segments,) = struct.unpack_from("<Q", core, pos + 2)
    assert n_segments == 4
    pos += 10
    # key types: utf8 (5), int64 (2); then 4 segments in key order, nulls last.
    # region column: "eu", "eu", "us", null
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


# The current format (core state 3 with its definition): these exact bytes are what
# ``cx.Accumulator("csat")`` fed ``[1, 5, 4, None]`` writes, and they must keep decoding.
GOLDEN_UNSEGMENTED = (
    "8943584d0d0a1a0a03000a00000000008c000000000000000100000000000000050000000000000001040000"
    "00000000000500000000000000000000010500000073636f7265000001000000000000000100000000000000"
    "0000000000000000000000000000000001000000000000000100000000000000010000000000000000000000"
    "0000000067c6eb76"
)
# The same accumulator as the JSON envelope wrote it (accumulator frame 1 around core format 2,
# then around core format 1: released durable formats): they must keep decoding, to the same
# accumulator.
GOLDEN_UNSEGMENTED_ENVELOPE = (
    "894358410d0a1a0a010000009c00000024010000000000007b226279223a6e756c6c2c226d6574726963223a"
    "2263736174222c226f6e5f696e76616c6964223a227261697365222c226f7074696f6e73223a7b2273617469"
    "7366696564223a5b342c355d2c227363616c65223a5b312c355d2c22737461746973746963223a2273686172"
    "65227d2c2273636f7265223a2273636f7265222c227461626c65223a66616c73652c22776569676874223a6e"
    "756c6c7d8943584d0d0a1a0a02000200000000006c0000000000000001000000000000000500000000000000"
    "0100000000000000010000000000000000000000000000000000000000000000010000000000000001000000"
    "00000000010000000000000000000000000000004d81f3f938d74d9b"
)
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
    for golden in (GOLDEN_UNSEGMENTED, GOLDEN_UNSEGMENTED_ENVELOPE, GOLDEN_UNSEGMENTED_V1):
        assert Accumulator.from_bytes(bytes.fromhex(golden)).to_bytes() == data


def test_envelope_bytes_read_as_the_same_accumulators() -> None:
    for legacy, current in ((legacy_small(), small()),
                            (legacy_with_replicates(), with_replicates())):
        assert legacy[:8] == ACC_MAGIC
        acc = Accumulator.from_bytes(legacy)
        assert acc.to_bytes() == current
        assert acc == Accumulator.from_bytes(current)


def test_empty_states_round_trip() -> None:
    for acc in (Accumulator("nps"), Accumulator("mean", score="x", by=["a", "b"], weight="w")):
        data = acc.to_bytes()
        assert Accumulator.from_bytes(data) == acc
        assert Accumulator.from_bytes(data).to_bytes() == data


# ---------------------------------------------------------------------------------------------
# rejection


ALL_KINDS = [small, unsegmented, with_replicates, legacy_small, legacy_with_replicates]


@pytest.mark.parametrize("make", ALL_KINDS)
def test_every_single_byte_corruption_is_rejected(make: object) -> None:
    data = make()  # type: ignore[operator]
    assert len(data) < 4000
    for i in range(len(data)):
        for flip in (0x01, 0x80, 0xFF):
            bad = bytearray(data)
            bad[i] ^= flip
            rejected(bytes(bad))


@pytest.mark.parametrize("make", ALL_KINDS)
def test_every_truncation_is_rejected(make: object) -> None:
    data = make()  # type: ignore[operator]
    for n in range(len(data)):
        message = rejected(data[:n])
        if n >= 8 or data[:8].startswith(data[:n]):
            assert "truncated" in message, (n, message)
    rejected(data + b"\x00")


def test_foreign_inputs_are_named() -> None:
    for foreign in (b"", b"\x00" * 64, b"PK\x03\x04" + bytes(60), b"\x89PNG\r\n\x1a\n" + bytes(40),
                    b"{\"metric\": \"nps\"}", bytes(range(256))):
        assert "magic" in rejected(foreign) or "truncated" in rejected(foreign)
    bare = _native.AccumulatorState(0, 10, 0, False).to_bytes()
    assert "bare core state" in rejected(bare)
    with pytest.raises(TypeError):
        Accumulator.from_bytes("not bytes")  # type: ignore[arg-type]
    assert Accumulator.from_bytes(bytearray(small())) == Accumulator.from_bytes(small())
    assert Accumulator.from_bytes(memoryview(small())) == Accumulator.from_bytes(small())


def test_future_versions_say_so() -> None:
    data = bytearray(small())
    data[8:10] = struct.pack("<H", 4)
    message = rejected(reseal(data))
    assert "version 4" in message and "upgrade" in message
    # The envelope, and a newer core state inside it.
    data = bytearray(legacy_small())
    data[8:10] = struct.pack("<H", 2)
    message = rejected(reseal(data))
    assert "version 2" in message and "upgrade" in message
    data = bytearray(legacy_small())
    (def_len,) = struct.unpack_from("<I", data, 12)
    data[24 + def_len + 8:24 + def_len + 10] = struct.pack("<H", 7)
    message = rejected(reseal_core(data))
    assert "version 7" in message and "upgrade" in message


def test_definition_fields_are_validated_in_the_bytes() -> None:
    """Each byte of a format-3 definition section set to another value and resealed: rejected
    as corrupt (never a ValueError, a panic or a wrong accumulator) or, where the value is
    valid, read back to a consistent accumulator."""
    data = small()
    end = 104  # the definition of small() spans bytes 40..104 (see the layout test)
    for i in range(40, end):
        for value in (0x00, 0x02, 0x07, 0x7F, 0xFF):
            if data[i] == value:
                continue
            bad = bytearray(data)
            bad[i] = value
            _decode_or_reject(reseal(bad))


def _with_definition(data: bytes, edit: dict[str, object]) -> bytes:
    (def_len,) = struct.unpack_from("<I", data, 12)
    definition = json.loads(data[24:24 + def_len])
    definition.update(edit)
    header = json.dumps(definition, sort_keys=True, separators=(",", ":")).encode()
    out = bytearray(data[:24]) + header + data[24 + def_len:]
    out[12:16] = struct.pack("<I", len(header))
    return reseal(out)


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
    {"options": {"scale": [0, float("nan")], "promoters": [9, 10], "detractors": [0, 6]}},
    {"options": {"scale": [0, 10], "promoters": [9, 10], "detractors": [0, 6.0]}},
    {"options": {"scale": [0, 10], "promoters": [9, 11], "detractors": [0, 6]}},
    {"options": {"scale": [0, 10], "promoters": [5, 10], "detractors": [0, 6]}},
    {"by": ["k", 1]},
    {"table": 1},
])
def test_inconsistent_definitions_are_rejected(edit: dict[str, object]) -> None:
    rejected(_with_definition(legacy_small(), edit))


@pytest.mark.parametrize("edit", [
    {"bootstrap": {"replicates": 3, "seed": 5}},
    {"bootstrap": {"replicates": 2, "seed": None}},
    {"bootstrap": {"replicates": 2}},
    {"bootstrap": None},
    {"bootstrap": {"replicates": True, "seed": 5}},
])
def test_replicate_definitions_must_match_the_state(edit: dict[str, object]) -> None:
    rejected(_with_definition(legacy_with_replicates(), edit))


def test_non_canonical_definition_is_rejected() -> None:
    data = legacy_small()
    (def_len,) = struct.unpack_from("<I", data, 12)
    header = json.dumps(json.loads(data[24:24 + def_len]), indent=1).encode()
    out = bytearray(data[:24]) + header + data[24 + def_len:]
    out[12:16] = struct.pack("<I", len(header))
    assert "canonical" in rejected(reseal(out))
    bad_len = bytearray(data)
    bad_len[12:16] = struct.pack("<I", 10**6)
    rejected(reseal(bad_len))


# ---------------------------------------------------------------------------------------------
# fuzzing

# Inputs that once crashed or hung the decoder (none so far); each must be rejected cleanly.
REGRESSIONS: list[bytes] = [
    ACC_MAGIC,
    ACC_MAGIC + bytes(16),
    reseal(ACC_MAGIC + struct.pack("<HHIQ", 1, 0, 0, 0) + bytes(4)),
    reseal(ACC_MAGIC + struct.pack("<HHIQ", 1, 0, 2, 0) + b"[]" + bytes(4)),
    reseal(ACC_MAGIC + struct.pack("<HHIQ", 1, 0, 2000, 0) + b"[" * 2000 + bytes(4)),
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
    _decode_or_reject(CORE_MAGIC + data)
    _decode_or_reject(reseal(CORE_MAGIC + struct.pack("<HHIQqq", 3, 8, 0, 0, 0, 10) + data
                             + bytes(4)))
    _decode_or_reject(reseal(ACC_MAGIC + struct.pack("<HHIQ", 1, 0, len(data) // 2, 0)
                                   + data + bytes(4)))


SEEDS = [small(), unsegmented(), with_replicates(), legacy_small(), legacy_with_replicates()]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.integers(0, len(SEEDS) - 1), edits=st.lists(
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
    if data[:8] == ACC_MAGIC:
        _decode_or_reject(reseal_core(data))
    _decode_or_reject(reseal(data))
