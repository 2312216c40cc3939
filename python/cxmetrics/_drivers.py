"""Key driver analysis: which attributes move an outcome, and how sure the ranking is.

``cx.drivers`` and ``cx.DriversAccumulator`` name columns, derive the outcome and check options;
the pass over rows (exact per-segment Gram matrices of [1, y, x1..xp] and their
Poisson-bootstrap replicates) and every statistic (Johnson's relative weights, Shapley/LMG,
percentile intervals) run in Rust (``_native.DriverStats``). See docs/drivers.md.

Byte layout of :meth:`DriversAccumulator.to_bytes` (little-endian)::

    0    8  magic       b"\\x89CXD\\r\\n\\x1a\\n"
    8    2  version     u16 = 1
    10   4  def_len     u32: length D of the definition (canonical JSON)
    14   D  definition
    14+D S  state       the core's driver statistics (their own format, b"CXDRV", with a CRC)
    L-4  4  checksum    CRC-32 (zlib.crc32) of bytes 0..L-4
"""

from __future__ import annotations

import json
import secrets
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from . import _native
from ._inputs import as_table
from ._registry import DEFAULT_MIN_N, NPS_DETRACTORS, NPS_PROMOTERS
from .errors import (
    ArgumentError,
    ColumnError,
    CorruptStateError,
    IncompatibleAccumulatorError,
    InvalidScoreError,
)
from .scale import NPS_SCALE

__all__ = ["DriverImportance", "DriversAccumulator", "DriversResult", "drivers"]

Method = Literal["relative-weights", "shapley"]
METHODS: tuple[str, ...] = ("relative-weights", "shapley")
#: The intervals read off the bootstrap replicates (see :func:`drivers`).
Bootstrap = Literal["percentile", "bc", "bca", "studentized"]
BOOTSTRAPS: tuple[str, ...] = ("percentile", "bc", "bca", "studentized")
#: The default: BC and BCa did not beat it in every cell of the simulated grid
#: (docs/statistics.md), so it stays.
DEFAULT_BOOTSTRAP: Bootstrap = "percentile"
# Named outcome buckets on the 0-10 likelihood-to-recommend scale (Reichheld 2003).
BUCKETS: dict[str, tuple[int, int]] = {"promoter": NPS_PROMOTERS, "detractor": NPS_DETRACTORS}

MAGIC = b"\x89CXD\r\n\x1a\n"
VERSION = 1
_FRAME = struct.Struct("<8sHI")


@dataclass(frozen=True, slots=True)
class DriverImportance:
    """One driver's importance in one segment.

    ``importance`` is its share of the model's R² (the importances of a segment sum to ``r2``);
    ``rescaled`` the same as a percentage of R². ``sign`` is the sign of its coefficient in the
    full model (+1: a higher rating goes with a higher outcome, other drivers held fixed);
    ``correlation`` its plain correlation with the outcome. ``ci_low``/``ci_high`` is the
    bootstrap interval of ``importance`` (NaN without ``ci``; which interval is
    :attr:`DriversResult.bootstrap`); ``mc_error`` the Monte
    Carlo standard error of a sampled Shapley estimate (NaN when exact). ``note`` says why a
    segment has no estimate (too few rows, no variance, collinear drivers).
    """

    segment: tuple[Any, ...]
    driver: str
    importance: float
    rescaled: float
    sign: int | None
    coefficient: float
    correlation: float
    ci_low: float
    ci_high: float
    r2: float
    r2_low: float
    r2_high: float
    n: int
    n_dropped: int
    weight_sum: float
    mc_error: float
    replicates_used: int
    note: str | None


