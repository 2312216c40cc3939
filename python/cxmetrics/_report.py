"""Render metric results as an aligned text table, CSV or JSON (used by the CLI).

Works on anything shaped like a ``MetricResult`` (see :class:`ResultLike`), so it depends on the
public result types only through their attribute names.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["ReportSpec", "ResultLike", "format_csv", "format_json", "format_table", "report_rows"]

OVERALL_LABEL = "overall"
NULL_LABEL = "(null)"


class ResultLike(Protocol):
    """The ``MetricResult`` attributes a report reads."""

    @property
    def value(self) -> float: ...
    @property
    def ci_low(self) -> float: ...
    @property
    def ci_high(self) -> float: ...
    @property
    def se(self) -> float: ...
    @property
    def n(self) -> int: ...
    @property
    def n_missing(self) -> int: ...
    @property
    def n_invalid(self) -> int: ...
    @property
    def weighted_n(self) -> float: ...
    @property
    def effective_n(self) -> float: ...
    @property
    def method(self) -> str | None: ...
    @property
    def confidence(self) -> float: ...


@dataclass(frozen=True)
class ReportSpec:
    """What was computed, for the caption and the JSON header."""

    metric: str
    label: str  # column header for the value, e.g. "NPS" or "CSAT %"
    score: str
    by: tuple[str, ...] = ()
    weight: str | None = None
    source: str = ""
    rows_read: int | None = None
    decimals: int = 1


# One report line: the segment key tuple (None for the overall row) and its result.
Row = tuple[tuple[Any, ...] | None, ResultLike]


def report_rows(result: Any, by: Sequence[str]) -> list[Row]:
    """Segments in the result's order, then the overall row; a lone result is just "overall"."""
    if not by:
        return [(None, result)]
    rows: list[Row] = []
    for seg in result:
        key = seg.segment
        rows.append((tuple(key) if isinstance(key, tuple) else (key,), seg))
    rows.append((None, result.overall))
    return rows


def _finite(x: float | None) -> bool:
    return x is not None and not math.isnan(x)


def _num(x: float | None, decimals: int) -> str:
    return f"{x:,.{decimals}f}" if _finite(x) else "-"


def _key_text(value: Any) -> str:
    return NULL_LABEL if value is None else str(value)


def _has_ci(rows: Iterable[Row]) -> bool:
    return any(_finite(res.ci_low) or _finite(res.ci_high) for _, res in rows)


def _confidence(rows: Sequence[Row]) -> float:
    conf = rows[-1][1].confidence
    return float(conf) if _finite(conf) else 0.95


def _percent(conf: float) -> str:
    return f"{100 * conf:g}%"


def _caption(spec: ReportSpec, rows: Sequence[Row]) -> str:
    parts = [f"{spec.label} of {spec.score!r}" + (" by " + ", ".join(spec.by) if spec.by else "")]
    if spec.weight:
        parts.append(f"weighted by {spec.weight!r}")
    method = rows[-1][1].method
    if method and _has_ci(rows):
        parts.append(f"{_percent(_confidence(rows))} CI ({method})")
    else:
        parts.append("no interval")
    text = ", ".join(parts)
    if spec.source:
        rows_read = f", {spec.rows_read:,} rows" if spec.rows_read is not None else ""
        text += f" - {spec.source}{rows_read}"
    return text


