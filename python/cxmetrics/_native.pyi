"""Type stubs for the Rust extension (rust/python)."""

from typing import Any, Literal, final, overload

import pyarrow as pa

from cxmetrics._results import ArrowBatch

__all__ = [
    "BOOTSTRAP_METHODS",
    "CI_METHODS",
    "COMPARE_METHODS",
    "DEFAULT_BOOTSTRAP",
    "DEFAULT_RESAMPLES",
    "MAX_REPLICATES",
    "MAX_RESAMPLES",
    "METRIC_OPTIONS",
    "ON_INVALID",
    "AccumulatorState",
    "DriverStats",
    "Metric",
    "__version__",
    "accumulator_from_bytes",
    "accumulator_from_legacy",
    "accumulator_to_bytes",
    "box_range",
    "check_definition",
    "check_mergeable",
    "check_options",
    "check_replicates",
    "check_seed",
    "compare",
    "composite_estimate",
    "detectable_difference",
    "estimate_complements",
    "estimate_groups",
    "key_stream",
    "margin_of_error",
    "nps_variance",
    "sample_size",
    "sample_size_two_groups",
    "share_variance",
    "split_legacy_accumulator",
]

__version__: str
CI_METHODS: list[str]
BOOTSTRAP_METHODS: list[str]
ON_INVALID: list[str]
COMPARE_METHODS: list[str]
MAX_RESAMPLES: int
DEFAULT_RESAMPLES: int
DEFAULT_BOOTSTRAP: str
MAX_REPLICATES: int
METRIC_OPTIONS: dict[str, list[str]]

def check_options(ci: str | None, confidence: float, on_invalid: str = "raise",
                  bootstrap: str = "bca", n_resamples: int = 10_000) -> None:
    """Raises ArgumentError for the first option that does not fit."""
def check_seed(seed: int) -> int:
    """``seed`` if it is an int in [0, 2**64), else ArgumentError."""

def check_replicates(replicates: object) -> int:
    """``replicates`` if it is an int in 1..MAX_REPLICATES, else ArgumentError."""

@final
class Metric:
    """A metric definition: a net score, a share, or a mean on an integer scale."""

    @staticmethod
    def net(
        low: int, high: int, positive: tuple[int, int], negative: tuple[int, int]
    ) -> Metric: ...
    @staticmethod
    def share(low: int, high: int, hit: tuple[int, int]) -> Metric: ...
    @staticmethod
    def mean(low: int, high: int) -> Metric: ...