@dataclass(frozen=True, slots=True)
class DriversResult:
    """The result of a driver analysis: one :class:`DriverImportance` per (segment, driver)."""

    method: str
    outcome: str
    drivers: tuple[str, ...]
    by: tuple[str, ...]
    confidence: float
    rows: tuple[DriverImportance, ...]
    table: pa.Table
    #: Where the bootstrap replicates came from: ``"tuples"`` (the histogram of distinct
    #: answer tuples: identical on any partitioning), ``"rows"`` (drawn per row, past
    #: 131,072 distinct tuples), None without ``ci``.
    resampling: str | None = None
    #: The interval read off the replicates: ``"percentile"``, ``"bc"``, ``"bca"`` or
    #: ``"studentized"``.
    bootstrap: str = DEFAULT_BOOTSTRAP

    def to_arrow(self) -> pa.Table:
        """The result as a table: key columns, then one column per field of DriverImportance."""
        return self.table

    def __iter__(self) -> Iterator[DriverImportance]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def segments(self) -> list[tuple[Any, ...]]:
        """The segments' keys, in key order (``[()]`` without ``by``)."""
        seen: dict[tuple[Any, ...], None] = {}
        for row in self.rows:
            seen.setdefault(row.segment, None)
        return list(seen)

    def segment(self, *key: Any) -> tuple[DriverImportance, ...]:
        """The rows of one segment (no arguments without ``by``)."""
        rows = tuple(r for r in self.rows if r.segment == tuple(key))
        if not rows:
            raise ArgumentError(f"no segment {tuple(key)!r}; segments are {self.segments()}")
        return rows

    def ranking(self, *key: Any) -> list[str]:
        """The drivers of one segment from most to least important."""
        rows = self.segment(*key)
        return [r.driver for r in sorted(rows, key=lambda r: -r.importance)]

    def plot(self, *key: Any, ax: Any = None) -> Any:
        """Importance (% of R²) with intervals for one segment (needs the ``plot`` extra)."""
        from ._drivers_plot import importance_chart

        return importance_chart(self, tuple(key), ax=ax)

    def priority_matrix(self, performance: dict[str, float], *key: Any, ax: Any = None) -> Any:
        """Importance against each driver's own performance (e.g. its mean rating), quadrants
        split at the medians (needs the ``plot`` extra)."""
        from ._drivers_plot import priority_matrix

        return priority_matrix(self, performance, tuple(key), ax=ax)


def _int(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ArgumentError(f"{name} must be an int in [{low}, {high}], got {value!r}")
    return value


def _names(spec: object, role: str) -> list[str]:
    if spec is None:
        return []
    items = list(spec) if isinstance(spec, list | tuple) else [spec]
    for item in items:
        if not isinstance(item, str):
            raise ColumnError(f"{role} must name columns (str), got {item!r}")
    return [str(i) for i in items]


def _bucket(bucket: object) -> tuple[int, int] | None:
    if bucket is None:
        return None
    if isinstance(bucket, str):
        if bucket not in BUCKETS:
            raise ArgumentError(
                f"bucket={bucket!r} is not a named bucket ({', '.join(BUCKETS)}); "
                "or give a pair (low, high) of scores"
            )
        return BUCKETS[bucket]
    if (isinstance(bucket, tuple | list) and len(bucket) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in bucket)
            and bucket[0] <= bucket[1]):
        return int(bucket[0]), int(bucket[1])
    raise ArgumentError(f"bucket must be 'promoter', 'detractor' or (low, high), got {bucket!r}")


def _column(table: pa.Table, name: str, role: str) -> pa.Array:
    if name not in table.column_names:
        raise ColumnError(
            f"{role}: no column {name!r}; the table has {table.column_names}", column=name
        )
    column = table.column(name)
    return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)