def format_table(rows: Sequence[Row], spec: ReportSpec) -> str:
    """An aligned, human-readable table with a caption line and the overall row last."""
    d = spec.decimals
    show_ci = _has_ci(rows)
    show_invalid = any(res.n_invalid for _, res in rows)
    show_neff = spec.weight is not None and all(_finite(res.effective_n) for _, res in rows)
    key_cols = list(spec.by) if spec.by else ["segment"]

    header = [*key_cols, "n"]
    if show_neff:
        header.append("n_eff")
    header.append(spec.label)
    if show_ci:
        header.append(f"{_percent(_confidence(rows))} CI")
    header += ["se", "missing"]
    if show_invalid:
        header.append("invalid")

    # Bounds are padded separately so the brackets and the comma line up down the column.
    lows = [_num(res.ci_low, d) for _, res in rows]
    highs = [_num(res.ci_high, d) for _, res in rows]
    wl = max(map(len, lows), default=1)
    wh = max(map(len, highs), default=1)

    body: list[list[str]] = []
    for (key, res), lo, hi in zip(rows, lows, highs, strict=True):
        if key is None:
            keys = [OVERALL_LABEL] + [""] * (len(key_cols) - 1)
        else:
            keys = [_key_text(k) for k in key]
        line = [*keys, f"{res.n:,}"]
        if show_neff:
            line.append(f"{res.effective_n:,.0f}")
        line.append(_num(res.value, d))
        if show_ci:
            no_ci = not (_finite(res.ci_low) or _finite(res.ci_high))
            line.append("-" if no_ci else f"[{lo:>{wl}}, {hi:>{wh}}]")
        line += [_num(res.se, d), f"{res.n_missing:,}"]
        if show_invalid:
            line.append(f"{res.n_invalid:,}")
        body.append(line)

    widths = [max(len(cell) for cell in column) for column in zip(header, *body, strict=True)]
    n_keys = len(key_cols)

    def render(cells: Sequence[str]) -> str:
        out = [
            cell.ljust(w) if i < n_keys else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    lines = [_caption(spec, rows), "", render(header), rule]
    for (key, _), line in zip(rows, body, strict=True):
        if key is None and len(rows) > 1:
            lines.append(rule)
        lines.append(render(line))
    return "\n".join(lines) + "\n"


def _plain(value: Any) -> Any:
    """JSON-safe scalars: NaN becomes null, dates become ISO strings, numpy scalars unwrap."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return int(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return _plain(value.item())
    return str(value)


def _counts(res: ResultLike) -> dict[str, int]:
    counts = getattr(res, "counts", None)
    if not isinstance(counts, Mapping):
        return {}
    return {str(k): int(v) for k, v in counts.items()}


def _record(res: ResultLike) -> dict[str, Any]:
    record: dict[str, Any] = {
        "n": int(res.n),
        "value": _plain(float(res.value)),
        "ci_low": _plain(float(res.ci_low)),
        "ci_high": _plain(float(res.ci_high)),
        "se": _plain(float(res.se)),
        "n_missing": int(res.n_missing),
        "n_invalid": int(res.n_invalid),
    }
    record["weighted_n"] = _plain(float(res.weighted_n))
    record["effective_n"] = _plain(float(res.effective_n))
    record["method"] = res.method
    record["confidence"] = _plain(float(res.confidence))
    return record


def format_json(rows: Sequence[Row], spec: ReportSpec) -> str:
    """One JSON document: the run's description, ``segments`` (with ``by``) and ``overall``."""
    segments = []
    overall: dict[str, Any] = {}
    for key, res in rows:
        record = _record(res)
        record["counts"] = _counts(res)
        if key is None:
            overall = record
        else:
            segments.append(
                {"segment": {b: _plain(k) for b, k in zip(spec.by, key, strict=True)}, **record}
            )
    doc: dict[str, Any] = {
        "metric": spec.metric,
        "score": spec.score,
        "by": list(spec.by),
        "weight": spec.weight,
        "source": spec.source,
    }
    if spec.by:
        doc["segments"] = segments
    doc["overall"] = overall
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def format_csv(rows: Sequence[Row], spec: ReportSpec) -> str:
    """One CSV row per segment, then the overall row (``overall`` in the first key column)."""
    count_names: list[str] = []
    for _, res in rows:
        count_names += [name for name in _counts(res) if name not in count_names]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    stats = list(_record(rows[-1][1]))
    writer.writerow([*spec.by, *stats, *count_names])
    for key, res in rows:
        if key is None:
            keys: list[Any] = [OVERALL_LABEL] + [""] * (len(spec.by) - 1) if spec.by else []
        else:
            keys = ["" if k is None else _plain(k) for k in key]
        record = _record(res)
        counts = _counts(res)
        cells = ["" if record[s] is None else record[s] for s in stats]
        writer.writerow([*keys, *cells, *(counts.get(c, "") for c in count_names)])
    return buffer.getvalue()
