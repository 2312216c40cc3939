"""Typed results: one estimate (``MetricResult``) and one per segment (``SegmentedResult``).

Both are plain data: they pickle, deep-copy, compare equal and convert with
``dataclasses.asdict``. A ``SegmentedResult`` keeps the per-segment Arrow table the core built and
makes a ``MetricResult`` only for the segments a user asks for, so a million segments cost a
million Arrow rows, not a million Python objects.
"""

from __future__ import annotations

import functools
import json
import math
import os
import random
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._arrow import from_numpy, repeat, to_pandas, to_polars
from ._definition import MetricDef
from .scale import Scale

if TYPE_CHECKING:
    import pandas
    import polars

    from . import _native

__all__ = [
    "MetricResult", "SegmentedResult", "internal_key_names", "public_key_names", "result_rows",
]

Key = tuple[Any, ...]


class ArrowBatch(Protocol):
    """A record batch from the core that pyarrow imports through the PyCapsule interface."""

    @property
    def num_rows(self) -> int: ...
    def __arrow_c_array__(self, requested_schema: object = None) -> tuple[object, object]: ...


# Stands in for a deferred ``segments`` table while the dataclass is constructed.
_NOT_YET: Any = object()

# The statistics of one segment as the core names them, in the order they leave it.
_FLOATS = ("value", "se", "ci_low", "ci_high")
_COUNTS = ("n", "n_missing", "n_invalid")
_SIZES = ("weighted_n", "effective_n")
# Columns of the exported table that are not keys; a key column with one of these names (or a
# bucket's name) keeps its name with a "_segment" suffix.
_EXPORT_NAMES = frozenset(
    {*_FLOATS, *_COUNTS, *_SIZES, "metric", "confidence", "method", "n_resamples", "seed",
     "distribution", "note", "overall", "status"}
)
# Rows converted to Python at a time while iterating (bounded memory, few pyarrow calls).
_ITER_CHUNK = 4096


def _same(a: object, b: object) -> bool:
    """Equality in which NaN equals NaN (a copied result must equal its original)."""
    if a is b:
        return True
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@dataclass(frozen=True, slots=True, eq=False)
class MetricResult:
    """One estimate with its interval and the counts behind it.

    ``value``, ``se`` and the bounds are in the metric's units: NPS in points (-100 to 100), shares
    in percent (0 to 100), means in scale units. They are NaN when there are no valid responses;
    the bounds are NaN when no interval was asked for. ``definition`` is the metric's plain
    definition (name, scale, bucket rule), which ``compare`` rebuilds the estimate from.
    Equality is field by field, with NaN equal to NaN.
    """

    metric: str
    value: float
    ci_low: float
    ci_high: float
    confidence: float
    method: str | None
    se: float
    n: int
    n_missing: int
    n_invalid: int
    weighted_n: float
    effective_n: float
    counts: Mapping[str, int]
    distribution: tuple[int, ...]
    scale: Scale
    segment: Key = ()
    n_resamples: int | None = None
    seed: int | None = None
    note: str | None = field(default=None, compare=False)
    weighted: bool = False
    definition: MetricDef | None = field(default=None, compare=False, repr=False)
    # "ok", or why the row is left out of tests: "small-base" (effective n below ``min_n``),
    # "empty" (no responses).
    status: str = "ok"
    # Token of the call that produced this result (random, so it stays unique across processes):
    # results of one call overlap (a segment is inside its overall), so ``compare`` refuses them.
    origin: int | None = field(default=None, compare=False, repr=False)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(_same(getattr(self, f.name), getattr(other, f.name))
                   for f in fields(self) if f.compare)

    __hash__ = None  # type: ignore[assignment]  # counts is a dict: results are not hashable

    @property
    def margin(self) -> float:
        """Half the interval's width (NaN without an interval)."""
        return (self.ci_high - self.ci_low) / 2

    def __str__(self) -> str:
        where = f"{self.segment!r}: " if self.segment else ""
        if math.isnan(self.ci_low):
            return f"{where}{self.metric} = {self.value:.2f} (n={self.n})"
        return (
            f"{where}{self.metric} = {self.value:.2f} "
            f"[{self.ci_low:.2f}, {self.ci_high:.2f}] "
            f"({self.confidence:.0%} {self.method}, n={self.n})"
        )


