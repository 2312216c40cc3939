"""``cx.Accumulator``: stream batches in, merge partial results exactly, store them as bytes.

An accumulator holds a metric definition (name, options, column names) and the Rust-side
tallies (``_native.AccumulatorState``: counts and weight sums per segment and scale value),
which are the sufficient statistic of every metric. Updates, merges and estimates all happen in
Rust; this module names things and checks the arguments of the constructor.

The bytes of :meth:`Accumulator.to_bytes` are the core's state format (version 3), which carries
the definition as a section of its own: Rust writes and reads them, validates the definition and
checks that two definitions may merge (``rust/core/src/state``; the layout is in
``docs/accumulators.md``). Bytes of the envelope used before (``\x89CXA``, with a JSON definition)
are still read: Rust checks their frame, this module parses their JSON.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any, Literal

import pyarrow as pa

from . import _engine, _native
from . import _registry as reg
from ._engine import BootstrapMethod, CiMethod, MetricDef, OnInvalid, check_seed
from ._inputs import Columns, resolve_columns
from ._registry import METRICS, MetricName
from ._results import MetricResult, SegmentedResult
from .errors import ArgumentError, ColumnError, CorruptStateError, IncompatibleAccumulatorError
from .scale import Scale

__all__ = ["METRICS", "Accumulator", "IncompatibleAccumulatorError", "MetricName"]

# The first bytes of an accumulator written before core format 3 (the JSON envelope).
_LEGACY_PREFIX = b"\x89CXA"

# Options the definition dict stores as [low, high] lists (JSON-ready, as the core reads them).
_PAIRS = ("scale", "promoters", "detractors", "satisfied")


def _pair(value: object, name: str) -> tuple[int, int]:
    if isinstance(value, Scale):
        return value.low, value.high
    if (not isinstance(value, tuple | list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise ArgumentError(f"{name} must be a pair of ints (low, high), got {value!r}")
    return int(value[0]), int(value[1])


def _normalise(metric: str, given: dict[str, object]) -> dict[str, object]:
    """The metric's full option set (the registry's defaults filled in) in the definition's
    JSON-ready form: scales and ranges as ``[low, high]`` lists."""
    options = reg.with_defaults(metric, given)
    return {name: list(_pair(value, name)) if name in _PAIRS else value
            for name, value in options.items()}


def _metric_def(metric: str, options: dict[str, Any]) -> MetricDef:
    """The engine's definition of a definition dict's options, built by the registry exactly as
    the one-shot function builds it."""
    typed: dict[str, object] = dict(options)
    for name in _PAIRS:
        if name in typed:
            low, high = _pair(typed[name], name)
            typed[name] = Scale(low, high) if name == "scale" else (low, high)
    return reg.build(metric, typed)


def _names(by: object) -> list[str] | None:
    if by is None:
        return None
    items = list(by) if isinstance(by, list | tuple) else [by]
    for item in items:
        if not isinstance(item, str):
            raise ColumnError(f"by must name columns (str), got {type(item).__name__}")
    return [str(item) for item in items]


class Accumulator:
    """A mergeable, serialisable running state of one metric over a stream of batches.

    ``Accumulator(metric, score=..., by=..., weight=...)`` with column names takes tables
    (pyarrow ``Table``/``RecordBatch``/``RecordBatchReader``, polars or pandas DataFrames, any
    Arrow stream) in :meth:`update`. Without ``score=``, :meth:`update` takes a column of scores
    with ``by=`` and ``weight=`` columns, and the first update fixes how many ``by`` columns and
    whether there are weights.

    ``metric`` is ``"nps"``, ``"csat"``, ``"ces"``, ``"top_box"``, ``"bottom_box"`` or ``"mean"``,
    with that metric's options (e.g. ``promoters=``, ``statistic=``, ``top=``, ``scale=``).
    :meth:`result` returns exactly what the one-shot function returns for all rows seen;
    :meth:`merge` combines two accumulators (an empty one is the identity on both sides);
    :meth:`to_bytes` / :meth:`from_bytes` give a durable, checksummed, canonical form: equal
    states give equal bytes whatever order their batches were added and merged in.
    """

    __slots__ = ("_agg", "_definition", "_first_update", "_metric")

    def __init__(
        self,
        metric: MetricName,
        *,
        score: str | None = None,
        by: str | Sequence[str] | None = None,
        weight: str | None = None,
        on_invalid: OnInvalid = "raise",
        scale: Scale | None = None,
        promoters: tuple[int, int] | None = None,
        detractors: tuple[int, int] | None = None,
        satisfied: tuple[int, int] | None = None,
        statistic: Literal["share", "mean"] | None = None,
        variant: Literal["2.0", "effort"] | None = None,
        top: int | None = None,
        bottom: int | None = None,
        replicates: int | None = None,
        seed: int | None = None,
        stream: int = 0,
    ) -> None:
        given: dict[str, object] = {name: value for name, value in (
            ("scale", scale), ("promoters", promoters), ("detractors", detractors),
            ("satisfied", satisfied), ("statistic", statistic), ("variant", variant),
            ("top", top), ("bottom", bottom)) if value is not None}
        _native.check_options(None, 0.5, on_invalid)  # on_invalid alone (0.5: any valid level)
        if score is None and (by is not None or weight is not None):
            raise ColumnError(
                "by= and weight= name columns of a table, which needs score= as well; "
                "to pass columns instead, give them to update(scores, by=..., weight=...)"
            )
        if score is not None and not isinstance(score, str):
            raise ColumnError(f"score must name a column (str), got {type(score).__name__}")
        if weight is not None and not isinstance(weight, str):
            raise ColumnError(f"weight must name a column (str), got {type(weight).__name__}")
        definition: dict[str, object] = {
            "metric": metric,
            "options": _normalise(metric, given),
            "on_invalid": on_invalid,
            "table": score is not None,
            "score": score,
            "by": _names(by),
            "weight": weight,
        }
        if replicates is not None:
            definition["bootstrap"] = _replicate_options(replicates, seed, stream)
        elif seed is not None or stream != 0:
            raise ArgumentError("seed= and stream= choose the random stream of bootstrap "
                                "replicates; they need replicates=")
        _native.check_definition(definition)
        self._init(definition, None, stream)

    def _init(self, definition: dict[str, object], agg: _native.AccumulatorState | None,
              stream: int = 0) -> None:
        options = definition["options"]
        assert isinstance(options, dict)
        self._metric = _metric_def(str(definition["metric"]), options)
        self._definition = definition
        # Makes "no aggregation yet -> create -> assign" atomic across threads (the GIL is
        # released while a batch is tallied).
        self._first_update = threading.Lock()
        if agg is None and definition["table"]:
            by = definition["by"]
            n_keys = len(by) if isinstance(by, list) else 0
            replicates, seed = _replicates_of(definition)
            agg = _native.AccumulatorState(self._metric.scale.low, self._metric.scale.high, n_keys,
                                      definition["weight"] is not None, replicates, seed, stream)
        self._agg = agg

    @classmethod
    def _build(cls, definition: dict[str, object], agg: _native.AccumulatorState | None,
               stream: int = 0) -> Accumulator:
        """An accumulator of ``definition`` holding ``agg`` (None: a fresh one, whose replicates,
        if any, draw from ``stream``)."""
        out = cls.__new__(cls)
        out._init(dict(definition), agg, stream)
        return out

    # -- what it holds -------------------------------------------------------------------------

    @property
    def metric(self) -> str:
        """The metric's name, e.g. ``"nps"``."""
        return str(self._definition["metric"])

    @property
    def options(self) -> dict[str, object]:
        """The metric's options with defaults filled in (scales and ranges as lists)."""
        options = self._definition["options"]
        assert isinstance(options, dict)
        return json.loads(json.dumps(options))  # type: ignore[no-any-return]

    @property
    def by(self) -> tuple[str, ...] | None:
        """The segment key column names (``None``: unsegmented, or no data yet)."""
        by = self._definition["by"]
        return tuple(by) if isinstance(by, list) else None

    @property
    def columns(self) -> tuple[str, ...]:
        """The table columns an update reads: score, then ``by``, then weight."""
        d = self._definition
        if not d["table"]:
            raise ColumnError("this accumulator takes columns, not a table: it names none")
        by = d["by"]
        names = [d["score"], *(by if isinstance(by, list) else ()), d["weight"]]
        return tuple(dict.fromkeys(str(n) for n in names if n is not None))

    @property
    def scale(self) -> Scale:
        return self._metric.scale

    @property
    def replicates(self) -> int | None:
        """Poisson-bootstrap replicates kept for weighted bootstrap intervals (None: none)."""
        return _replicates_of(self._definition)[0]

    @property
    def seed(self) -> int | None:
        """The seed of the replicates' random streams (None: random streams, or no replicates)."""
        return _replicates_of(self._definition)[1]

    @property
    def stream(self) -> int | None:
        """The replicates' stream number within their seed (None without replicates)."""
        return None if self._agg is None else self._agg.stream

    def with_stream(self, stream: int) -> Accumulator:
        """A copy whose replicates draw from stream ``stream`` of the same seed: give each
        partition or shard its own before it sees data, so that the merged replicates are
        independent. Only before the first update."""
        _check_stream(stream)
        if self._agg is None:
            return self.copy()
        return Accumulator._build(self._definition, self._agg.with_stream(stream))

    def __repr__(self) -> str:
        d = self._definition
        extra = "" if "bootstrap" not in d else (
            f", replicates={self.replicates}, seed={self.seed}, stream={self.stream}")
        return (f"Accumulator({d['metric']!r}, score={d['score']!r}, by={d['by']!r}, "
                f"weight={d['weight']!r}, options={d['options']!r}{extra})")

    # -- adding data -----------------------------------------------------------------------------

    def update(self, data: object, *, by: object = None, weight: object = None) -> None:
        """Adds the rows of ``data``: a table when the accumulator names columns, else a column
        of scores with ``by``/``weight`` columns of the same length.

        All-or-nothing: a batch with an invalid score (``on_invalid="raise"``) or weight raises
        and leaves the accumulator as it was.
        """
        d = self._definition
        if d["table"]:
            if by is not None or weight is not None:
                raise ColumnError("this accumulator names its columns: update(table) takes "
                                  "no by= or weight=")
            columns = resolve_columns(data, d["score"], d["by"], d["weight"])
            assert self._agg is not None
            _feed(self._agg, columns, str(d["on_invalid"]))
            return
        columns = resolve_columns(data, None, by, weight)
        segmented = by is not None
        if self._agg is None:
            with self._first_update:
                if self._agg is None:
                    # Column mode, first update: it fixes the key columns and weighting, but
                    # only if it succeeds (a failed update leaves the accumulator as it was).
                    scale = self._metric.scale
                    agg = _native.AccumulatorState(scale.low, scale.high, len(columns.keys),
                                              columns.weight is not None)
                    _feed(agg, columns, str(d["on_invalid"]))
                    d.update(score=columns.score_name, weight=columns.weight_name,
                             by=list(columns.key_names) if segmented else None)
                    self._agg = agg
                    return
        self._check_shape(columns, segmented)
        _feed(self._agg, columns, str(d["on_invalid"]))

    def _check_shape(self, columns: Columns, segmented: bool) -> None:
        d, agg = self._definition, self._agg
        assert agg is not None
        if (len(columns.keys) != agg.n_keys or (d["by"] is not None) != segmented
                or (columns.weight is not None) != agg.weighted):
            raise ColumnError(
                f"this accumulator was started with by={d['by']!r} and "
                f"{'a' if agg.weighted else 'no'} weight column; every update must have "
                f"the same shape (got {len(columns.keys)} by column(s), "
                f"{'a' if columns.weight is not None else 'no'} weight column)"
            )

    # -- combining -----------------------------------------------------------------------------

    def merge(self, other: Accumulator) -> Accumulator:
        """A new accumulator with the rows of both; neither input changes."""
        if not isinstance(other, Accumulator):
            raise TypeError(f"can only merge an Accumulator, got {type(other).__name__}")
        both = self._agg is not None and other._agg is not None
        _native.check_mergeable(self._definition, other._definition, both)
        if self._agg is None or other._agg is None:
            source = other if self._agg is None else self
            return source.copy()
        try:
            merged = self._agg.merged(other._agg)
        except ArgumentError as exc:  # e.g. replicates drawn from one random stream
            raise IncompatibleAccumulatorError(str(exc)) from None
        return Accumulator._build(self._definition, merged)

    def empty(self) -> Accumulator:
        """A new accumulator with this one's definition (and replicate stream) and no data."""
        definition = dict(self._definition)
        if not definition["table"]:
            definition.update(score=None, by=None, weight=None)
        return Accumulator._build(definition, None, self.stream or 0)

    def with_replicates(self, replicates: int, seed: int | None = None,
                        stream: int = 0) -> Accumulator:
        """A new, empty accumulator like this one that keeps ``replicates`` Poisson-bootstrap
        replicates drawn from stream ``stream`` of ``seed`` (weighted accumulators only)."""
        definition = dict(self._definition)
        definition["bootstrap"] = _replicate_options(replicates, seed, stream)
        _native.check_definition(definition)
        return Accumulator._build(definition, None, stream)

    def copy(self) -> Accumulator:
        """An independent copy (the tallies are copied in Rust; cheap)."""
        return Accumulator._build(self._definition,
                                  None if self._agg is None else self._agg.copy())

    def __copy__(self) -> Accumulator:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, object]) -> Accumulator:
        return self.copy()

    # -- results -------------------------------------------------------------------------------

    def result(
        self,
        *,
        ci: CiMethod | Literal["auto"] | None = "auto",
        confidence: float = 0.95,
        n_resamples: int | None = None,
        bootstrap: BootstrapMethod | None = None,
        seed: int | None = None,
        metric: MetricName | None = None,
        **options: object,
    ) -> MetricResult | SegmentedResult:
        """The estimate over every row added so far: a :class:`MetricResult` without ``by``, a
        :class:`SegmentedResult` with it — the same result the one-shot function gives.

        ``ci="auto"`` is the metric's default interval (as in the one-shot function).
        ``ci="bootstrap"`` resamples the histograms exactly (``n_resamples``, default 10,000;
        ``bootstrap`` "bca" by default); with ``replicates=`` it reads the Poisson-bootstrap
        replicates instead (``bootstrap`` "percentile" by default, or "basic"; ``n_resamples``
        and ``seed`` were fixed when the accumulator was created).

        ``metric=`` (with that metric's options, e.g. ``metric="top_box", top=3``) computes
        another metric over the same answers: the histograms serve every metric on their scale.
        """
        definition = self._metric_for(metric, options)
        replicates = self.replicates
        if replicates is not None and ci == "bootstrap":
            return self._replicate_result(definition, confidence, n_resamples, bootstrap, seed)
        n_resamples = reg.N_RESAMPLES if n_resamples is None else n_resamples
        bootstrap = reg.BOOTSTRAP if bootstrap is None else bootstrap
        method = self._check(definition, ci, confidence, n_resamples, bootstrap)
        by = self._definition["by"]
        agg = self._agg
        if agg is None:
            scale = definition.scale
            agg = _native.AccumulatorState(scale.low, scale.high, 0, False)
        key_names = tuple(by) if isinstance(by, list) else ()
        return _engine.results_from(definition, agg, key_names, segmented=by is not None,
                                    ci=method, confidence=confidence, bootstrap=bootstrap,
                                    n_resamples=n_resamples, seed=seed)

    def _metric_for(self, metric: str | None, options: dict[str, object]) -> MetricDef:
        """This accumulator's metric, or another one over the same scale."""
        if metric is None:
            if options:
                raise ArgumentError(f"options {sorted(options)} choose another metric: pass "
                                    f"metric= too")
            return self._metric
        # The same defaults as the one-shot functions: the result is cx.<metric>(rows, ...).
        other = _metric_def(metric, _normalise(metric, options))
        if other.scale != self._metric.scale:
            hint = (f" (pass scale=cx.Scale({self.scale.low}, {self.scale.high}))"
                    if "scale" in reg.OPTIONS[metric] else "")
            raise ArgumentError(
                f"{metric} is on the scale {other.scale.low}..{other.scale.high} but this "
                f"accumulator's answers are on {self.scale.low}..{self.scale.high}{hint}")
        return other

    def _replicate_result(self, definition: MetricDef, confidence: float,
                          n_resamples: int | None, bootstrap: str | None,
                          seed: int | None) -> MetricResult | SegmentedResult:
        """The Poisson-bootstrap interval from the replicates kept while streaming."""
        replicates, recorded_seed = _replicates_of(self._definition)
        assert replicates is not None and self._agg is not None
        bootstrap = "percentile" if bootstrap is None else bootstrap
        if bootstrap == "bca":
            raise ArgumentError("BCa needs a jackknife over respondents, which bootstrap "
                                "replicates do not keep; use bootstrap='percentile' or 'basic'")
        if n_resamples is not None and n_resamples != replicates:
            raise ArgumentError(f"this accumulator keeps {replicates} bootstrap replicates, "
                                f"fixed at creation; n_resamples={n_resamples} cannot change that")
        if seed is not None:
            raise ArgumentError("the replicates were drawn as the data arrived, from the seed "
                                "given at creation; result() takes no seed")
        _engine.check_options("bootstrap", confidence, "raise", bootstrap, replicates)
        by = self._definition["by"]
        key_names = tuple(by) if isinstance(by, list) else ()
        segments, overall = self._agg.estimate(
            definition.native, _engine.internal_key_names(key_names), "bootstrap",
            float(confidence), bootstrap, replicates, 0)
        return _engine.result_rows(
            definition, segments, overall, key_names, segmented=by is not None,
            method=f"bootstrap-{bootstrap}", confidence=float(confidence),
            n_resamples=replicates, seed=recorded_seed, weighted=True)

    def check_result_options(self, ci: str | None, confidence: float, n_resamples: int,
                             bootstrap: str) -> str | None:
        """Validates the options of :meth:`result` (before a long job); returns the interval."""
        return self._check(self._metric, ci, confidence, n_resamples, bootstrap)

    def _check(self, definition: MetricDef, ci: str | None, confidence: float,
               n_resamples: int, bootstrap: str) -> str | None:
        method = reg.resolve_ci(ci, definition)
        _engine.check_options(method, confidence, str(self._definition["on_invalid"]),
                              bootstrap, n_resamples)
        return method

    # -- bytes ---------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The durable form: definition and tallies, versioned and checksummed. Canonical: equal
        accumulators give equal bytes, whatever order their data arrived and merged in."""
        data: bytes = _native.accumulator_to_bytes(self._definition, self._agg)
        return data

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> Accumulator:
        """Reads :meth:`to_bytes` output (and that of earlier versions); raises
        :class:`CorruptStateError` for truncated, damaged, foreign or newer-format bytes."""
        if isinstance(data, memoryview | bytearray):
            data = bytes(data)
        if not isinstance(data, bytes):
            raise TypeError(f"from_bytes takes bytes, got {type(data).__name__}")
        if data[:4] == _LEGACY_PREFIX:
            definition, agg = _native.accumulator_from_legacy(*_legacy_parts(data))
        else:
            decoded, agg = _native.accumulator_from_bytes(data)
            if decoded is None:
                raise CorruptStateError(
                    "not an accumulator: a bare core state without a definition (AccumulatorState "
                    "bytes; Accumulator bytes carry their metric and columns)")
            definition = decoded
        try:
            return cls._build(definition, agg)
        except Exception as exc:  # any failure to rebuild the metric means bad bytes
            raise CorruptStateError(f"accumulator definition is invalid: {exc}") from None

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (_from_bytes, (self.to_bytes(),))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Accumulator):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    __hash__ = None  # type: ignore[assignment]  # mutable


def _from_bytes(data: bytes) -> Accumulator:
    """Unpickling hook (module-level so pickles name a stable function)."""
    return Accumulator.from_bytes(data)


def _feed(agg: _native.AccumulatorState, columns: Columns, on_invalid: str) -> None:
    keys = [_with_a_chunk(k) for k in columns.keys]
    agg.update(_with_a_chunk(columns.score), keys,
               None if columns.weight is None else _with_a_chunk(columns.weight),
               on_invalid, columns.score_name, list(columns.key_names),
               columns.weight_name)


def _with_a_chunk(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column of zero chunks as one empty chunk: the core reads a key column's type from its
    first chunk, and an empty batch must still fix the same key types as a full one."""
    if column.num_chunks:
        return column
    return pa.chunked_array([pa.array([], column.type)], column.type)