def _bucketed(scores: pa.Array, name: str, bucket: tuple[int, int],
              bucket_name: str) -> pa.Array:
    """1.0 where the score is in the bucket, 0.0 where it is another 0-10 score, null where
    missing; scores off the 0-10 scale are refused (InvalidScoreError)."""
    if not (pa.types.is_integer(scores.type) or pa.types.is_floating(scores.type)):
        raise ColumnError(f"column {name!r}: a bucketed outcome needs numeric scores, "
                          f"got {scores.type}", column=name)
    values = pc.cast(scores, pa.float64())
    low, high = NPS_SCALE.low, NPS_SCALE.high
    valid = pc.and_(pc.and_(pc.greater_equal(values, low), pc.less_equal(values, high)),
                    pc.equal(pc.floor(values), values))
    bad = pc.invert(pc.fill_null(valid, True))
    count = pc.sum(bad).as_py() or 0
    if count:
        first = pc.index(bad, True).as_py()
        raise InvalidScoreError(
            f"column {name!r}: {count} value(s) are not 0-10 scores, needed for "
            f"bucket={bucket_name!r}; first at row {first}: {values[first].as_py()}",
            column=name, count=count, first_row=first, first_value=values[first].as_py(),
        )
    inside = pc.and_(pc.greater_equal(values, bucket[0]), pc.less_equal(values, bucket[1]))
    out = pc.cast(inside, pa.float64())
    assert isinstance(out, pa.Array)
    return out