@dataclass(frozen=True, eq=False)
class SegmentedResult:
    """Estimates per segment, sorted by key (nulls last), plus the overall estimate.

    ``len()`` counts segments, iteration yields each segment's :class:`MetricResult`, and
    ``result[key]`` looks one up (a scalar for one ``by`` column, a tuple for several); those
    objects are made on demand from ``segments``, the per-segment Arrow table. ``to_arrow()``
    exports a flat table, and the result itself is an Arrow stream (``pa.table(res)``,
    ``polars.DataFrame(res)``, DuckDB's ``select * from res``).
    """

    by: tuple[str, ...]
    overall: MetricResult
    # One row per segment, as the core built it: the key columns (``key_columns``), value, se,
    # ci_low, ci_high, n, n_missing, n_invalid, weighted_n, effective_n, the bucket counts
    # ``bucket_0``, ``bucket_1``, ... (uint64, in ``overall.definition.bucket_names`` order),
    # distribution, note. ``to_arrow()`` gives the friendly, flat form.
    segments: pa.Table = field(repr=False)
    key_columns: tuple[str, ...] = ()

    @classmethod
    def _deferred(cls, by: tuple[str, ...], overall: MetricResult, batch: ArrowBatch,
                  key_columns: tuple[str, ...]) -> SegmentedResult:
        """A result whose ``segments`` table is imported from the core's ``batch`` on first
        use: a request-sized call that only reads ``overall`` (or nothing) pays for no Arrow
        export. Everything that reads ``segments`` (iteration, lookup, ``to_arrow``, pickling,
        equality, ``asdict``) imports it once, the same table an eager result holds."""
        result = cls(by, overall, _NOT_YET, key_columns)
        object.__delattr__(result, "segments")  # __getattr__ now imports it on first use
        object.__setattr__(result, "_batch", batch)
        return result

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes the instance lacks: the deferred ``segments``.
        state = self.__dict__
        batch = state.get("_batch") if name == "segments" else None
        if batch is None:
            if name == "segments" and "segments" in state:
                return state["segments"]  # another thread imported it meanwhile
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        table = pa.Table.from_batches([pa.record_batch(batch)])
        # Threads reading at once all get the first import; the table is in place before the
        # batch goes, so a reader never finds neither.
        table = state.setdefault("segments", table)
        state.pop("_batch", None)
        return table

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from the fields: the lazily built key index is not part of the state. The
        # tallies behind the rows travel as the core's bytes (plain data), if there are any.
        tallies = self.tallies()
        return (_rebuild_segmented, (self.by, self.overall, self.segments, self.key_columns,
                                     None if tallies is None else tallies.to_bytes()))

    def tallies(self) -> _native.AccumulatorState | None:
        """The exact tallies behind the rows (segments in row order), which unions of segments
        (the rest of the respondents, rolling windows) are estimated from; None when the
        result was not built from an aggregation. Not part of equality."""
        state = self.__dict__
        tallies: _native.AccumulatorState | None = state.get("_tallies")
        if tallies is None and "_tallies_scale" in state:
            # Threads asking at once all get the first rebuild.
            tallies = state.setdefault("_tallies", self._tallies_from_rows())
        return tallies

    def with_tallies(self, tallies: _native.AccumulatorState | None) -> SegmentedResult:
        """This result, holding ``tallies`` (set once, right after it is built)."""
        object.__setattr__(self, "_tallies", tallies)
        return self

    def with_tallies_of_rows(self, low: int, high: int) -> SegmentedResult:
        """This result, whose unweighted tallies (scale ``low``..``high``) are rebuilt from its
        own rows when first asked for: the rows hold every count (the distribution, missing and
        invalid rows per segment), so the result does not keep a second copy of them."""
        object.__setattr__(self, "_tallies_scale", (low, high))
        return self

    def carry_tallies(self, other: SegmentedResult) -> SegmentedResult:
        """``other`` (the same segments and counts) with this result's tallies, or their recipe
        when they are still to be rebuilt from the rows."""
        state = self.__dict__
        if state.get("_tallies") is None and "_tallies_scale" in state:
            return other.with_tallies_of_rows(*state["_tallies_scale"])
        return other.with_tallies(self.tallies())

    def _tallies_from_rows(self) -> _native.AccumulatorState:
        from . import _native

        low, high = self.__dict__["_tallies_scale"]
        table = self.segments

        def column(name: str) -> pa.Array:
            return table.column(name).combine_chunks()

        return _native.AccumulatorState.from_segment_counts(
            low, high, [column(name) for name in self.key_columns],
            column("distribution").flatten(), column("n_missing"), column("n_invalid"))

    def plot(self, ax: Any = None, **options: Any) -> Any:
        """Estimates with interval whiskers, sorted, the overall as a reference line and small
        bases greyed (needs the ``plot`` extra); returns the matplotlib Axes."""
        from ._plot import plot_segments

        return plot_segments(self, ax=ax, **options)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return (self.by == other.by and self.key_columns == other.key_columns
                and self.overall == other.overall
                and _tables_equal(self.segments, other.segments))

    __hash__ = None  # type: ignore[assignment]

    def __len__(self) -> int:
        batch = self.__dict__.get("_batch")
        return int(self.segments.num_rows if batch is None else batch.num_rows)

    def __iter__(self) -> Iterator[MetricResult]:
        table = self.segments
        for start in range(0, table.num_rows, _ITER_CHUNK):
            yield from self._results(table.slice(start, _ITER_CHUNK))

    def __getitem__(self, key: Any) -> MetricResult:
        wanted = self._wanted(key)
        index = self._index().get(wanted)
        if index is None:
            raise KeyError(f"no segment {key!r} in {self.by}")
        return self._results(self.segments.slice(index, 1))[0]

    def __contains__(self, key: object) -> bool:
        return self._wanted(key) in self._index()

    def keys(self) -> list[Key]:
        """Segment keys in order, each a tuple with one value per ``by`` column."""
        data = _python_values(self.segments.select(list(self.key_columns)))
        columns = [data[name] for name in self.key_columns]
        return list(zip(*columns, strict=True)) if columns else []

    def _wanted(self, key: object) -> Key:
        return key if isinstance(key, tuple) and len(self.by) > 1 else (key,)

    def _index(self) -> dict[Key, int]:
        """Key → row, built on the first lookup (construction makes no per-segment object)."""
        cached: dict[Key, int] | None = self.__dict__.get("_key_index")
        if cached is None:
            cached = {key: i for i, key in enumerate(self.keys())}
            object.__setattr__(self, "_key_index", cached)
        return cached

    def _results(self, rows: pa.Table) -> list[MetricResult]:
        data = _python_values(rows)
        overall = self.overall
        definition = overall.definition
        buckets = () if definition is None else definition.bucket_names
        keys = list(zip(*(data[name] for name in self.key_columns), strict=True))
        statuses = data.get("status") or ["ok"] * rows.num_rows
        return [
            MetricResult(
                metric=overall.metric,
                value=data["value"][i],
                ci_low=data["ci_low"][i],
                ci_high=data["ci_high"][i],
                confidence=overall.confidence,
                method=overall.method,
                se=data["se"][i],
                n=data["n"][i],
                n_missing=data["n_missing"][i],
                n_invalid=data["n_invalid"][i],
                weighted_n=data["weighted_n"][i],
                effective_n=data["effective_n"][i],
                counts={name: data[f"bucket_{b}"][i] for b, name in enumerate(buckets)},
                distribution=tuple(data["distribution"][i]),
                scale=overall.scale,
                segment=keys[i],
                n_resamples=overall.n_resamples,
                seed=overall.seed,
                note=data["note"][i],
                weighted=overall.weighted,
                definition=definition,
                status=statuses[i],
                origin=overall.origin,
            )
            for i in range(rows.num_rows)
        ]

    def to_arrow(self, *, include_overall: bool = False, distribution: bool = False) -> pa.Table:
        """One flat row per segment, ready for CSV or a database.

        Columns: the keys, ``metric``, ``value``, ``ci_low``, ``ci_high``, ``se``,
        ``confidence``, ``method``, the counts (``n``, ``n_missing``, ``n_invalid`` and one per
        bucket, all int64), ``weighted_n``, ``effective_n``; ``n_resamples`` and ``seed`` for a
        resampled interval and ``note`` when a segment has one. ``include_overall=True`` appends
        the overall row (null keys, ``overall`` true); ``distribution=True`` adds the counts per
        scale point as a list column.
        """
        table = self.segments
        if include_overall:
            table = pa.concat_tables([table, self._overall_row()])
        return _export(table, self, include_overall=include_overall, distribution=distribution)

    def _overall_row(self) -> pa.Table:
        """The overall result as one row of ``segments`` (null keys)."""
        o = self.overall
        values: dict[str, object] = {
            name: getattr(o, name) for name in (*_FLOATS, *_COUNTS, *_SIZES)}
        if o.definition is not None:
            values.update({f"bucket_{b}": o.counts[name]
                           for b, name in enumerate(o.definition.bucket_names)})
        columns = []
        for f in self.segments.schema:
            if f.name in self.key_columns:
                columns.append(pa.nulls(1, f.type))
            elif f.name == "distribution":
                offsets = from_numpy(np.array([0, len(o.distribution)], dtype=np.int32))
                flat = from_numpy(np.asarray(o.distribution, dtype=np.uint64).reshape(-1))
                columns.append(pa.ListArray.from_arrays(offsets, flat, type=f.type))
            elif f.name == "note":
                columns.append(repeat(o.note, 1, pa.string()))
            elif f.name == "status":
                columns.append(repeat(o.status, 1, pa.string()))
            else:
                columns.append(repeat(values[f.name], 1, f.type))
        return pa.Table.from_arrays(columns, schema=self.segments.schema)

    def to_dicts(self, *, include_overall: bool = False,
                 distribution: bool = False) -> list[dict[str, Any]]:
        """:meth:`to_arrow` as a list of dicts, one per row."""
        rows: list[dict[str, Any]] = self.to_arrow(
            include_overall=include_overall, distribution=distribution).to_pylist()
        return rows

    def to_json(self, *, include_overall: bool = False, distribution: bool = False) -> str:
        """:meth:`to_dicts` as a JSON array; NaN becomes null, dates ISO strings."""
        rows = self.to_dicts(include_overall=include_overall, distribution=distribution)
        return json.dumps([{k: _json_value(v) for k, v in row.items()} for row in rows],
                          allow_nan=False)

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        """The Arrow PyCapsule stream of :meth:`to_arrow` (its defaults)."""
        return self.to_arrow().__arrow_c_stream__(requested_schema)

    def to_pandas(self, **options: bool) -> pandas.DataFrame:
        """As :meth:`to_arrow`, converted to pandas (needs the ``pandas`` extra)."""
        frame: pandas.DataFrame = to_pandas(self.to_arrow(**options))
        return frame

    def to_polars(self, **options: bool) -> polars.DataFrame:
        """As :meth:`to_arrow`, converted to polars (needs the ``polars`` extra)."""
        frame: polars.DataFrame = to_polars(self.to_arrow(**options))
        return frame

    def __repr__(self) -> str:
        lines = [f"SegmentedResult(by={list(self.by)}, segments={len(self)})"]
        lines += [f"  {row}" for row in self._results(self.segments.slice(0, 20))]
        if len(self) > 20:
            lines.append(f"  ... {len(self) - 20} more")
        lines.append(f"  overall: {self.overall}")
        return "\n".join(lines)


