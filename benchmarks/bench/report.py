"""
Turn per-round results into the summary: a text table, an RST fragment
for the docs, a PNG chart and a JSON dump.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bench.cases import Measurement
from bench.stats import median, ratio

__all__ = ["Row", "summarise", "textTable", "rstTable", "writeChart", "writeJSON"]


@dataclass
class Row:
    """
    One line of the summary: a metric's medians on both sides.
    """

    case: str
    key: str
    label: str
    unit: str
    ours: float
    theirs: float
    ratio: float
    better: str
    target: str
    met: bool | None
    rounds: int
    error: str | None = None
    #: the lowest and highest ratio of one round's pair of measurements
    #: (both sides run back to back), or None with fewer than two rounds
    spread: tuple[float, float] | None = None


def summarise(measurements: Sequence[Measurement],
              results: dict[str, dict[str, list[Any]]]) -> list[Row]:
    """
    @param measurements: what was run.
    @param results: C{results[key][side]}: per-round values dicts, or
        exceptions for rounds that failed.
    @return: one L{Row} per metric.
    """
    rows = []
    for m in measurements:
        per = results.get(m.key, {})
        good = {s: [v for v in per.get(s, []) if isinstance(v, dict)] for s in ("ours", "theirs")}
        bad = [v for s in ("ours", "theirs") for v in per.get(s, []) if isinstance(v, Exception)]
        error = f"{type(bad[0]).__name__}: {bad[0]}".splitlines()[0] if bad else None
        for metric in m.metrics:
            ours = median([v.get(metric.key, math.nan) for v in good["ours"]])
            theirs = median([v.get(metric.key, math.nan) for v in good["theirs"]])
            r = ratio(ours, theirs)
            perRound = [
                ratio(o[metric.key], t[metric.key])
                for o, t in zip(per.get("ours", []), per.get("theirs", []),
                                strict=False)
                if isinstance(o, dict) and isinstance(t, dict)
                and metric.key in o and metric.key in t]
            perRound = [x for x in perRound if not math.isnan(x)]
            rows.append(Row(
                case=m.case, key=f"{m.key}.{metric.key}", label=metric.label,
                unit=metric.unit, ours=ours, theirs=theirs, ratio=r,
                better=metric.target.better, target=metric.target.describe(),
                met=metric.target.met(r),
                rounds=min(len(good["ours"]), len(good["theirs"])), error=error,
                spread=(min(perRound), max(perRound)) if len(perRound) > 1 else None))
    return rows


def formatValue(value: float, unit: str) -> str:
    """
    @return: C{value} formatted for its unit (C{"n/a"} when missing).
    """
    if math.isnan(value):
        return "n/a"
    if unit == "ms":
        return f"{value:.3f}"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def _cells(row: Row) -> list[str]:
    met = {True: "met", False: "MISSED", None: "-"}[row.met]
    return [row.case, row.label, row.unit, formatValue(row.ours, row.unit),
            formatValue(row.theirs, row.unit),
            "n/a" if math.isnan(row.ratio) else f"{row.ratio:.2f}",
            f"{row.spread[0]:.2f}-{row.spread[1]:.2f}" if row.spread else "-",
            row.better, row.target, met]


ARROWS = {"higher": "\u2191", "lower": "\u2193"}

HEADER = ["case", "measurement", "unit", "ours", "theirs", "ours/theirs",
          "per round", "better", "target", "met"]


def textTable(rows: Sequence[Row]) -> str:
    """
    @return: the summary as an aligned plain-text table.
    """
    table = [HEADER] + [_cells(r) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    numeric = {3, 4, 5}
    out = []
    for n, line in enumerate(table):
        out.append("  ".join(
            cell.rjust(w) if i in numeric and n else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def rstTable(rows: Sequence[Row]) -> str:
    """
    @return: the summary as an RST simple table.
    """
    table = [HEADER] + [[c.replace("*", r"\*") for c in _cells(r)] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    rule = "  ".join("=" * w for w in widths)
    body = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
            for line in table]
    lines = [rule, body[0], rule, *body[1:]]
    lines.append(rule)
    return "\n".join(lines)


def writeChart(rows: Sequence[Row], path: str, title: str) -> str:
    """
    Draw the ratios ours/theirs as horizontal bars on a log scale: green
    where the target is met, red where missed, grey without a target; a
    black tick marks each target.

    @param rows: the summary.
    @param path: the PNG to write.
    @param title: the chart title.
    @return: C{path}.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    shown = [r for r in rows if not math.isnan(r.ratio)]
    fig, ax = plt.subplots(figsize=(9, 0.38 * max(len(shown), 1) + 1.6))
    labels = [f"{r.case} {r.label} ({ARROWS[r.better]})" for r in shown]
    colours = [{True: "#3a9d4a", False: "#d0453a", None: "#9a9a9a"}[r.met] for r in shown]
    ys = list(range(len(shown)))[::-1]
    # Bars grow from 1.0 (parity) towards the ratio, so the side is visible.
    ax.barh(ys, [r.ratio - 1 for r in shown], color=colours, height=0.6, left=1)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator([0.1, 0.2, 0.5, 1, 2, 5, 10]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.axvline(1.0, color="#333333", linewidth=0.8, linestyle="--")
    for y, r in zip(ys, shown, strict=True):
        limit = _limit(r.target)
        if limit is not None:
            ax.plot([limit, limit], [y - 0.4, y + 0.4], color="black", linewidth=1.6)
        right = r.ratio >= 1
        ax.text(r.ratio * (1.04 if right else 0.96), y, f"{r.ratio:.2f}", va="center",
                ha="left" if right else "right", fontsize=8)
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("ours / theirs (log scale; \u2191 higher is better, \u2193 lower is "
                  "better; black tick = target)", fontsize=8)
    if shown:
        lo = min(min(r.ratio for r in shown), 0.5)
        hi = max(max(r.ratio for r in shown), 2.0)
        ax.set_xlim(lo / 1.6, hi * 1.6)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _limit(target: str) -> float | None:
    parts = target.split()
    if len(parts) != 2:
        return None
    return float(parts[1].rstrip("x"))


def writeJSON(path: str, data: dict[str, Any], rows: Sequence[Row]) -> str:
    """
    Dump the settings, raw results and summary.

    @return: C{path}.
    """
    def clean(value: Any) -> Any:
        if isinstance(value, Exception):
            return {"error": f"{type(value).__name__}: {value}"}
        if isinstance(value, float) and math.isnan(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(clean({**data, "summary": [asdict(r) for r in rows]}), f, indent=1)
    return path
