"""
The cases of issue 7. Each L{Measurement} is run once per round against
each side and yields one value per L{Metric}; the report takes medians over
the rounds and the ratio ours/theirs.

Sides: for the daemon cases (D*) "ours" is C{twistd virtd} and "theirs" is
libvirtd, both driven by the same libvirt-python load; for the client
cases (C*) both sides talk to the same real libvirtd and "ours" is virtd's
client, "theirs" libvirt-python; for X1 "ours" is virtd's XDR codec and
"theirs" hand-written C{struct} code.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench.calls import callsOutcome, callsSpec, joinSlices, runCalls, runClientCalls
from bench.daemons import (
    DaemonPair,
    VirtdDaemon,
    cpuSeconds,
    raiseFileLimit,
    rssBytes,
)
from bench.runner import LoadProcess, runInterleaved
from bench.stats import Target
from tests.support import RealLibvirtd

__all__ = ["Environment", "Measurement", "Metric", "Settings", "allMeasurements"]

SIDES = ("ours", "theirs")
#: Most libvirt-python connections one load generator holds (2 fds each).
IDLE_PER_PROCESS = 2500


@dataclass
class Settings:
    """
    How long and how hard to run.

    @ivar rounds: rounds per measurement (medians are taken over them).
    @ivar seconds: measuring window per side per round.
    @ivar slices: D1 cuts each side's window into this many slices and
        takes them in turns with the other side's (see
        L{bench.runner.runInterleaved}); 1 measures each side in one go.
    @ivar idle: idle connections held in D4.
    @ivar inflight: calls virtd's client keeps in flight in C1.
    @ivar procs: load generator processes for "8 threads on 8
        connections" (the threads are split evenly).
    @ivar codecSeconds: C{--seconds} passed to C{benchmarks/codec.py}.
    @ivar virtdArgs: extra C{twistd virtd} options (to compare settings).
    @ivar splitCPUs: C1 and C2 run libvirtd on the first CPU and the
        clients on the others (L{bench.placement}).
    """

    rounds: int = 3
    seconds: float = 3.0
    slices: int = 1
    idle: int = 2000
    inflight: int = 32
    procs: int = 2
    codecSeconds: float = 1.5
    virtdArgs: tuple[str, ...] = ()
    splitCPUs: bool = False


@dataclass(frozen=True)
class Metric:
    """
    One number a measurement yields per side.

    @ivar key: its key in the measurement's values.
    @ivar label: the row label in the table.
    @ivar unit: e.g. C{"calls/s"}.
    @ivar target: the goal for ours/theirs.
    """

    key: str
    label: str
    unit: str
    target: Target


@dataclass
class Environment:
    """
    What measurements share: the settings and the daemons, started on
    first use and stopped by L{close}.
    """

    settings: Settings
    pair: DaemonPair | None = None
    notes: list[str] = field(default_factory=list)

    def daemons(self) -> DaemonPair:
        """
        @return: the started L{DaemonPair} (unix, tcp and tls on both).
        """
        if self.pair is None:
            raiseFileLimit()
            self.pair = DaemonPair(tcp=True, tls=True,
                                   virtdArgs=self.settings.virtdArgs).start()
            if self.pair.oursError:
                self.notes.append(f"virtd did not start: {self.pair.oursError}")
        return self.pair

    def daemonFor(self, side: str) -> Any:
        """
        @param side: C{"ours"} or C{"theirs"}.
        @return: that side's daemon.
        @raise RuntimeError: if virtd is not running.
        """
        pair = self.daemons()
        daemon = pair.ours if side == "ours" else pair.theirs
        if daemon is None:
            raise RuntimeError("virtd is not running (see the notes)")
        return daemon

    def close(self) -> None:
        """
        Stop the daemons.
        """
        if self.pair is not None:
            self.pair.stop()
            self.pair = None


class Measurement:
    """
    A measurement; subclasses implement L{measure}.

    @ivar key: unique id, e.g. C{"D1-unix-8x1"}.
    @ivar case: the case it belongs to, e.g. C{"D1"}.
    @ivar title: what is measured.
    @ivar sideNames: what "ours" and "theirs" are.
    @ivar metrics: the numbers it yields.
    @ivar onceOnly: run in the first round only (X1 times itself).
    """

    key = ""
    case = ""
    title = ""
    sideNames = ("virtd", "libvirtd")
    metrics: tuple[Metric, ...] = ()
    onceOnly = False

    def measure(self, side: str, env: Environment) -> dict[str, Any]:
        """
        @param side: C{"ours"} or C{"theirs"}.
        @param env: the shared environment.
        @return: a value per metric key, plus C{"diag"}: a dict of
            diagnostics for the verbose report.
        """
        raise NotImplementedError

    def measureRound(self, env: Environment, roundNo: int) -> dict[str, Any]:
        """
        Measure both sides, the order alternating with the round.

        @return: C{{"ours": values or exception, "theirs": ...}}.
        """
        order = SIDES if roundNo % 2 else SIDES[::-1]
        out: dict[str, Any] = {}
        for side in order:
            try:
                out[side] = self.measure(side, env)
            except Exception as e:  # recorded; the run goes on
                out[side] = e
        return out


# -- D1, D2, D3: the daemons under libvirt-python load ------------------------

class DaemonThroughput(Measurement):
    """
    D1: C{dom.info()} calls per second from libvirt-python clients.
    """

    case = "D1"
    SHAPES = {"1x1": "1 thread", "8x8": "8 threads, 8 conns", "8x1": "8 threads, 1 conn"}

    def __init__(self, transport: str, shape: str) -> None:
        self.transport, self.shape = transport, shape
        self.key = f"D1-{transport}-{shape}"
        self.title = f"dom.info() {transport}, {self.SHAPES[shape]}"
        # The target covers unix and tcp; TLS rows are information.
        limit = None if transport == "tls" else 1.0
        self.metrics = (Metric("rate", self.title, "calls/s", Target(True, limit)),)

    def specs(self, uri: str, s: Settings) -> list[dict[str, Any]]:
        """
        @return: the load generators for this shape.
        """
        if self.shape == "1x1":
            return [callsSpec(uri, "libvirt", "info", seconds=s.seconds)]
        if self.shape == "8x1":
            return [callsSpec(uri, "libvirt", "info", threads=8, seconds=s.seconds)]
        procs = max(1, min(8, s.procs))
        share = [8 // procs + (i < 8 % procs) for i in range(procs)]
        return [callsSpec(uri, "libvirt", "info", threads=n, connections=n,
                          seconds=s.seconds) for n in share]

    def measure(self, side: str, env: Environment) -> dict[str, Any]:
        daemon = env.daemonFor(side)
        return runCalls(self.specs(daemon.uri(self.transport), env.settings),
                        daemon.process.pid, env.settings.seconds)

    def measureRound(self, env: Environment, roundNo: int) -> dict[str, Any]:
        """
        With L{Settings.slices} above 1, both sides' clients connect at
        once and the window is cut into slices taken in turns (see
        L{runInterleaved}); otherwise one whole window per side.
        """
        s = env.settings
        if s.slices <= 1:
            return super().measureRound(env, roundNo)
        try:
            daemons = {side: env.daemonFor(side) for side in SIDES}
        except Exception as e:
            return {side: e for side in SIDES}
        share = s.seconds / s.slices
        groups = {}
        for side, daemon in daemons.items():
            specs = self.specs(daemon.uri(self.transport), s)
            for spec in specs:
                spec.update(seconds=share, slices=s.slices)
            groups[side] = specs
        pids = {side: daemon.process.pid for side, daemon in daemons.items()}
        order = SIDES if roundNo % 2 else SIDES[::-1]
        try:
            taken = runInterleaved(groups, share, s.slices, order,
                                   lambda side: cpuSeconds(pids[side]))
        except Exception as e:  # recorded; the run goes on
            return {side: e for side in SIDES}
        out: dict[str, Any] = {}
        for side in SIDES:
            results, daemonCpu = joinSlices(taken[side])
            try:
                out[side] = callsOutcome(results, daemonCpu, s.seconds)
            except Exception as e:
                out[side] = e
            else:
                out[side]["diag"]["slices"] = len(taken[side])
        return out


class DaemonLatency(Measurement):
    """
    D2: p50 and p99 of C{dom.info()} from one libvirt-python client.
    """

    case = "D2"

    def __init__(self, transport: str) -> None:
        self.transport = transport
        self.key = f"D2-{transport}"
        self.title = f"dom.info() latency, {transport}, 1 client"
        self.metrics = (
            Metric("p50", f"dom.info() {transport} p50", "ms", Target(False, 1.2)),
            Metric("p99", f"dom.info() {transport} p99", "ms", Target(False)),
        )

    def measure(self, side: str, env: Environment) -> dict[str, Any]:
        daemon = env.daemonFor(side)
        spec = callsSpec(daemon.uri(self.transport), "libvirt", "info",
                         seconds=env.settings.seconds, latency=True)
        return runCalls([spec], daemon.process.pid, env.settings.seconds)


class ConnectionSetup(Measurement):
    """
    D3: libvirt-python C{open()} + C{close()} per second, one client.
    """

    case = "D3"

    def __init__(self, transport: str) -> None:
        self.transport = transport
        self.key = f"D3-{transport}"
        self.title = f"open+close, {transport}"
        self.metrics = (Metric("rate", self.title, "opens/s", Target(True, 1.0)),)

    def measure(self, side: str, env: Environment) -> dict[str, Any]:
        daemon = env.daemonFor(side)
        spec = {"mode": "openclose", "uri": daemon.uri(self.transport),
                "seconds": env.settings.seconds}
        return runCalls([spec], daemon.process.pid, env.settings.seconds)


# -- D4: idle connections ------------------------------------------------------

class IdleConnections(Measurement):
    """
    D4: daemon memory per idle connection. Each side gets a fresh daemon
    (unix socket only) per round, warmed up by 20 open+close, so that
    memory freed by earlier cases does not hide the cost.
    """

    case = "D4"
    key = "D4-unix"

    def __init__(self) -> None:
        self.title = "idle connections, unix"
        self.metrics = (
            Metric("perConn", "daemon RSS per idle conn", "bytes", Target(False, 1.5)),
        )

    def measure(self, side: str, env: Environment) -> dict[str, Any]:
        count = env.settings.idle
        raiseFileLimit()
        maxClients = max(5000, count + 100)
        daemon: Any
        if side == "ours":
            daemon = VirtdDaemon(tcp=False, maxClients=maxClients,
                                 extraArgs=env.settings.virtdArgs)
        else:
            daemon = RealLibvirtd(tcp=False, extraConfig={
                "max_clients": maxClients, "max_anonymous_clients": maxClients})
        daemon.start()
        procs: list[LoadProcess] = []
        try:
            pid = daemon.process.pid
            chunks = [IDLE_PER_PROCESS] * (count // IDLE_PER_PROCESS)
            if count % IDLE_PER_PROCESS:
                chunks.append(count % IDLE_PER_PROCESS)
            uri = daemon.uri("unix")
            procs = [LoadProcess({"mode": "idle", "uri": uri, "count": n, "warm": 20})
                     for n in chunks]
            for p in procs:
                p.expect("WARM", 60)
            time.sleep(0.5)
            before = rssBytes(pid)
            t0 = time.monotonic()
            for p in procs:
                p.send("OPEN")
            for p in procs:
                p.expect("READY", 120 + count / 20)
            openTime = time.monotonic() - t0
            time.sleep(1.0)  # let the daemon settle (threads, buffers)
            after = rssBytes(pid)
            for p in procs:
                p.send("CLOSE")
            for p in procs:
                p.expect("RESULT", 120)
        finally:
            for p in procs:
                p.close()
            daemon.stop()
        return {"perConn": (after - before) / count,
                "diag": {"connections": count, "rssBefore": before, "rssAfter": after,
                         "openRate": count / openTime}}


# -- C1, C2: the clients against the real libvirtd ------------------------------

class ClientThroughput(Measurement):
    """
    C1: calls per second from one virtd client process (many calls in
    flight on one connection) vs libvirt-python with 8 threads on one
    connection, both against the same real libvirtd over unix.
    """

    case = "C1"
    sideNames = ("virtd client", "libvirt-python")
    OPS = {"info": "dom.info()", "list": "listAllDomains()"}

    def __init__(self, op: str) -> None:
        self.op = op
        self.key = f"C1-{op}"
        self.title = f"client {self.OPS[op]}, unix"
        self.metrics = (Metric("rate", self.title, "calls/s", Target(True, 1.5)),)

    def measure(self, side: str, env: Environment) -> dict[str, Any]:
        daemon = env.daemons().theirs
        assert daemon is not None
        s = env.settings
        uri = daemon.uri("unix")
        if side == "ours":
            spec = callsSpec(uri, "virtd", self.op, inflight=s.inflight, seconds=s.seconds)
        else:
            spec = callsSpec(uri, "libvirt", self.op, threads=8, seconds=s.seconds)
        return runClientCalls(spec, daemon.process.pid, s.seconds, s.splitCPUs)


class ClientLatency(Measurement):
    """
    C2: one C{dom.info()} at a time, virtd's client vs libvirt-python,
    against the same real libvirtd over unix.
    """

    case = "C2"
    key = "C2-unix"
    sideNames = ("virtd client", "libvirt-python")

    def __init__(self) -> None:
        self.title = "client dom.info() latency, unix"
        self.metrics = (
            Metric("p50", "client dom.info() p50", "ms", Target(False, 1.2)),
            Metric("p99", "client dom.info() p99", "ms", Target(False)),
        )

    def measure(self, side: str, env: Environment) -> dict[str, Any]:
        daemon = env.daemons().theirs
        assert daemon is not None
        s = env.settings
        spec = callsSpec(daemon.uri("unix"), "virtd" if side == "ours" else "libvirt",
                         "info", seconds=s.seconds, latency=True)
        return runClientCalls(spec, daemon.process.pid, s.seconds, s.splitCPUs)


# -- X1: the codec ---------------------------------------------------------------

CODEC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "codec.py")


def parseCodecTable(text: str) -> dict[str, tuple[float, float]]:
    """
    Read C{benchmarks/codec.py}'s table.

    @param text: its stdout.
    @return: workload name -> (ours per second, by hand per second).
    """
    rows: dict[str, tuple[float, float]] = {}
    for line in text.splitlines():
        cols = re.split(r"\s{2,}", line.strip())
        if len(cols) < 7:
            continue
        try:
            ours = float(cols[2].replace(",", ""))
            hand = float(cols[4].replace(",", ""))
        except ValueError:
            continue  # the header
        rows[cols[0]] = (ours, hand)
    return rows


class Codec(Measurement):
    """
    X1: C{benchmarks/codec.py}, run once; its rows become metrics (ours:
    virtd's codec, theirs: hand-written C{struct} code).
    """

    case = "X1"
    key = "X1-codec"
    title = "XDR encode+decode"
    sideNames = ("virtd codec", "struct by hand")
    onceOnly = True
    WORKLOADS = ("1 MiB string", "16384-domain list", "28-byte header frame")

    def __init__(self) -> None:
        self.metrics = tuple(
            Metric(name, f"codec {name}", "ops/s", Target(True)) for name in self.WORKLOADS)

    def measureRound(self, env: Environment, roundNo: int) -> dict[str, Any]:
        argv = [sys.executable, CODEC, "--seconds", f"{env.settings.codecSeconds:g}"]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
            if done.returncode:
                raise RuntimeError(f"{' '.join(argv)} exited with status "
                                   f"{done.returncode}: {done.stderr.strip()[-2000:]}")
            rows = parseCodecTable(done.stdout)
            if not rows:
                raise RuntimeError(f"could not read codec.py's table:\n{done.stdout}")
        except Exception as e:
            return {"ours": e, "theirs": e}
        ours = {name: rows.get(name, (math.nan, math.nan))[0] for name in self.WORKLOADS}
        theirs = {name: rows.get(name, (math.nan, math.nan))[1] for name in self.WORKLOADS}
        return {"ours": {**ours, "diag": {"output": done.stdout}}, "theirs": theirs}


def allMeasurements() -> list[Measurement]:
    """
    @return: every measurement, in report order.
    """
    return [
        *(DaemonThroughput(t, shape) for t in ("unix", "tcp") for shape in ("1x1", "8x8", "8x1")),
        DaemonThroughput("tls", "1x1"), DaemonThroughput("tls", "8x1"),
        DaemonLatency("unix"), DaemonLatency("tcp"),
        ConnectionSetup("unix"), ConnectionSetup("tls"),
        IdleConnections(),
        ClientThroughput("info"), ClientThroughput("list"),
        ClientLatency(),
        Codec(),
    ]


def select(measurements: list[Measurement], wanted: str | None) -> list[Measurement]:
    """
    @param wanted: comma-separated case ids or measurement keys
        (C{"D1,C2"}, C{"D1-unix-1x1"}), or L{None} for all.
    @return: the chosen measurements.
    @raise ValueError: for a name that matches nothing.
    """
    if not wanted:
        return measurements
    names = [w.strip() for w in wanted.split(",") if w.strip()]
    chosen = [m for m in measurements
              if any(n.upper() == m.case or n == m.key for n in names)]
    known = {m.case for m in measurements} | {m.key for m in measurements}
    unknown = [n for n in names if n.upper() not in known and n not in known]
    if unknown:
        raise ValueError(f"unknown case(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(sorted({m.case for m in measurements}))} "
                         f"or a key such as {measurements[0].key}")
    return chosen