def _python_values(rows: pa.Table) -> dict[str, list[Any]]:
    """The rows as Python values; keys Python cannot hold (e.g. dates beyond year 9999) are a
    typed error, not an OverflowError."""
    try:
        data: dict[str, list[Any]] = rows.to_pydict()
    except (OverflowError, ValueError) as exc:
        from .errors import UnsupportedTypeError

        raise UnsupportedTypeError(
            f"segment keys cannot be shown as Python values ({exc}); cast the key column, "
            "e.g. to strings, before computing (to_arrow() works as it is)"
        ) from None
    return data


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def _export(table: pa.Table, res: SegmentedResult, *, include_overall: bool,
            distribution: bool) -> pa.Table:
    o = res.overall
    n = table.num_rows
    buckets = () if o.definition is None else o.definition.bucket_names
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        name: table.column(name) for name in res.key_columns}
    if include_overall:
        flags = np.zeros(n, dtype=bool)
        flags[-1] = True
        columns["overall"] = from_numpy(flags)
    columns["metric"] = repeat(o.metric, n, pa.string())
    for name in ("value", "ci_low", "ci_high", "se"):
        columns[name] = table.column(name)
    columns["confidence"] = repeat(o.confidence, n, pa.float64())
    columns["method"] = repeat(o.method, n, pa.string())
    # The core counts in uint64; Arrow users (pandas, CSV readers, SQL) expect int64.
    for name in _COUNTS:
        columns[name] = table.column(name).cast(pa.int64())
    for b, name in enumerate(buckets):
        columns[name] = table.column(f"bucket_{b}").cast(pa.int64())
    for name in _SIZES:
        columns[name] = table.column(name)
    if o.n_resamples is not None:
        columns["n_resamples"] = repeat(o.n_resamples, n, pa.int64())
        columns["seed"] = repeat(o.seed, n, pa.uint64())
    if distribution:
        columns["distribution"] = table.column("distribution").cast(pa.list_(pa.int64()))
    if table.column("note").null_count < n:
        columns["note"] = table.column("note")
    if "status" in table.column_names:
        columns["status"] = table.column("status")
    return pa.Table.from_arrays(list(columns.values()), names=list(columns))