@final
class AccumulatorState:
    """Segmented tallies (counts and weight sums per scale value) of one or more inputs."""

    def __new__(cls, low: int, high: int, n_keys: int, weighted: bool,
                replicates: int | None = None, seed: int | None = None,
                stream: int = 0) -> AccumulatorState:
        """``replicates``: keep that many Poisson-bootstrap replicates (weighted only), drawn
        from stream ``stream`` of ``seed`` (None: a random stream per accumulator)."""
    @property
    def replicates(self) -> int | None: ...
    @property
    def seed(self) -> int | None: ...
    @property
    def stream(self) -> int | None: ...
    def with_stream(self, stream: int) -> AccumulatorState:
        """A copy whose replicates draw from stream ``stream`` (before the first update)."""
    @property
    def low(self) -> int: ...
    @property
    def high(self) -> int: ...
    @property
    def n_keys(self) -> int: ...
    @property
    def weighted(self) -> bool: ...
    def update(
        self,
        score: Any,
        keys: list[Any],
        weight: Any | None,
        on_invalid: str,
        score_name: str,
        key_names: list[str],
        weight_name: str | None,
    ) -> None:
        """Adds rows (Arrow arrays or streams); all-or-nothing; releases the GIL."""
    @overload
    def estimate(
        self,
        metric: Metric,
        key_names: list[str],
        ci: str | None,
        confidence: float,
        bootstrap: str = "bca",
        n_resamples: int = 10_000,
        seed: int = 0,
        weight_cells: AccumulatorState | None = None,
        output: Literal["batches"] = "batches",
    ) -> tuple[pa.RecordBatch, pa.RecordBatch]:
        """Per-segment and overall estimates as record batches (keys, statistics, counts, note).

        ``ci="bootstrap"`` draws ``n_resamples`` exact histogram resamples per segment from
        streams derived from ``seed`` and each segment's key; weighted data need
        ``weight_cells``, an unweighted aggregation of the same rows keyed by (keys..., weight),
        unless the aggregation keeps replicates (then they are the bootstrap distribution).

        ``output="segments"``: the segments as the core's own batch (pyarrow imports it through
        ``__arrow_c_array__``) and the overall row as a dict; ``output="overall"``: None and the
        overall row as a dict.
        """
    @overload
    def estimate(
        self,
        metric: Metric,
        key_names: list[str],
        ci: str | None,
        confidence: float,
        bootstrap: str = "bca",
        n_resamples: int = 10_000,
        seed: int = 0,
        weight_cells: AccumulatorState | None = None,
        *,
        output: Literal["segments"],
    ) -> tuple[ArrowBatch, dict[str, Any]]: ...
    @overload
    def estimate(
        self,
        metric: Metric,
        key_names: list[str],
        ci: str | None,
        confidence: float,
        bootstrap: str = "bca",
        n_resamples: int = 10_000,
        seed: int = 0,
        weight_cells: AccumulatorState | None = None,
        *,
        output: Literal["overall"],
    ) -> tuple[None, dict[str, Any]]: ...
    @overload
    def estimate(
        self,
        metric: Metric,
        key_names: list[str],
        ci: str | None,
        confidence: float,
        bootstrap: str = "bca",
        n_resamples: int = 10_000,
        seed: int = 0,
        weight_cells: AccumulatorState | None = None,
        *,
        output: str,
    ) -> tuple[ArrowBatch | None, dict[str, Any]]: ...
    def merged(self, other: AccumulatorState) -> AccumulatorState:
        """A new aggregation with both inputs' tallies; an empty one is the identity."""
    def copy(self) -> AccumulatorState: ...
    def to_bytes(self) -> bytes:
        """The versioned, checksummed binary form of the state."""
    @staticmethod
    def from_bytes(data: bytes) -> AccumulatorState:
        """Decodes :meth:`to_bytes` output; raises CorruptStateError on any damage."""
    @staticmethod
    def from_segment_counts(low: int, high: int, keys: list[pa.Array], distribution: pa.Array,
                            missing: pa.Array, invalid: pa.Array) -> AccumulatorState:
        """The unweighted state behind a segmented result, from its key columns (key order),
        flat per-point counts, and missing and invalid rows per segment."""

def compare(
    metric: Metric,
    a: tuple[list[int], float, float, float, bool],
    b: tuple[list[int], float, float, float, bool],
    method: str,
    confidence: float,
    test: str = "pooled",
    alternative: str = "two-sided",
    bootstrap: str = "bca",
    n_resamples: int = 10_000,
    seed: int = 0,
    stream: int = 0,
) -> tuple[float, float, float, float, float, float, str | None]:
    """a − b: (value, se, low, high, z, p_value, note); ``test`` is "pooled" or "wald",
    ``alternative`` "two-sided", "greater" or "less".

    Each side is (counts per scale point, value, se, effective n, weighted).
    """

def estimate_complements(
    source: AccumulatorState,
    metric: Metric,
    universes: list[list[int]],
    parts: list[tuple[int, list[int]]],
    ci: str | None,
    confidence: float,
    bootstrap: str = "bca",
    n_resamples: int = 10_000,
    seed: int = 0,
) -> pa.RecordBatch:
    """One row per (u, part): the union of segments ``universes[u]`` minus the union of
    ``part`` (a subset of it), subtracted exactly; key column ``group``."""
def key_stream(data: bytes) -> int:
    """The core's random-stream id of some key bytes (FNV-1a)."""

def accumulator_to_bytes(definition: dict[str, object],
                         aggregation: AccumulatorState | None = None) -> bytes:
    """An accumulator's bytes (core format 3): its definition and tallies."""
