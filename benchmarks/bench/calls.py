"""
Calls-per-second load: the specs of C{calls} load generators, and how
their results become one side's rate, latencies and diagnostics.
"""

from __future__ import annotations

import math
from typing import Any

from bench.daemons import cpuSeconds
from bench.placement import confined
from bench.runner import runLoad

__all__ = ["callsOutcome", "callsSpec", "joinSlices", "runCalls", "runClientCalls"]


def callsSpec(uri: str, client: str, op: str, threads: int = 1, connections: int = 1,
              inflight: int = 1, seconds: float = 1.0, latency: bool = False,
              slices: int = 1, cpus: list[int] | None = None) -> dict[str, Any]:
    """
    @return: the spec of a C{calls} load generator (see L{bench.loadgen}).
    """
    return {"mode": "calls", "client": client, "uri": uri, "op": op,
            "threads": threads, "connections": connections, "inflight": inflight,
            "seconds": seconds, "latency": latency, "slices": slices, "cpus": cpus}


def runCalls(specs: list[dict[str, Any]], pid: int, seconds: float) -> dict[str, Any]:
    """
    Run load generators against the daemon C{pid} and sum their rates.
    """
    results, samples = runLoad(specs, seconds, sample=lambda: cpuSeconds(pid))
    assert samples is not None
    return callsOutcome(results, samples[1] - samples[0], seconds)


def runClientCalls(spec: dict[str, Any], pid: int, seconds: float,
                   split: bool) -> dict[str, Any]:
    """
    Run one client case's load generator against libvirtd C{pid}; with
    C{split}, each on CPUs of its own (L{bench.placement.confined}).
    """
    with confined(pid, split) as cpus:
        out = runCalls([dict(spec, cpus=cpus)], pid, seconds)
    if cpus is not None:
        out["diag"]["splitCPUs"] = True
    return out


def callsOutcome(results: list[dict[str, Any]], daemonCpu: float,
                 seconds: float) -> dict[str, Any]:
    """
    The rate, latencies and diagnostics of one side's load generators.

    @param results: one result per load generator.
    @param daemonCpu: the daemon's CPU seconds over the window.
    @param seconds: the window's length.
    @raise RuntimeError: if any call failed.
    """
    errors = sum(r["errors"] for r in results)
    if errors:
        first = next(r["firstError"] for r in results if r["firstError"])
        raise RuntimeError(f"{errors} calls failed, first: {first}")
    rate = sum(r["calls"] / r["elapsed"] for r in results)
    diag = {
        "rate": rate,
        "clientCpu": [round(r["clientCpu"], 2) for r in results],
        "daemonCpu": daemonCpu / seconds,
        "daemonUsPerCall": daemonCpu / (rate * seconds) * 1e6 if rate else math.nan,
        "clientUsPerCall": (sum(r["clientCpu"] for r in results) / rate * 1e6
                            if rate else math.nan),
    }
    out: dict[str, Any] = {"rate": rate, "diag": diag}
    if len(results) == 1 and "p50" in results[0]:
        out.update(p50=results[0]["p50"], p99=results[0]["p99"])
    return out


def joinSlices(slices: list[tuple[list[dict[str, Any]], tuple[Any, Any]]]
               ) -> tuple[list[dict[str, Any]], float]:
    """
    One result per load generator, and the daemon's CPU seconds, out of
    the slices of L{runInterleaved}: calls, time and CPU added up.
    """
    joined = []
    for each in zip(*(results for results, _ in slices), strict=True):
        elapsed = sum(r["elapsed"] for r in each)
        joined.append({
            "calls": sum(r["calls"] for r in each),
            "elapsed": elapsed,
            "errors": max(r["errors"] for r in each),
            "firstError": next((r["firstError"] for r in each if r["firstError"]), None),
            "clientCpu": sum(r["clientCpu"] * r["elapsed"] for r in each) / elapsed,
        })
    daemonCpu = sum(after - before for _, (before, after) in slices)
    return joined, daemonCpu