def _canonical_json(definition: dict[str, object]) -> bytes:
    return json.dumps(definition, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False).encode("utf-8")


def _legacy_parts(data: bytes) -> tuple[object, bytes]:
    """The parsed JSON definition and the core state bytes of a ``\\x89CXA`` accumulator (its
    frame and checksum checked in Rust; its definition then checked there like any other)."""
    header, state = _native.split_legacy_accumulator(data)
    try:
        definition = json.loads(header.decode("utf-8"))
        canonical = _canonical_json(definition)
    except (ValueError, TypeError, RecursionError) as exc:
        raise CorruptStateError(f"accumulator definition is not valid JSON: {exc}") from None
    if canonical != header:
        raise CorruptStateError("accumulator definition is not in canonical form")
    return definition, state


def _replicate_options(replicates: object, seed: object, stream: object) -> dict[str, object]:
    """The definition's ``bootstrap`` field, its count and seed checked by the binding (that
    replicates need a weight column is the definition's rule, checked with it)."""
    count = _native.check_replicates(replicates)
    if seed is not None:
        check_seed(seed)  # type: ignore[arg-type]
    _check_stream(stream)
    return {"replicates": count, "seed": seed}


def _check_stream(stream: object) -> None:
    if isinstance(stream, bool) or not isinstance(stream, int) or not 0 <= stream < 2**64:
        raise ArgumentError(f"stream must be an int in [0, 2**64), got {stream!r}")


def _replicates_of(definition: dict[str, object]) -> tuple[int | None, int | None]:
    b = definition.get("bootstrap")
    if not isinstance(b, dict):
        return None, None
    return int(b["replicates"]), None if b["seed"] is None else int(b["seed"])
