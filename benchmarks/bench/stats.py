"""
Small statistics: medians, percentiles, ratios and the targets of issue 7.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Target", "median", "percentile", "ratio"]


def median(values: Sequence[float]) -> float:
    """
    @param values: measurements (at least one; C{nan} entries are ignored).
    @return: their median, or C{nan} when there is none.
    """
    clean = sorted(v for v in values if not math.isnan(v))
    if not clean:
        return math.nan
    mid = len(clean) // 2
    if len(clean) % 2:
        return clean[mid]
    return (clean[mid - 1] + clean[mid]) / 2


def percentile(values: Sequence[float], p: float) -> float:
    """
    The C{p}-th percentile by the nearest-rank method (no interpolation,
    so p99 of a short run is a value that was actually observed).

    @param values: samples.
    @param p: the percentile, 0 < p <= 100.
    @return: the sample at that rank, or C{nan} for no samples.
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ratio(ours: float, theirs: float) -> float:
    """
    @return: C{ours / theirs}, or C{nan} when either side is missing or
        C{theirs} is zero.
    """
    if math.isnan(ours) or math.isnan(theirs) or theirs == 0:
        return math.nan
    return ours / theirs


@dataclass(frozen=True)
class Target:
    """
    A goal for the ratio ours/theirs.

    @ivar higherIsBetter: C{True} when a bigger ratio is better
        (throughput), C{False} when a smaller one is (latency, memory).
    @ivar limit: the ratio to reach: at least this when higher is
        better, at most this otherwise; L{None} for a row kept for
        information only.
    """

    higherIsBetter: bool
    limit: float | None = None

    def met(self, value: float) -> bool | None:
        """
        @param value: a measured ratio.
        @return: whether it meets the target; L{None} when there is no
            target or no value.
        """
        if self.limit is None or math.isnan(value):
            return None
        if self.higherIsBetter:
            return value >= self.limit
        return value <= self.limit

    def describe(self) -> str:
        """
        @return: e.g. C{">= 1.0x"} or C{"<= 1.2x"}, or C{"-"}.
        """
        if self.limit is None:
            return "-"
        return f"{'>=' if self.higherIsBetter else '<='} {self.limit:.1f}x"

    @property
    def better(self) -> str:
        """
        @return: C{"higher"} or C{"lower"}.
        """
        return "higher" if self.higherIsBetter else "lower"