def _tables_equal(a: pa.Table, b: pa.Table) -> bool:
    """Same schema and values, NaN equal to NaN (Arrow's ``equals`` treats NaN as unequal)."""
    if not a.schema.equals(b.schema) or a.num_rows != b.num_rows:
        return False
    for x, y in zip(a.columns, b.columns, strict=True):
        if x.equals(y):
            continue
        if not pa.types.is_floating(x.type):
            return False
        if not x.is_null().equals(y.is_null()):
            return False
        same = pc.or_kleene(pc.equal(x, y), pc.and_(pc.is_nan(x), pc.is_nan(y)))
        if not pc.all(pc.fill_null(same, True)).as_py():
            return False
    return True


def internal_key_names(key_names: Sequence[str]) -> list[str]:
    """Names the core gives key columns: never equal to a statistic's column, whatever the
    user's columns are called (a key named "n" or "value" must not shadow the count)."""
    return [f"__cx_key_{i}" for i in range(len(key_names))]


def result_rows(metric: MetricDef, segments: pa.RecordBatch | ArrowBatch | None,
                overall: pa.RecordBatch | Mapping[str, Any], key_names: tuple[str, ...], *,
                segmented: bool, method: str | None, confidence: float,
                n_resamples: int | None, seed: int | None,
                weighted: bool, origin: int | None = None) -> MetricResult | SegmentedResult:
    """Typed results from the core's per-segment batch (a pyarrow batch, or the core's own,
    imported on first use; its key columns then have their public names) and its overall row
    (a one-row batch, or that row already as a dict). ``origin`` marks results of one call (a
    fresh token when None)."""
    row = overall if isinstance(overall, Mapping) else overall.to_pylist()[0]
    total = _overall(metric, row, method=method, confidence=float(confidence),
                     n_resamples=n_resamples, seed=seed, weighted=weighted,
                     origin=new_origin() if origin is None else origin)
    if not segmented:
        return total
    assert segments is not None
    if not isinstance(segments, pa.RecordBatch):
        # The core's own batch, asked for with the public key names (no rename to do).
        return SegmentedResult._deferred(tuple(key_names), total, segments,
                                         tuple(public_key_names(metric, key_names)))
    table, key_columns = _segment_table(metric, segments, key_names)
    return SegmentedResult(tuple(key_names), total, table, key_columns)


