"""
The load generator: one child process per client population, driven by
the harness over a line protocol so that every process starts and stops
measuring together.

    python benchmarks/bench/loadgen.py '<json spec>'

stdout, one line each: C{READY <json>} when connected and warmed up (the
harness then writes C{GO}), C{RESULT <json>} at the end, C{ERROR <text>}
on failure. The C{idle} mode also prints C{WARM} and waits for C{OPEN}
first, and waits for C{CLOSE} after C{READY}.

Modes (C{spec["mode"]}):
  - C{calls}: C{threads} libvirt-python threads over C{connections}
    connections (C{client="libvirt"}), or virtd's client with C{inflight}
    calls in flight over C{connections} connections (C{client="virtd"}),
    calling C{op} (C{"info"}: C{dom.info()}; C{"list"}:
    C{conn.listAllDomains()}) for C{seconds}; with C{latency}, every
    call's duration is recorded and p50/p99 reported. With C{cpus} (a
    list), the process runs only on those CPUs. With C{slices} N
    (libvirt-python only), it measures N windows of C{seconds}, each
    after its own C{GO} and ending in its own C{RESULT}, idle in between;
  - C{openclose}: libvirt-python C{open()} + C{close()} in a loop;
  - C{idle}: open C{count} libvirt-python connections and hold them.

A result always has C{calls} (or C{opens}), C{elapsed}, C{errors},
C{firstError} and C{clientCpu} (CPU seconds of this process during the
window divided by its length: 1.0 is one core kept busy).
"""

from __future__ import annotations

import json
import math
import os
import resource
import sys
import threading
import time
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WARMUP_CALLS = 50


def emit(tag: str, payload: Any = None) -> None:
    """
    Write one protocol line to stdout.
    """
    line = tag if payload is None else f"{tag} {json.dumps(payload)}"
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def expect(word: str) -> None:
    """
    Block until the harness writes C{word} on stdin.

    @raise SystemExit: if stdin closes or says something else.
    """
    line = sys.stdin.readline().strip()
    if line != word:
        raise SystemExit(f"loadgen: expected {word!r} from the harness, got {line!r}")


def cpuNow() -> float:
    """
    @return: this process's user + system CPU seconds so far.
    """
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def latencySummary(samples: list[int]) -> dict[str, float]:
    """
    @param samples: call durations in nanoseconds.
    @return: p50, p99 and mean in milliseconds (nearest-rank).
    """
    if not samples:
        return {}
    samples.sort()
    n = len(samples)

    def rank(p: float) -> float:
        return samples[min(max(1, math.ceil(p * n / 100)), n) - 1] / 1e6

    return {"p50": rank(50), "p99": rank(99), "mean": sum(samples) / n / 1e6,
            "samples": n}


# -- libvirt-python ----------------------------------------------------------

def _libvirt() -> Any:
    import libvirt

    # libvirt prints every error to stderr by default; the result counts them.
    libvirt.registerErrorHandler(lambda *args: None, None)
    return libvirt