class DriversAccumulator:
    """Driver statistics of batches of rows, mergeable exactly (for streams and clusters).

    Holds, per segment, the exact weighted Gram matrix of [1, outcome, drivers...] and, with
    ``ci="bootstrap"``, what its ``n_resamples`` Poisson-bootstrap replicates are drawn from:
    the histogram of distinct answer tuples (drawn when reported, keyed by ``seed`` alone, so
    any partitioning gives the same intervals), or past 131,072 distinct tuples replicates
    drawn per row from stream ``stream`` of ``seed`` (see :attr:`resampling`). ``update`` adds
    a table's rows, ``merge`` combines two accumulators of disjoint rows (the result equals one
    accumulator over all rows, bit for bit), ``to_bytes``/``from_bytes`` and pickle persist it,
    ``result`` reports the importances.
    """

    def __init__(
        self,
        outcome: str,
        drivers: Sequence[str],
        *,
        bucket: str | tuple[int, int] | None = None,
        weight: str | None = None,
        by: str | Sequence[str] | None = None,
        ci: Literal["bootstrap"] | None = "bootstrap",
        n_resamples: int = 1000,
        seed: int | None = None,
        stream: int = 0,
        missing: Literal["listwise"] = "listwise",
    ) -> None:
        definition: dict[str, Any] = {
            "outcome": outcome, "drivers": list(drivers) if drivers is not None else None,
            "bucket": list(bucket) if isinstance(bucket, tuple | list) else bucket,
            "weight": weight, "by": _names(by, "by"), "ci": ci,
            "n_resamples": n_resamples, "seed": seed, "stream": stream, "missing": missing,
        }
        _check_definition(definition)
        self._init(definition, None)

    def _init(self, definition: dict[str, Any], stats: _native.DriverStats | None) -> None:
        self._definition = definition
        if stats is None:
            stats = _fresh_stats(definition)
        self._stats = stats

    @classmethod
    def _build(cls, definition: dict[str, Any], stats: _native.DriverStats) -> DriversAccumulator:
        out = cls.__new__(cls)
        out._init(definition, stats)
        return out

    @property
    def outcome(self) -> str:
        return str(self._definition["outcome"])

    @property
    def drivers(self) -> tuple[str, ...]:
        return tuple(self._definition["drivers"])

    @property
    def by(self) -> tuple[str, ...]:
        return tuple(self._definition["by"])

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column an update reads: outcome, drivers, weight, segment keys."""
        d = self._definition
        weight = [d["weight"]] if d["weight"] is not None else []
        return (d["outcome"], *d["drivers"], *weight, *d["by"])

    @property
    def resampling(self) -> str | None:
        """Where the bootstrap replicates come from: ``"tuples"`` while the rows hold at most
        131,072 distinct (outcome, drivers, weight) tuples, then ``"rows"``; None without ci."""
        return self._stats.resampling

    @property
    def stream(self) -> int | None:
        """The replicates' random stream (None without ``ci="bootstrap"``)."""
        return int(self._definition["stream"]) if self._definition["ci"] else None

    @property
    def definition(self) -> dict[str, Any]:
        """The definition (column names and options), as stored in the bytes."""
        return dict(self._definition)

    def __repr__(self) -> str:
        d = self._definition
        return (f"DriversAccumulator(outcome={d['outcome']!r}, drivers={d['drivers']!r}, "
                f"by={d['by']!r}, ci={d['ci']!r})")

    def update(self, data: object) -> None:
        """Adds the rows of a table (pyarrow, pandas, polars, a record batch or stream);
        all-or-nothing: a refused batch leaves the accumulator unchanged."""
        table = as_table(data)
        if table is None:
            raise ColumnError("driver analysis needs a table with the outcome and driver columns")
        d = self._definition
        outcome = _column(table, d["outcome"], "outcome")
        bucket = _bucket(d["bucket"])
        if bucket is not None:
            name = d["bucket"] if isinstance(d["bucket"], str) else f"{bucket}"
            outcome = _bucketed(outcome, d["outcome"], bucket, name)
        drivers = [_column(table, n, "drivers") for n in d["drivers"]]
        weight = None if d["weight"] is None else _column(table, d["weight"], "weight")
        keys = [_column(table, n, "by") for n in d["by"]]
        self._stats.update(outcome, drivers, weight, keys, d["outcome"], list(d["drivers"]),
                           d["weight"], list(d["by"]))

    def merge(self, other: DriversAccumulator) -> DriversAccumulator:
        """A new accumulator with both inputs' rows (which must be disjoint)."""
        if not isinstance(other, DriversAccumulator):
            raise IncompatibleAccumulatorError(
                f"can only merge a DriversAccumulator, got {type(other).__name__}")
        mine = {k: v for k, v in self._definition.items() if k != "stream"}
        theirs = {k: v for k, v in other._definition.items() if k != "stream"}
        if mine != theirs:
            diff = sorted(k for k in mine if mine[k] != theirs.get(k))
            raise IncompatibleAccumulatorError(
                f"cannot merge driver accumulators that differ in {', '.join(diff)}")
        try:
            merged = self._stats.merged(other._stats)
        except ArgumentError as exc:
            raise IncompatibleAccumulatorError(str(exc)) from exc
        # Symmetric, so merged bytes do not depend on merge order (as the core's streams).
        stream = min(self._definition["stream"], other._definition["stream"])
        return DriversAccumulator._build(dict(self._definition, stream=stream), merged)

    def with_stream(self, stream: int) -> DriversAccumulator:
        """An empty accumulator of the same definition drawing from stream ``stream`` (give
        each partition of a cluster its own)."""
        definition = dict(self._definition, stream=_int(stream, "stream", 0, 2**64 - 1))
        return DriversAccumulator._build(definition, _fresh_stats(definition))

    def result(
        self,
        method: Method = "relative-weights",
        *,
        confidence: float = 0.95,
        min_n: int = DEFAULT_MIN_N,
        exact_up_to: int = 20,
        permutations: int = 2000,
        bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
    ) -> DriversResult:
        """Importances per (segment, driver); see :func:`drivers`."""
        if method not in METHODS:
            raise ArgumentError(f"method={method!r} is not one of {METHODS}")
        if bootstrap not in BOOTSTRAPS:
            raise ArgumentError(f"bootstrap={bootstrap!r} is not one of {BOOTSTRAPS}")
        if isinstance(confidence, bool) or not isinstance(confidence, int | float) \
                or not 0 < confidence < 1:
            raise ArgumentError(f"confidence must be in (0, 1), got {confidence!r}")
        _int(min_n, "min_n", 0, 2**63)
        _int(exact_up_to, "exact_up_to", 0, 26)
        _int(permutations, "permutations", 2, 10_000_000)
        d = self._definition
        seed = d["seed"] if d["seed"] is not None else secrets.randbits(63)
        batch = self._stats.report(method, list(d["drivers"]), list(d["by"]), float(confidence),
                                   min_n, exact_up_to, permutations, seed, bootstrap)
        table = pa.Table.from_batches([batch])
        return DriversResult(method=method, outcome=d["outcome"], drivers=tuple(d["drivers"]),
                             by=tuple(d["by"]), confidence=float(confidence),
                             rows=_rows(table, tuple(d["by"])), table=table,
                             resampling=self._stats.resampling, bootstrap=bootstrap)

    def to_bytes(self) -> bytes:
        definition = json.dumps(self._definition, sort_keys=True, separators=(",", ":"))
        head = _FRAME.pack(MAGIC, VERSION, len(definition.encode()))
        body = head + definition.encode() + self._stats.to_bytes()
        return body + struct.pack("<I", zlib.crc32(body))

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> DriversAccumulator:
        data = bytes(data)
        if len(data) < _FRAME.size + 4 or data[:8] != MAGIC:
            raise CorruptStateError("not a DriversAccumulator state (bad magic)")
        if zlib.crc32(data[:-4]) != struct.unpack("<I", data[-4:])[0]:
            raise CorruptStateError("checksum mismatch: the bytes were altered or truncated")
        _, version, def_len = _FRAME.unpack(data[:_FRAME.size])
        if version != VERSION:
            raise CorruptStateError(f"unsupported DriversAccumulator format version {version}")
        end = _FRAME.size + def_len
        try:
            definition = json.loads(data[_FRAME.size:end].decode())
            _check_definition(definition)
        except (ValueError, TypeError, KeyError) as exc:
            raise CorruptStateError(f"the stored definition is invalid: {exc}") from exc
        stats = _native.DriverStats.from_bytes(data[end:-4])
        if (stats.n_drivers, stats.n_keys, stats.weighted) != (
                len(definition["drivers"]), len(definition["by"]),
                definition["weight"] is not None):
            raise CorruptStateError("the stored statistics do not match the stored definition")
        return cls._build(definition, stats)

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (_from_bytes, (self.to_bytes(),))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DriversAccumulator) and self.to_bytes() == other.to_bytes()

    __hash__ = None  # type: ignore[assignment]


