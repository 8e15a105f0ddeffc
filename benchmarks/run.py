"""
virtd side by side with libvirt 9.0.0: the benchmark harness of issue 7.

Starts a private libvirtd (test driver) and a private C{twistd -n virtd}
on the same kinds of sockets (unix, tcp, tls with one PKI), runs every
case against both, alternating the order, for several rounds, and prints
the medians and the ratio ours/theirs with each target from issue 7.

    .venv/bin/python benchmarks/run.py                 # full: 3 rounds x 3 s
    .venv/bin/python benchmarks/run.py --quick         # smoke: 1 round x 1 s
    .venv/bin/python benchmarks/run.py --cases D1,C2 --rounds 5 --seconds 5
    .venv/bin/python benchmarks/run.py --cases D4 --idle 10000
    .venv/bin/python benchmarks/run.py --docs          # refresh docs/benchmarks*

Cases: D1 daemon throughput, D2 daemon latency, D3 connection setup, D4
idle connections, C1 client throughput, C2 client latency, X1 codec (see
benchmarks/README.md). Writes results.json, table.txt and benchmarks.png
to --out (default benchmarks/results/). Exits 1 if a measurement failed
(a missed target is not a failure).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(HERE)]

from bench.cases import (  # noqa: E402
    Environment,
    Measurement,
    Settings,
    allMeasurements,
    select,
)
from bench.daemons import raiseFileLimit  # noqa: E402
from bench.report import (  # noqa: E402
    formatValue,
    rstTable,
    summarise,
    textTable,
    writeChart,
    writeJSON,
)

LEGEND = """\
Sides: D1-D4 ours = twistd virtd, theirs = libvirtd 9.0.0, both loaded by the same
libvirt-python clients; C1-C2 ours = virtd's client, theirs = libvirt-python, both
against the same libvirtd; X1 ours = virtd's XDR codec, theirs = struct code by hand.
Values are medians over the rounds; 'per round' is the lowest and highest ratio of
one round's two measurements (the noise); 'better' says which way the ratio should go."""


def parseArgs(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Benchmark virtd against libvirt 9.0.0 side by side (issue 7).")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 round of 1 s, 200 idle connections")
    ap.add_argument("--cases", metavar="LIST",
                    help="comma-separated cases (D1,D2,D3,D4,C1,C2,X1) or keys "
                         "(D1-unix-8x1); default: all")
    ap.add_argument("--rounds", type=int, help="rounds per case (default 3; quick 1)")
    ap.add_argument("--seconds", type=float,
                    help="measuring window per side per round (default 3; quick 1)")
    ap.add_argument("--slices", type=int,
                    help="D1: cut each side's window into this many slices, taken "
                         "in turns with the other side's (default 1: each window "
                         "in one go; see docs/benchmarks.rst)")
    ap.add_argument("--idle", type=int,
                    help="idle connections held in D4 (default 2000; quick 200)")
    ap.add_argument("--inflight", type=int, default=32,
                    help="calls virtd's client keeps in flight in C1 (default 32)")
    ap.add_argument("--procs", type=int, default=2,
                    help="load generator processes for D1's 8 threads on 8 "
                         "connections (default 2)")
    ap.add_argument("--split-cpus", action="store_true",
                    help="C1, C2: run libvirtd on the first CPU and the clients on "
                         "the others, as on two hosts (a diagnostic: when "
                         "libvirtd's CPU is full, it is what limits the row)")
    ap.add_argument("--virtd-arg", action="append", default=[], metavar="ARG",
                    help="extra 'twistd virtd' option, repeatable (e.g. "
                         "--virtd-arg=--workers=8) to compare settings")
    ap.add_argument("--out", default=str(HERE / "results"),
                    help="directory for results.json, table.txt, benchmarks.png")
    ap.add_argument("--docs", action="store_true",
                    help="also write docs/benchmarks.png and docs/benchmarks-results.inc")
    ap.add_argument("--no-chart", action="store_true", help="skip the PNG")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print every round's values and diagnostics")
    args = ap.parse_args(argv)
    for name in ("rounds", "slices", "idle", "inflight", "procs"):
        value = getattr(args, name)
        if value is not None and value < 1:
            ap.error(f"--{name} must be at least 1")
    if args.seconds is not None and args.seconds <= 0:
        ap.error("--seconds must be positive")
    return args


def makeSettings(args: argparse.Namespace) -> Settings:
    """
    @return: the L{Settings} the options ask for.
    """
    quick = args.quick
    return Settings(
        rounds=args.rounds or (1 if quick else 3),
        seconds=args.seconds or (1.0 if quick else 3.0),
        slices=args.slices or 1,
        idle=args.idle or (200 if quick else 2000),
        inflight=args.inflight,
        procs=args.procs,
        codecSeconds=0.2 if quick else 1.5,
        virtdArgs=tuple(args.virtd_arg),
        splitCPUs=args.split_cpus,
    )


def _brief(m: Measurement, values: object) -> str:
    if isinstance(values, Exception):
        return f"ERROR {type(values).__name__}: {str(values).splitlines()[0][:200]}"
    assert isinstance(values, dict)
    return ", ".join(
        f"{metric.key} {formatValue(values.get(metric.key, float('nan')), metric.unit)}"
        for metric in m.metrics)