def _overall(metric: MetricDef, row: Mapping[str, Any], *, method: str | None,
             confidence: float, n_resamples: int | None, seed: int | None,
             weighted: bool, origin: int | None = None) -> MetricResult:
    """The overall row (or any key-less row of the core's) as a MetricResult."""
    return MetricResult(
        metric=metric.name,
        value=row["value"],
        ci_low=row["ci_low"],
        ci_high=row["ci_high"],
        confidence=confidence,
        method=method,
        se=row["se"],
        n=row["n"],
        n_missing=row["n_missing"],
        n_invalid=row["n_invalid"],
        weighted_n=row["weighted_n"],
        effective_n=row["effective_n"],
        counts={name: row[f"bucket_{b}"] for b, name in enumerate(metric.bucket_names)},
        distribution=tuple(row["distribution"]),
        scale=metric.scale,
        n_resamples=n_resamples,
        seed=seed,
        note=row["note"],
        weighted=weighted,
        definition=metric,
        origin=origin,
    )


def rows_of(metric: MetricDef, batch: pa.RecordBatch, *, method: str | None,
            confidence: float, n_resamples: int | None, seed: int | None, weighted: bool,
            origin: int | None) -> list[MetricResult]:
    """Each row of a core batch as a MetricResult without a segment label (unions of segments,
    periods), all of one ``origin``."""
    return [_overall(metric, row, method=method, confidence=float(confidence),
                     n_resamples=n_resamples, seed=seed, weighted=weighted, origin=origin)
            for row in batch.to_pylist()]