def _from_bytes(data: bytes) -> DriversAccumulator:
    return DriversAccumulator.from_bytes(data)


def _fresh_stats(definition: dict[str, Any]) -> _native.DriverStats:
    replicates = definition["n_resamples"] if definition["ci"] == "bootstrap" else None
    return _native.DriverStats(len(definition["drivers"]), len(definition["by"]),
                               definition["weight"] is not None, replicates,
                               definition["seed"], definition["stream"])


def _check_definition(d: dict[str, Any]) -> None:
    if not isinstance(d.get("outcome"), str):
        raise ColumnError(f"outcome must name a column (str), got {d.get('outcome')!r}")
    drivers = d.get("drivers")
    if not isinstance(drivers, list) or not drivers:
        raise ColumnError(f"drivers must be a non-empty list of column names, got {drivers!r}")
    _names(drivers, "drivers")
    if len(set(drivers)) != len(drivers) or d["outcome"] in drivers:
        raise ColumnError("drivers must be distinct columns, other than the outcome")
    if len(drivers) > 64:
        raise ArgumentError(f"at most 64 drivers are supported, got {len(drivers)}")
    _bucket(tuple(d["bucket"]) if isinstance(d.get("bucket"), list) else d.get("bucket"))
    if d.get("weight") is not None and not isinstance(d["weight"], str):
        raise ColumnError(f"weight must name a column (str), got {d['weight']!r}")
    _names(d.get("by"), "by")
    if d.get("ci") not in ("bootstrap", None):
        raise ArgumentError(f"ci must be 'bootstrap' or None, got {d.get('ci')!r}")
    _int(d.get("n_resamples"), "n_resamples", 1, _native.MAX_REPLICATES)
    if d.get("seed") is not None:
        _int(d["seed"], "seed", 0, 2**64 - 1)
    _int(d.get("stream"), "stream", 0, 2**64 - 1)
    if d.get("missing") != "listwise":
        raise ArgumentError(
            f"missing={d.get('missing')!r}: only 'listwise' (drop a row with any missing "
            "value, and count it) is supported")


