"""Interleaved pairs: ours and the alternative measured alternately, in one process or one run.

Each repeat times both sides back to back, alternating which goes first (ABBA), so drift in the
machine's load (a shared machine) hits both sides alike; the reported ratio is the median of the
per-repeat ratios, with their spread (25th-75th percentile and min-max), and the ratio of the two
sides' fastest samples (the estimate least disturbed by other load).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Result:
    """One scenario's outcome; ``ratio`` is ours / alternative (below 1: ours is faster)."""

    scenario: str
    ours: str
    alternative: str
    unit: str
    ours_median: float
    alternative_median: float
    ratio_median: float
    ratio_p25: float
    ratio_p75: float
    ratio_min: float
    ratio_max: float
    ratio_of_minimums: float
    repeats: int
    target: str = ""
    counts: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(
    scenario: str,
    ours: str,
    alternative: str,
    pairs: list[tuple[float, float]],
    *,
    unit: str = "s",
    target: str = "",
    counts: dict[str, Any] | None = None,
    note: str = "",
) -> Result:
    ratios = [a / b for a, b in pairs if b > 0]
    return Result(
        scenario=scenario,
        ours=ours,
        alternative=alternative,
        unit=unit,
        ours_median=statistics.median(a for a, _ in pairs),
        alternative_median=statistics.median(b for _, b in pairs),
        ratio_median=statistics.median(ratios),
        ratio_p25=quantile(ratios, 0.25),
        ratio_p75=quantile(ratios, 0.75),
        ratio_min=min(ratios),
        ratio_max=max(ratios),
        ratio_of_minimums=(min(a for a, _ in pairs) / min(b for _, b in pairs))
        if min(b for _, b in pairs) > 0
        else 0.0,
        repeats=len(pairs),
        target=target,
        counts=counts or {},
        note=note,
    )


def time_call(fn: Callable[[], object], inner: int) -> float:
    """Seconds per call of ``fn`` over ``inner`` calls (garbage collected before, as a parse starts)."""
    gc.collect()
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def interleaved(
    ours: Callable[[], object], alternative: Callable[[], object], *, repeats: int, inner: int = 1, warmup: int = 1
) -> list[tuple[float, float]]:
    """``repeats`` pairs of (ours, alternative) seconds per call, alternating which runs first."""
    for _ in range(warmup):
        ours()
        alternative()
    pairs: list[tuple[float, float]] = []
    for i in range(repeats):
        if i % 2 == 0:
            a = time_call(ours, inner)
            b = time_call(alternative, inner)
        else:
            b = time_call(alternative, inner)
            a = time_call(ours, inner)
        pairs.append((a, b))
    return pairs


def interleaved_measures(
    ours: Callable[[], float], alternative: Callable[[], float], *, repeats: int
) -> list[tuple[float, float]]:
    """Like :func:`interleaved` for callables that measure themselves (a subprocess, a fan-out)."""
    pairs: list[tuple[float, float]] = []
    for i in range(repeats):
        if i % 2 == 0:
            a = ours()
            b = alternative()
        else:
            b = alternative()
            a = ours()
        pairs.append((a, b))
    return pairs