def libvirtCalls(spec: dict[str, Any]) -> dict[str, Any]:
    """
    The C{calls} mode with libvirt-python threads.
    """
    libvirt = _libvirt()
    conns = [libvirt.open(spec["uri"]) for _ in range(spec["connections"])]
    if spec["op"] == "info":
        targets = [c.lookupByName("test").info for c in conns]
    else:
        targets = [c.listAllDomains for c in conns]
    for fn in targets:
        for _ in range(WARMUP_CALLS):
            fn()
    threads = spec["threads"]
    latency = spec.get("latency", False)
    slices = spec.get("slices", 1)
    # Counts are cumulative; a slice's calls are the difference.
    counts = [0] * threads
    errors: list[str] = []
    samples: list[list[int]] = [[] for _ in range(threads)]
    # Set while a slice runs; between slices the threads wait on it, and
    # the barrier tells the main thread that all of them have stopped.
    gate = threading.Event()
    parked = threading.Barrier(threads + 1)
    done = [False]

    def worker(i: int, fn: Any) -> None:
        own = samples[i]
        clock = time.perf_counter_ns
        running = gate.is_set
        while True:
            gate.wait()
            if done[0]:
                return
            while running():
                t0 = clock()
                try:
                    fn()
                except libvirt.libvirtError as e:
                    errors.append(str(e))
                    if len(errors) > 100:
                        break
                    continue
                if latency:
                    own.append(clock() - t0)
                counts[i] += 1
            parked.wait()

    workers = [threading.Thread(target=worker, args=(i, targets[i % len(targets)]),
                                daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    emit("READY", {"pid": os.getpid()})
    before = 0
    result: dict[str, Any] = {}
    for n in range(slices):
        expect("GO")
        cpu0, t0 = cpuNow(), time.monotonic()
        gate.set()
        time.sleep(spec["seconds"])
        gate.clear()
        elapsed = time.monotonic() - t0
        cpu1 = cpuNow()
        parked.wait(30)
        total = sum(counts)
        result = {"calls": total - before, "elapsed": elapsed, "errors": len(errors),
                  "firstError": errors[0] if errors else None,
                  "clientCpu": (cpu1 - cpu0) / elapsed}
        before = total
        if latency:
            result.update(latencySummary([s for own in samples for s in own]))
            for own in samples:
                own.clear()
        if n < slices - 1:
            emit("RESULT", result)
    done[0] = True
    gate.set()
    for w in workers:
        w.join(30)
    for c in conns:
        c.close()
    return result


def libvirtOpenClose(spec: dict[str, Any]) -> dict[str, Any]:
    """
    The C{openclose} mode: one thread opening and closing connections.
    """
    libvirt = _libvirt()
    uri = spec["uri"]
    for _ in range(3):
        libvirt.open(uri).close()
    emit("READY", {"pid": os.getpid()})
    expect("GO")
    cpu0, t0 = cpuNow(), time.monotonic()
    deadline = t0 + spec["seconds"]
    opens, errors = 0, []
    while time.monotonic() < deadline:
        try:
            libvirt.open(uri).close()
        except libvirt.libvirtError as e:
            errors.append(str(e))
            if len(errors) > 100:
                break
            continue
        opens += 1
    elapsed = time.monotonic() - t0
    return {"calls": opens, "elapsed": elapsed, "errors": len(errors),
            "firstError": errors[0] if errors else None,
            "clientCpu": (cpuNow() - cpu0) / elapsed}


def libvirtIdle(spec: dict[str, Any]) -> dict[str, Any]:
    """
    The C{idle} mode: warm the daemon up, then open and hold C{count}
    connections until told to close them.
    """
    libvirt = _libvirt()
    uri = spec["uri"]
    for _ in range(spec.get("warm", 20)):
        libvirt.open(uri).close()
    emit("WARM")
    expect("OPEN")
    t0 = time.monotonic()
    conns = []
    for _ in range(spec["count"]):
        conns.append(libvirt.open(uri))
    openTime = time.monotonic() - t0
    # A call on the last connection proves the daemon serves them all.
    conns[-1].lookupByName("test").info()
    emit("READY", {"pid": os.getpid(), "opened": len(conns)})
    expect("CLOSE")
    for c in conns:
        c.close()
    return {"calls": len(conns), "elapsed": openTime, "errors": 0,
            "firstError": None, "clientCpu": 0.0}


# -- virtd's client ----------------------------------------------------------

def virtdCalls(spec: dict[str, Any]) -> dict[str, Any]:
    """
    The C{calls} mode with virtd's Deferred client: one reactor thread,
    C{inflight} calls kept in flight over C{connections} connections.
    """
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred, ensureDeferred
    from twisted.internet.task import deferLater
    from twisted.internet.threads import deferToThread

    import virtd

    outcome: dict[str, Any] = {}

    async def main() -> None:
        conns = [await virtd.connect(spec["uri"]) for _ in range(spec["connections"])]
        if spec["op"] == "info":
            targets = [(await c.lookupByName("test")).info for c in conns]
        else:
            targets = [c.listAllDomains for c in conns]
        for fn in targets:
            for _ in range(WARMUP_CALLS):
                await fn()
        emit("READY", {"pid": os.getpid()})
        line = (await deferToThread(sys.stdin.readline)).strip()
        if line != "GO":
            raise SystemExit(f"loadgen: expected 'GO' from the harness, got {line!r}")
        latency = spec.get("latency", False)
        clock = time.perf_counter_ns
        state = {"running": True, "calls": 0, "outstanding": 0}
        errors: list[str] = []
        samples: list[int] = []
        drained: Deferred = Deferred()

        def finish() -> None:
            state["outstanding"] -= 1
            if state["outstanding"] == 0 and not drained.called:
                drained.callback(None)

        def issue(fn: Any) -> None:
            fn().addCallbacks(ok, failed, callbackArgs=(fn, clock()))

        def ok(_: Any, fn: Any, t0: int) -> None:
            if state["running"]:
                state["calls"] += 1
                if latency:
                    samples.append(clock() - t0)
                issue(fn)
            else:
                finish()

        def failed(f: Any) -> None:
            # Not reissued: an error that fires at once would recurse.
            errors.append(f.getErrorMessage())
            finish()

        cpu0, t0 = cpuNow(), time.monotonic()
        for i in range(spec["inflight"]):
            state["outstanding"] += 1
            issue(targets[i % len(targets)])
        await deferLater(reactor, spec["seconds"], lambda: None)
        state["running"] = False
        elapsed = time.monotonic() - t0
        cpu1 = cpuNow()
        if state["outstanding"]:
            await drained
        for c in conns:
            await c.close()
        outcome.update(calls=state["calls"], elapsed=elapsed, errors=len(errors),
                       firstError=errors[0] if errors else None,
                       clientCpu=(cpu1 - cpu0) / elapsed)
        if latency:
            outcome.update(latencySummary(samples))

    def run() -> None:
        d = ensureDeferred(main())
        d.addErrback(lambda f: outcome.update(failure=f.getTraceback()))
        d.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(run)
    reactor.run()
    if "failure" in outcome:
        raise RuntimeError(outcome["failure"])
    return outcome


MODES = {
    ("calls", "libvirt"): libvirtCalls,
    ("calls", "virtd"): virtdCalls,
    ("openclose", "libvirt"): libvirtOpenClose,
    ("idle", "libvirt"): libvirtIdle,
}


def main(argv: list[str]) -> int:
    """
    Run the mode the JSON spec in C{argv[1]} names.

    @return: the exit status.
    """
    sys.path.insert(0, REPO)
    spec = json.loads(argv[1])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if spec.get("cpus"):
        os.sched_setaffinity(0, spec["cpus"])
    fn = MODES.get((spec["mode"], spec.get("client", "libvirt")))
    if fn is None:
        emit("ERROR", f"unknown mode {spec['mode']!r} for client {spec.get('client')!r}")
        return 2
    try:
        result = fn(spec)
    except BaseException as e:  # reported to the harness, which decides
        emit("ERROR", f"{type(e).__name__}: {e}")
        return 1
    emit("RESULT", result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