def runAll(measurements: list[Measurement], env: Environment,
           log=print) -> dict[str, dict[str, list]]:
    """
    Run every measurement for every round (round by round, so slow drift
    of the machine spreads over all cases).

    @return: C{results[key][side]}: a list of per-round values or
        exceptions.
    """
    s = env.settings
    results: dict[str, dict[str, list]] = {m.key: {"ours": [], "theirs": []}
                                           for m in measurements}
    for r in range(s.rounds):
        for m in measurements:
            if m.onceOnly and r:
                continue
            t0 = time.monotonic()
            out = m.measureRound(env, r)
            for side in ("ours", "theirs"):
                results[m.key][side].append(out[side])
            log(f"[round {r + 1}/{s.rounds}] {m.key:<14} "
                f"ours: {_brief(m, out['ours'])} | theirs: {_brief(m, out['theirs'])} "
                f"({time.monotonic() - t0:.1f}s)")
    return results


def diagnostics(measurements: list[Measurement], results: dict) -> list[str]:
    """
    @return: lines about where the time goes: daemon CPU per call and the
        load generators' CPU (near 1.0 per process means the client, not
        the daemon, may be the limit).
    """
    lines = []
    for m in measurements:
        for side in ("ours", "theirs"):
            diags = [v["diag"] for v in results[m.key][side]
                     if isinstance(v, dict) and "diag" in v]
            if not diags or "output" in diags[0]:
                continue
            d = diags[len(diags) // 2]
            parts = [f"{k}={_fmt(v)}" for k, v in d.items()]
            lines.append(f"{m.key:<14} {side:<6} " + " ".join(parts))
        ceiling = cpuCeiling(results[m.key], os.cpu_count() or 1)
        if ceiling:
            lines.append(f"{m.key:<14} {ceiling}")
    return lines


def cpuCeiling(result: dict, cpus: int) -> str | None:
    """
    For a case where the daemon and the client share the machine: the rate
    each side could reach if every CPU were busy with it, from the median
    daemon and client CPU time per call (C{cpus} / (daemon + client)), and
    the ratio of the two: the most a change on our side can show on this
    machine while the daemon's cost per call stays what it is.

    @return: a line, or C{None} when the rounds lack client CPU figures.
    """
    if any(isinstance(v, dict) and v.get("diag", {}).get("splitCPUs")
           for v in result.get("ours", ())):
        return None  # no shared CPUs to divide
    ceilings = {}
    for side in ("ours", "theirs"):
        costs = sorted(v["diag"]["daemonUsPerCall"] + v["diag"]["clientUsPerCall"]
                       for v in result.get(side, ())
                       if isinstance(v, dict) and "clientUsPerCall" in v.get("diag", {}))
        if not costs:
            return None
        ceilings[side] = cpus / (costs[len(costs) // 2] * 1e-6)
    return (f"ceiling  {cpus} CPUs / (daemon + client CPU per call): ours "
            f"{ceilings['ours']:,.0f}, theirs {ceilings['theirs']:,.0f} calls/s, "
            f"ratio {ceilings['ours'] / ceilings['theirs']:.2f}")


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}" if v < 100 else f"{v:,.0f}"
    return str(v)


def machine() -> str:
    """
    @return: one line about the machine and software measured on.
    """
    try:
        version = subprocess.run(["/usr/sbin/libvirtd", "--version"], capture_output=True,
                                 text=True, timeout=10).stdout.strip()
    except OSError:
        version = "libvirtd: not found"
    load = os.getloadavg()[0]
    return (f"{version}; Python {platform.python_version()}; {os.cpu_count()} CPUs; "
            f"load average {load:.2f} at start")


def main(argv: list[str]) -> int:
    args = parseArgs(argv)
    settings = makeSettings(args)
    try:
        measurements = select(allMeasurements(), args.cases)
    except ValueError as e:
        print(f"benchmarks/run.py: {e}", file=sys.stderr)
        return 2
    raiseFileLimit()
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "benchmarks/run.py " + " ".join(shlex.quote(a) for a in argv)
    about = machine()
    print(f"virtd benchmarks, {started}: {settings.rounds} round(s) x {settings.seconds:g} s "
          f"per side; {about}", flush=True)
    env = Environment(settings)
    try:
        results = runAll(measurements, env, log=lambda line: print(line, flush=True))
    finally:
        env.close()
    rows = summarise(measurements, results)
    table = textTable(rows)
    print()
    print(table)
    print()
    print(LEGEND)
    for note in env.notes:
        print(f"note: {note}")
    diag = diagnostics(measurements, results)
    if diag and (args.verbose or not args.quick):
        print("\nDiagnostics (the middle round): rate, clientCpu per load process (1.0 = one "
              "core), daemonCpu (cores), daemonUsPerCall (daemon CPU us per call):")
        print("\n".join(diag))
    errors = [r for r in rows if r.error]
    for r in errors:
        print(f"error in {r.key}: {r.error}", file=sys.stderr)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    header = (f"{started}; command: {command}; {settings.rounds} round(s) x "
              f"{settings.seconds:g} s per side; {about}")
    (out / "table.txt").write_text(f"{header}\n\n{table}\n\n{LEGEND}\n")
    writeJSON(str(out / "results.json"),
              {"started": started, "command": command, "machine": about,
               "settings": vars(settings), "notes": env.notes, "results": results}, rows)
    title = f"virtd / libvirt 9.0.0, {started}"
    if not args.no_chart:
        writeChart(rows, str(out / "benchmarks.png"), title)
        print(f"\nwrote {out / 'table.txt'}, {out / 'results.json'}, {out / 'benchmarks.png'}")
    if args.docs:
        docs = REPO / "docs"
        writeChart(rows, str(docs / "benchmarks.png"), title)
        (docs / "benchmarks-results.inc").write_text(
            f"Measured {started} with ``{command}``: {settings.rounds} round(s) x "
            f"{settings.seconds:g} s per side; {about}.\n\n{rstTable(rows)}\n")
        print(f"wrote {docs / 'benchmarks.png'} and {docs / 'benchmarks-results.inc'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