def accumulator_from_bytes(
    data: bytes,
) -> tuple[dict[str, object] | None, AccumulatorState | None]:
    """The definition (None for a bare state) and tallies of accumulator bytes."""
def split_legacy_accumulator(data: bytes) -> tuple[bytes, bytes]:
    """The definition JSON and state bytes of a legacy (\\x89CXA) accumulator, frame checked."""
def accumulator_from_legacy(
    definition: object, state: bytes,
) -> tuple[dict[str, object], AccumulatorState | None]:
    """A legacy accumulator from its parsed definition and state bytes, checked."""
def check_mergeable(mine: dict[str, object], theirs: dict[str, object],
                    both_hold_data: bool) -> None:
    """Raises IncompatibleAccumulatorError unless the two definitions may merge."""

def check_definition(definition: dict[str, object]) -> None:
    """Raises ArgumentError unless the accumulator definition is valid."""

def box_range(low: int, high: int, k: object, top: bool) -> tuple[int, int]:
    """The score range of the ``k`` highest (``top``) or lowest points of ``low..high``."""

def margin_of_error(n: float, v: float, confidence: float) -> float: ...
def nps_variance(promoters: float | None = None, detractors: float | None = None) -> float: ...
def share_variance(share: float | None = None) -> float: ...
def detectable_difference(n: tuple[float, float], v: tuple[float, float], power: float,
                          confidence: float, one_sided: bool) -> float: ...
def sample_size_two_groups(difference: float, ratio: float, v: tuple[float, float],
                           power: float, confidence: float, one_sided: bool
                           ) -> tuple[int, int]: ...
def sample_size(margin: float, v: float, confidence: float) -> int: ...
def composite_estimate(
    cells: AccumulatorState,
    n_keys: int,
    question_weights: list[float],
    key_names: list[str],
    ci: str | None,
    confidence: float,
    bootstrap: str = "bca",
    n_resamples: int = 10_000,
    seed: int = 0,
) -> tuple[pa.RecordBatch, pa.RecordBatch]:
    """Composite estimates from an aggregation keyed by (segment keys..., answers...)."""

def estimate_groups(
    source: AccumulatorState,
    metric: Metric,
    groups: list[list[int]],
    ci: str | None,
    confidence: float,
    bootstrap: str = "bca",
    n_resamples: int = 10_000,
    seed: int = 0,
) -> pa.RecordBatch:
    """One row per group: the exact union of the listed segments of ``source`` (indices in
    result order), estimated like a segment; key column ``group``."""
@final
class DriverStats:
    """Per-segment exact Gram matrices of [1, outcome, drivers...] and Poisson-bootstrap
    replicates of them (key driver analysis)."""

    def __new__(cls, n_drivers: int, n_keys: int, weighted: bool,
                replicates: int | None = None, seed: int | None = None,
                stream: int = 0) -> DriverStats: ...
    @property
    def n_drivers(self) -> int: ...
    @property
    def n_keys(self) -> int: ...
    @property
    def weighted(self) -> bool: ...
    @property
    def replicates(self) -> int | None: ...
    @property
    def resampling(self) -> str | None: ...
    @property
    def seed(self) -> int | None: ...
    def update(self, outcome: Any, drivers: list[Any], weight: Any | None, keys: list[Any],
               outcome_name: str, driver_names: list[str], weight_name: str | None,
               key_names: list[str]) -> None:
        """Adds rows (Arrow arrays); all-or-nothing; releases the GIL."""
    def merged(self, other: DriverStats) -> DriverStats: ...
    def copy(self) -> DriverStats: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> DriverStats: ...
    def report(self, method: str, driver_names: list[str], key_names: list[str],
               confidence: float = 0.95, min_n: int = 0, exact_up_to: int = 20,
               permutations: int = 2000, seed: int = 0,
               bootstrap: str = "percentile") -> pa.RecordBatch:
        """One row per (segment, driver): importance, rescaled, sign, intervals, R², n."""
