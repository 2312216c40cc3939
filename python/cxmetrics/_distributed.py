"""The metric functions over a distributed DataFrame, shared by the Spark and Dask adapters.

Each adapter supplies one *fold*: given a DataFrame and an empty table-mode
:class:`~cxmetrics.Accumulator`, it folds every partition into a serialized accumulator on the
workers and merges them (exactly) into one. Everything else — options, defaults, results — is
the same code as :class:`~cxmetrics.Accumulator` and the one-shot functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar, overload

from ._accumulator import Accumulator
from ._drivers import DEFAULT_BOOTSTRAP as DEFAULT_DRIVERS_BOOTSTRAP
from ._drivers import MAGIC as _DRIVERS_MAGIC
from ._drivers import Bootstrap as DriversBootstrap
from ._drivers import DriversAccumulator, DriversResult, Method
from ._engine import BootstrapMethod, CiMethod, OnInvalid
from ._registry import (
    BOOTSTRAP,
    BOX_POINTS,
    CES_VARIANT,
    CSAT_SATISFIED,
    CSAT_STATISTIC,
    DEFAULT_MIN_N,
    MEAN_DEFAULT_CI,
    N_RESAMPLES,
    NET_DEFAULT_CI,
    NPS_DETRACTORS,
    NPS_PROMOTERS,
    SHARE_DEFAULT_CI,
    TEN_POINT_SCALE,
)
from ._results import MetricResult, SegmentedResult
from .errors import ArgumentError
from .scale import CSAT_SCALE, NPS_SCALE, Scale

__all__ = ["MetricFunctions", "drivers_on", "load_state", "merge_states", "partition_stream",
           "tree_merge"]

# (DataFrame, empty accumulator naming its columns) -> accumulator holding every row.
Fold = Callable[[Any, Accumulator], Accumulator]
# Any accumulator a fold can carry: metric tallies or driver statistics.
AnyAccumulator = Accumulator | DriversAccumulator
Key = str | Sequence[str]

T = TypeVar("T")


def tree_merge(items: list[T], merge: Callable[[list[T]], T], fan_in: int = 8) -> T:
    """Merges ``items`` level by level, ``fan_in`` at a time (a balanced tree)."""
    if not items:
        raise ValueError("nothing to merge")
    while len(items) > 1:
        items = [merge(items[i:i + fan_in]) for i in range(0, len(items), fan_in)]
    return items[0]


# Partition p of a job folds into a copy of the blank accumulator drawing from stream
# (blank's stream << PARTITION_BITS) + p: distinct per partition, and per job when jobs that
# are merged later are given distinct streams.
PARTITION_BITS = 24


def load_state(data: bytes) -> Any:
    """The accumulator serialized in ``data``, of whichever kind its magic says."""
    if bytes(data[:len(_DRIVERS_MAGIC)]) == _DRIVERS_MAGIC:
        return DriversAccumulator.from_bytes(data)
    return Accumulator.from_bytes(data)


def drivers_on(fold: Callable[[Any, Any], Any], df: object, outcome: str, drivers: Sequence[str], *,
               method: Method = "relative-weights", bucket: str | tuple[int, int] | None = None,
               weight: str | None = None, by: Key | None = None,
               ci: Literal["bootstrap"] | None = "bootstrap", n_resamples: int = 1000,
               confidence: float = 0.95, seed: int | None = None, min_n: int = DEFAULT_MIN_N,
               exact_up_to: int = 20, permutations: int = 2000,
               bootstrap: DriversBootstrap = DEFAULT_DRIVERS_BOOTSTRAP) -> DriversResult:
    """``cx.drivers`` over a distributed DataFrame: each partition folds into a
    :class:`~cxmetrics.DriversAccumulator` (its own replicate stream), merged exactly."""
    blank = DriversAccumulator(outcome, drivers, bucket=bucket, weight=weight, by=by, ci=ci,
                               n_resamples=n_resamples, seed=seed)
    acc = fold(df, blank)
    return acc.result(method, confidence=confidence, min_n=min_n,  # type: ignore[no-any-return]
                      exact_up_to=exact_up_to, permutations=permutations, bootstrap=bootstrap)


def partition_stream(blank: Any, partition: int) -> Any:
    """``blank`` drawing its bootstrap replicates (if any) from partition ``partition``'s own
    random stream, so that the replicates of different partitions are independent."""
    base = blank.stream
    if base is None:
        return blank
    if not 0 <= partition < 1 << PARTITION_BITS:
        raise ValueError(f"at most {1 << PARTITION_BITS} partitions, got index {partition}")
    return blank.with_stream(((base << PARTITION_BITS) + partition) % (1 << 64))


def merge_states(states: Sequence[bytes], blank: bytes) -> bytes:
    """The merge of serialized accumulators, serialized (``blank``: the empty accumulator)."""
    acc = load_state(blank)
    for state in states:
        acc = acc.merge(load_state(state))
    return acc.to_bytes()  # type: ignore[no-any-return]


def _weight_of(acc: Accumulator) -> str | None:
    weight = acc._definition["weight"]
    return weight if isinstance(weight, str) else None


class MetricFunctions:
    """``nps``, ``csat``, ``ces``, ``top_box``, ``bottom_box``, ``mean_score`` and
    ``accumulate`` over one engine's DataFrames (bound by ``cxmetrics.spark``/``.dask``)."""

    def __init__(self, fold: Fold, engine: str) -> None:
        self._fold = fold
        self._engine = engine

    def accumulate(self, df: object, accumulator: Accumulator) -> Accumulator:
        """Adds every row of ``df`` to a copy of ``accumulator`` (which must name its columns,
        e.g. ``Accumulator("nps", score="score", by="region")``) on the cluster, and returns it.
        """
        if not isinstance(accumulator, Accumulator):
            raise TypeError(f"accumulator must be a cxmetrics.Accumulator, got "
                            f"{type(accumulator).__name__}")
        accumulator.columns  # noqa: B018  (raises for a column-mode accumulator)
        return accumulator.merge(self._fold(df, accumulator.empty()))

    def _run(self, df: object, acc: Accumulator, ci: CiMethod | Literal["auto"] | None,
             confidence: float, n_resamples: int, bootstrap: BootstrapMethod, seed: int | None
             ) -> MetricResult | SegmentedResult:
        # Bad options fail here, before a cluster job starts.
        acc.check_result_options(ci, confidence, n_resamples, bootstrap)
        if ci == "bootstrap" and _weight_of(acc) is not None:
            # Weighted rows cannot be resampled from histograms: each partition keeps
            # n_resamples Poisson-bootstrap replicates, drawn as its rows stream through.
            if bootstrap == "bca":
                raise ArgumentError(
                    "a weighted bootstrap on a cluster uses Poisson-bootstrap replicates, "
                    "which have no BCa (it needs a jackknife over respondents); use "
                    "bootstrap='percentile' or 'basic'")
            folded = self._fold(df, acc.with_replicates(n_resamples, seed))
            return folded.result(ci=ci, confidence=confidence, bootstrap=bootstrap)
        return self._fold(df, acc).result(ci=ci, confidence=confidence,
                                          n_resamples=n_resamples, bootstrap=bootstrap,
                                          seed=seed)

    @overload
    def nps(self, df: object, score: str, *, by: None = None, weight: str | None = None,
            ci: CiMethod | None = ..., confidence: float = ..., n_resamples: int = ...,
            bootstrap: BootstrapMethod = ..., seed: int | None = None,
            on_invalid: OnInvalid = "raise", scale: Scale = ...,
            promoters: tuple[int, int] = ..., detractors: tuple[int, int] = ...
            ) -> MetricResult: ...
    @overload
    def nps(self, df: object, score: str, *, by: Key, weight: str | None = None,
            ci: CiMethod | None = ..., confidence: float = ..., n_resamples: int = ...,
            bootstrap: BootstrapMethod = ..., seed: int | None = None,
            on_invalid: OnInvalid = "raise", scale: Scale = ...,
            promoters: tuple[int, int] = ..., detractors: tuple[int, int] = ...
            ) -> SegmentedResult: ...
    def nps(self, df: object, score: str, *, by: Key | None = None, weight: str | None = None,
            ci: CiMethod | None = NET_DEFAULT_CI, confidence: float = 0.95,
            n_resamples: int = N_RESAMPLES, bootstrap: BootstrapMethod = BOOTSTRAP,
            seed: int | None = None, on_invalid: OnInvalid = "raise", scale: Scale = NPS_SCALE,
            promoters: tuple[int, int] = NPS_PROMOTERS,
            detractors: tuple[int, int] = NPS_DETRACTORS) -> MetricResult | SegmentedResult:
        """Net Promoter Score of the ``score`` column of ``df`` (see :func:`cxmetrics.nps`)."""
        acc = Accumulator("nps", score=score, by=by, weight=weight, on_invalid=on_invalid,
                          scale=scale, promoters=promoters, detractors=detractors)
        return self._run(df, acc, ci, confidence, n_resamples, bootstrap, seed)

    @overload
    def csat(self, df: object, score: str, *, by: None = None, weight: str | None = None,
             ci: CiMethod | Literal["auto"] | None = ..., confidence: float = ...,
             n_resamples: int = ..., bootstrap: BootstrapMethod = ...,
             seed: int | None = None, on_invalid: OnInvalid = "raise",
             statistic: Literal["share", "mean"] = ..., scale: Scale = ...,
             satisfied: tuple[int, int] = ...) -> MetricResult: ...
    @overload
    def csat(self, df: object, score: str, *, by: Key, weight: str | None = None,
             ci: CiMethod | Literal["auto"] | None = ..., confidence: float = ...,
             n_resamples: int = ..., bootstrap: BootstrapMethod = ...,
             seed: int | None = None, on_invalid: OnInvalid = "raise",
             statistic: Literal["share", "mean"] = ..., scale: Scale = ...,
             satisfied: tuple[int, int] = ...) -> SegmentedResult: ...
    def csat(self, df: object, score: str, *, by: Key | None = None, weight: str | None = None,
             ci: CiMethod | Literal["auto"] | None = "auto", confidence: float = 0.95,
             n_resamples: int = N_RESAMPLES, bootstrap: BootstrapMethod = BOOTSTRAP,
             seed: int | None = None, on_invalid: OnInvalid = "raise",
             statistic: Literal["share", "mean"] = CSAT_STATISTIC, scale: Scale = CSAT_SCALE,
             satisfied: tuple[int, int] = CSAT_SATISFIED) -> MetricResult | SegmentedResult:
        """CSAT of the ``score`` column of ``df`` (see :func:`cxmetrics.csat`)."""
        acc = Accumulator("csat", score=score, by=by, weight=weight, on_invalid=on_invalid,
                          statistic=statistic, scale=scale, satisfied=satisfied)
        return self._run(df, acc, ci, confidence, n_resamples, bootstrap, seed)

    @overload
    def ces(self, df: object, score: str, *, by: None = None, weight: str | None = None,
            ci: CiMethod | Literal["auto"] | None = ..., confidence: float = ...,
            n_resamples: int = ..., bootstrap: BootstrapMethod = ...,
            seed: int | None = None, on_invalid: OnInvalid = "raise",
            variant: Literal["2.0", "effort"] = ...,
            statistic: Literal["share", "mean"] | None = None) -> MetricResult: ...
    @overload
    def ces(self, df: object, score: str, *, by: Key, weight: str | None = None,
            ci: CiMethod | Literal["auto"] | None = ..., confidence: float = ...,
            n_resamples: int = ..., bootstrap: BootstrapMethod = ...,
            seed: int | None = None, on_invalid: OnInvalid = "raise",
            variant: Literal["2.0", "effort"] = ...,
            statistic: Literal["share", "mean"] | None = None) -> SegmentedResult: ...
    def ces(self, df: object, score: str, *, by: Key | None = None, weight: str | None = None,
            ci: CiMethod | Literal["auto"] | None = "auto", confidence: float = 0.95,
            n_resamples: int = N_RESAMPLES, bootstrap: BootstrapMethod = BOOTSTRAP,
            seed: int | None = None, on_invalid: OnInvalid = "raise",
            variant: Literal["2.0", "effort"] = CES_VARIANT,
            statistic: Literal["share", "mean"] | None = None
            ) -> MetricResult | SegmentedResult:
        """Customer Effort Score of the ``score`` column of ``df`` (see :func:`cxmetrics.ces`)."""
        acc = Accumulator("ces", score=score, by=by, weight=weight, on_invalid=on_invalid,
                          variant=variant, statistic=statistic)
        return self._run(df, acc, ci, confidence, n_resamples, bootstrap, seed)

    @overload
    def top_box(self, df: object, score: str, *, by: None = None, weight: str | None = None,
                ci: CiMethod | None = ..., confidence: float = ...,
                n_resamples: int = ..., bootstrap: BootstrapMethod = ...,
                seed: int | None = None, on_invalid: OnInvalid = "raise",
                scale: Scale = ..., top: int = ...) -> MetricResult: ...
    @overload
    def top_box(self, df: object, score: str, *, by: Key, weight: str | None = None,
                ci: CiMethod | None = ..., confidence: float = ...,
                n_resamples: int = ..., bootstrap: BootstrapMethod = ...,
                seed: int | None = None, on_invalid: OnInvalid = "raise",
                scale: Scale = ..., top: int = ...) -> SegmentedResult: ...
    def top_box(self, df: object, score: str, *, by: Key | None = None,
                weight: str | None = None, ci: CiMethod | None = SHARE_DEFAULT_CI,
                confidence: float = 0.95, n_resamples: int = N_RESAMPLES,
                bootstrap: BootstrapMethod = BOOTSTRAP, seed: int | None = None,
                on_invalid: OnInvalid = "raise", scale: Scale = TEN_POINT_SCALE,
                top: int = BOX_POINTS) -> MetricResult | SegmentedResult:
        """Top-box share of the ``score`` column of ``df`` (see :func:`cxmetrics.top_box`)."""
        acc = Accumulator("top_box", score=score, by=by, weight=weight, on_invalid=on_invalid,
                          scale=scale, top=top)
        return self._run(df, acc, ci, confidence, n_resamples, bootstrap, seed)

    @overload
    def bottom_box(self, df: object, score: str, *, by: None = None,
                   weight: str | None = None, ci: CiMethod | None = ...,
                   confidence: float = ..., n_resamples: int = ...,
                   bootstrap: BootstrapMethod = ..., seed: int | None = None,
                   on_invalid: OnInvalid = "raise", scale: Scale = ...,
                   bottom: int = ...) -> MetricResult: ...
    @overload
    def bottom_box(self, df: object, score: str, *, by: Key, weight: str | None = None,
                   ci: CiMethod | None = ..., confidence: float = ...,
                   n_resamples: int = ..., bootstrap: BootstrapMethod = ...,
                   seed: int | None = None, on_invalid: OnInvalid = "raise",
                   scale: Scale = ..., bottom: int = ...) -> SegmentedResult: ...
    def bottom_box(self, df: object, score: str, *, by: Key | None = None,
                   weight: str | None = None, ci: CiMethod | None = SHARE_DEFAULT_CI,
                   confidence: float = 0.95, n_resamples: int = N_RESAMPLES,
                   bootstrap: BootstrapMethod = BOOTSTRAP, seed: int | None = None,
                   on_invalid: OnInvalid = "raise", scale: Scale = TEN_POINT_SCALE,
                   bottom: int = BOX_POINTS) -> MetricResult | SegmentedResult:
        """Bottom-box share of ``score`` in ``df`` (see :func:`cxmetrics.bottom_box`)."""
        acc = Accumulator("bottom_box", score=score, by=by, weight=weight,
                          on_invalid=on_invalid, scale=scale, bottom=bottom)
        return self._run(df, acc, ci, confidence, n_resamples, bootstrap, seed)

    @overload
    def mean_score(self, df: object, score: str, *, by: None = None,
                   weight: str | None = None, ci: CiMethod | None = ...,
                   confidence: float = ..., n_resamples: int = ...,
                   bootstrap: BootstrapMethod = ..., seed: int | None = None,
                   on_invalid: OnInvalid = "raise", scale: Scale = ...
                   ) -> MetricResult: ...
    @overload
    def mean_score(self, df: object, score: str, *, by: Key, weight: str | None = None,
                   ci: CiMethod | None = ..., confidence: float = ...,
                   n_resamples: int = ..., bootstrap: BootstrapMethod = ...,
                   seed: int | None = None, on_invalid: OnInvalid = "raise",
                   scale: Scale = ...) -> SegmentedResult: ...
    def mean_score(self, df: object, score: str, *, by: Key | None = None,
                   weight: str | None = None, ci: CiMethod | None = MEAN_DEFAULT_CI,
                   confidence: float = 0.95, n_resamples: int = N_RESAMPLES,
                   bootstrap: BootstrapMethod = BOOTSTRAP, seed: int | None = None,
                   on_invalid: OnInvalid = "raise", scale: Scale = CSAT_SCALE
                   ) -> MetricResult | SegmentedResult:
        """Mean score of ``score`` in ``df`` (see :func:`cxmetrics.mean_score`)."""
        acc = Accumulator("mean", score=score, by=by, weight=weight, on_invalid=on_invalid,
                          scale=scale)
        return self._run(df, acc, ci, confidence, n_resamples, bootstrap, seed)