def _rows(table: pa.Table, by: tuple[str, ...]) -> tuple[DriverImportance, ...]:
    data = table.to_pydict()
    fields = [f for f in DriverImportance.__slots__ if f != "segment"]
    out = []
    for i in range(table.num_rows):
        key = tuple(data[name][i] for name in by)
        values = {f: data[f][i] for f in fields}
        out.append(DriverImportance(segment=key, **values))
    return tuple(out)


def drivers(
    data: object,
    outcome: str,
    drivers: Sequence[str],
    *,
    method: Method = "relative-weights",
    bucket: str | tuple[int, int] | None = None,
    weight: str | None = None,
    by: str | Sequence[str] | None = None,
    ci: Literal["bootstrap"] | None = "bootstrap",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = None,
    min_n: int = DEFAULT_MIN_N,
    missing: Literal["listwise"] = "listwise",
    exact_up_to: int = 20,
    permutations: int = 2000,
    bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
) -> DriversResult:
    """Key driver analysis: how much of the outcome's explained variance each driver accounts for.

    ``data`` is a table (pyarrow, pandas, polars); ``outcome`` names the score column and
    ``drivers`` the attribute columns (numeric ratings or 0/1 flags). With ``bucket`` the outcome
    is 1 for a score in the bucket and 0 otherwise: ``"promoter"`` (9-10 on the 0-10 scale),
    ``"detractor"`` (0-6) or a pair ``(low, high)``; the scores must then be 0-10 integers.

    ``method="relative-weights"`` is Johnson's (2000) relative weights; ``"shapley"`` the
    Shapley value / LMG decomposition of R² (Lindeman, Merenda & Gold 1980), exact up to
    ``exact_up_to`` drivers and estimated from ``permutations`` random orders above (with its
    Monte Carlo error in ``mc_error``). Both sum to the model's R² (weighted least squares with
    an intercept). ``by`` gives one analysis per segment; segments with fewer than ``min_n``
    rows get a note instead of numbers. Rows with a missing outcome or driver (null or NaN) are
    dropped (``missing="listwise"``) and counted in ``n_dropped``.

    ``ci="bootstrap"``: intervals from ``n_resamples`` Poisson-bootstrap replicates,
    reproducible with ``seed``: resampled from the histogram of distinct answer tuples (the
    same on one machine and any cluster), or drawn per row past 131,072 distinct tuples
    (``DriversResult.resampling`` says which). ``bootstrap`` is the interval read off them:
    ``"percentile"`` (the default), ``"bc"`` (bias-corrected percentile) or ``"bca"``
    (bias-corrected and accelerated, Efron 1987; the acceleration from each row's influence,
    exact from the tuple histogram, estimated from the replicates when drawn per row) or
    ``"studentized"`` (bootstrap-t, Efron & Tibshirani 1993, ch. 12: each replicate's deviation
    divided by its own delta-method standard error). The studentized interval needs the tuple
    histogram: when the replicates were drawn per row it raises :class:`ArgumentError`.
    docs/statistics.md gives their simulated coverage.
    """
    acc = DriversAccumulator(outcome, drivers, bucket=bucket, weight=weight, by=by, ci=ci,
                             n_resamples=n_resamples, seed=seed, missing=missing)
    acc.update(data)
    return acc.result(method, confidence=confidence, min_n=min_n, exact_up_to=exact_up_to,
                      permutations=permutations, bootstrap=bootstrap)
