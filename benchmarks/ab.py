"""
A/B: two virtd daemons side by side under the same libvirt-python load.

For measuring one change at a time: both daemons run at once (so the
machine's state is the same for both), the side that goes first
alternates round by round, and the table gives each side's median and
mean and the ratio B/A. A and B differ by their options, their source
tree, or both.

    # an option against the default
    .venv/bin/python benchmarks/ab.py --b-arg=--no-batch-workers
    # the working tree against a commit
    git worktree add /tmp/before HEAD~1
    .venv/bin/python benchmarks/ab.py --a-source /tmp/before --rounds 8

Shapes (C{--shapes}): D1's C{unix-1x1}, C{unix-8x8}, C{unix-8x1} and the
same over C{tcp}, plus C{unix-p50} / C{tcp-p50} (D2's one-client latency,
in microseconds). The 8-client shapes move by 20-30 % from round to round
on a busy two-core machine: use several rounds and compare medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from bench.cases import DaemonThroughput, Settings, _callsSpec, _runCalls  # noqa: E402
from bench.daemons import VirtdDaemon  # noqa: E402

SHAPES = ["unix-1x1", "unix-8x8", "unix-8x1", "tcp-1x1", "tcp-8x8", "tcp-8x1",
          "unix-p50"]


def measure(daemon: VirtdDaemon, shape: str, settings: Settings) -> float:
    """
    One measurement of C{shape} against C{daemon}: calls per second, or
    for a C{-p50} shape the median latency in microseconds.
    """
    transport, kind = shape.split("-")
    uri = daemon.uri(transport)
    assert daemon.process is not None
    if kind == "p50":
        spec = _callsSpec(uri, "libvirt", "info", seconds=settings.seconds,
                          latency=True)
        return _runCalls([spec], daemon.process.pid, settings.seconds)["p50"] * 1000
    specs = DaemonThroughput(transport, kind).specs(uri, settings)
    return _runCalls(specs, daemon.process.pid, settings.seconds)["rate"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a-arg", action="append", default=[],
                        help="a twistd virtd option for A (repeatable)")
    parser.add_argument("--b-arg", action="append", default=[],
                        help="a twistd virtd option for B (repeatable)")
    parser.add_argument("--a-source", help="source tree for A (default: here)")
    parser.add_argument("--b-source", help="source tree for B (default: here)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--shapes", default=",".join(SHAPES),
                        help="comma-separated, from: " + ", ".join(SHAPES)
                        + ", tcp-p50")
    args = parser.parse_args(argv[1:])
    shapes = [s for s in args.shapes.split(",") if s]
    for shape in shapes:
        if shape not in SHAPES + ["tcp-p50"]:
            parser.error(f"unknown shape {shape!r}")
    settings = Settings(rounds=args.rounds, seconds=args.seconds)
    sides = {
        "A": VirtdDaemon(extraArgs=tuple(args.a_arg), source=args.a_source),
        "B": VirtdDaemon(extraArgs=tuple(args.b_arg), source=args.b_source),
    }
    results: dict[tuple[str, str], list[float]] = {}
    try:
        for daemon in sides.values():
            daemon.start()
        for r in range(args.rounds):
            order = ["A", "B"] if r % 2 == 0 else ["B", "A"]
            for shape in shapes:
                line = []
                for side in order:
                    value = measure(sides[side], shape, settings)
                    results.setdefault((shape, side), []).append(value)
                    line.append(f"{side} {value:,.0f}")
                print(f"[round {r + 1}/{args.rounds}] {shape:9} " + " | ".join(line),
                      flush=True)
    finally:
        for daemon in sides.values():
            daemon.stop()
    print()
    print(f"A: {' '.join(args.a_arg) or '(defaults)'}"
          f" from {args.a_source or 'this tree'}")
    print(f"B: {' '.join(args.b_arg) or '(defaults)'}"
          f" from {args.b_source or 'this tree'}")
    print(f"{args.rounds} rounds x {args.seconds:g} s; calls/s, or us for -p50")
    print(f"{'shape':9}  {'A median':>9}  {'B median':>9}  {'B/A':>5}"
          f"  {'A mean':>9}  {'B mean':>9}")
    for shape in shapes:
        a, b = results[(shape, "A")], results[(shape, "B")]
        ma, mb = statistics.median(a), statistics.median(b)
        print(f"{shape:9}  {ma:9,.0f}  {mb:9,.0f}  {mb / ma:5.2f}"
              f"  {statistics.mean(a):9,.0f}  {statistics.mean(b):9,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