def new_origin() -> int:
    """A token for the results of one call: random, so results made in different processes
    (and pickled back) never share one by accident."""
    return _TOKENS.getrandbits(63)


# Tokens need uniqueness, not secrecy: a generator seeded from the OS (a tenth of the cost of a
# getrandom call per result), seeded afresh in a forked child so that parent and child differ.
_TOKENS = random.Random(secrets.randbits(128))
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _TOKENS.seed(secrets.randbits(128)))


def _rebuild_segmented(by: tuple[str, ...], overall: MetricResult, segments: pa.Table,
                       key_columns: tuple[str, ...], tallies: bytes | None) -> SegmentedResult:
    result = SegmentedResult(by, overall, segments, key_columns)
    if tallies is not None:
        from . import _native

        result.with_tallies(_native.AccumulatorState.from_bytes(tallies))
    return result


def public_key_names(metric: MetricDef, key_names: Sequence[str]) -> list[str]:
    """The key columns' names in results: the user's, with a "_segment" suffix for a key named
    like another column of the result (a key named "n" or "value" must not shadow the count)."""
    taken = _taken_names(metric.bucket_names)
    return [f"{name}_segment" if name in taken else name for name in key_names]


@functools.lru_cache(maxsize=64)
def _taken_names(bucket_names: tuple[str, ...]) -> frozenset[str]:
    """Column names of a result besides its keys (the same few sets on every call)."""
    return _EXPORT_NAMES | set(bucket_names) | {f"bucket_{b}" for b in range(len(bucket_names))}


def _segment_table(metric: MetricDef, batch: pa.RecordBatch,
                   key_names: Sequence[str]) -> tuple[pa.Table, tuple[str, ...]]:
    """The core's batch as a table whose key columns have their public names (zero-copy)."""
    public = public_key_names(metric, key_names)
    names = batch.schema.names
    if names[:len(public)] != public:  # asked for with internal_key_names: rename the keys
        batch = batch.rename_columns([*public, *names[len(public):]])
    return pa.Table.from_batches([batch]), tuple(public)
