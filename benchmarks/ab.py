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
same over C{tcp}, C{tls-1x1} and C{tls-8x1}, plus C{unix-p50} /
C{tcp-p50} (D2's one-client latency, in microseconds) and C{unix-open} /
C{tls-open} (D3's open+close per second). Both daemons listen for TLS
with a PKI made for the run. The 8-client shapes move by 20-30 % from
round to round on a busy two-core machine: use several rounds and
compare medians.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from bench.calls import callsSpec, runCalls  # noqa: E402
from bench.cases import DaemonThroughput, Settings  # noqa: E402
from bench.daemons import VirtdDaemon  # noqa: E402

from tests.support import removeTree, shortTempDir  # noqa: E402
from virtd.pki import initPKI  # noqa: E402

SHAPES = ["unix-1x1", "unix-8x8", "unix-8x1", "tcp-1x1", "tcp-8x8", "tcp-8x1",
          "unix-p50"]
#: Shapes measured only when asked for.
MORE_SHAPES = ["tcp-p50", "tls-1x1", "tls-8x1", "unix-open", "tls-open"]


def measure(daemon: VirtdDaemon, shape: str, settings: Settings) -> float:
    """
    One measurement of C{shape} against C{daemon}: calls per second, or
    for a C{-p50} shape the median latency in microseconds.
    """
    transport, kind = shape.split("-")
    uri = daemon.uri(transport)
    assert daemon.process is not None
    if kind == "p50":
        spec = callsSpec(uri, "libvirt", "info", seconds=settings.seconds,
                         latency=True)
        return runCalls([spec], daemon.process.pid, settings.seconds)["p50"] * 1000
    if kind == "open":
        spec = {"mode": "openclose", "uri": uri, "seconds": settings.seconds}
        return runCalls([spec], daemon.process.pid, settings.seconds)["rate"]
    specs = DaemonThroughput(transport, kind).specs(uri, settings)
    return runCalls(specs, daemon.process.pid, settings.seconds)["rate"]


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
                        help="comma-separated, from: " + ", ".join(SHAPES + MORE_SHAPES))
    args = parser.parse_args(argv[1:])
    shapes = [s for s in args.shapes.split(",") if s]
    for shape in shapes:
        if shape not in SHAPES + MORE_SHAPES:
            parser.error(f"unknown shape {shape!r}")
    settings = Settings(rounds=args.rounds, seconds=args.seconds)
    pkiDir = shortTempDir("vdab")
    try:
        return _run(args, shapes, settings, pkiDir)
    finally:
        removeTree(pkiDir)


def _run(args: argparse.Namespace, shapes: list[str], settings: Settings,
         pkiDir: str) -> int:
    layout = initPKI(pkiDir)
    sides = {
        side: VirtdDaemon(tls=True, pkiPath=layout.serverDir, clientPki=layout.clientDir,
                          extraArgs=tuple(extra), source=source)
        for side, extra, source in (("A", args.a_arg, args.a_source),
                                    ("B", args.b_arg, args.b_source))
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
    print(f"{args.rounds} rounds x {args.seconds:g} s; calls/s, us for -p50, "
          f"opens/s for -open")
    print(f"{'shape':9}  {'A median':>9}  {'B median':>9}  {'B/A':>5}"
          f"  {'A mean':>9}  {'B mean':>9}")
    for shape in shapes:
        a, b = results[(shape, "A")], results[(shape, "B")]
        ma, mb = statistics.median(a), statistics.median(b)
        ratio = mb / ma if ma else math.nan  # A may have served nothing
        print(f"{shape:9}  {ma:9,.0f}  {mb:9,.0f}  {ratio:5.2f}"
              f"  {statistics.mean(a):9,.0f}  {statistics.mean(b):9,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
