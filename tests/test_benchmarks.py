"""
Smoke tests of the benchmark harness (C{benchmarks/run.py} and
C{benchmarks/bench/}): the machinery runs end to end with tiny windows
against a real libvirtd and a real C{twistd virtd}. Nothing here asserts
a timing: only that numbers come back and land in the table, the JSON and
the chart.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

from twisted.trial import unittest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

from bench import cases, placement, report, stats  # noqa: E402
from bench.cases import Environment, Settings  # noqa: E402

CODEC_OUTPUT = """\
workload (encode+decode)       bytes       ours/s  ours MiB/s    by hand/s  hand MiB/s  ratio
1 MiB string                 1048580      6,220.9     6,220.9      6,640.6     6,640.7   0.94
16384-domain list             589832         37.5        21.1         48.4        27.2   0.78
28-byte header frame              28    602,002.5        16.1  1,717,309.8        45.9   0.35
ratio = ours / by hand (throughput); > 1 means the codec is faster
"""


class StatsTests(unittest.SynchronousTestCase):
    """
    Medians, percentiles, ratios and targets.
    """

    def test_median(self) -> None:
        self.assertEqual(stats.median([3, 1, 2]), 2)
        self.assertEqual(stats.median([4, 1, 2, 3]), 2.5)
        self.assertEqual(stats.median([1, math.nan, 5]), 3)
        self.assertTrue(math.isnan(stats.median([])))

    def test_percentileNearestRank(self) -> None:
        values = list(range(1, 101))
        self.assertEqual(stats.percentile(values, 50), 50)
        self.assertEqual(stats.percentile(values, 99), 99)
        self.assertEqual(stats.percentile([7], 99), 7)
        self.assertTrue(math.isnan(stats.percentile([], 50)))

    def test_ratio(self) -> None:
        self.assertEqual(stats.ratio(3, 2), 1.5)
        self.assertTrue(math.isnan(stats.ratio(1, 0)))
        self.assertTrue(math.isnan(stats.ratio(math.nan, 1)))

    def test_targets(self) -> None:
        higher = stats.Target(True, 1.0)
        lower = stats.Target(False, 1.2)
        self.assertTrue(higher.met(1.0))
        self.assertFalse(higher.met(0.99))
        self.assertTrue(lower.met(1.2))
        self.assertFalse(lower.met(1.3))
        self.assertIsNone(stats.Target(True).met(5))
        self.assertIsNone(higher.met(math.nan))
        self.assertEqual(higher.describe(), ">= 1.0x")
        self.assertEqual(lower.describe(), "<= 1.2x")
        self.assertEqual(lower.better, "lower")


class SelectionTests(unittest.SynchronousTestCase):
    """
    Choosing cases by id or key.
    """

    def test_everyCaseOfTheIssue(self) -> None:
        ids = {m.case for m in cases.allMeasurements()}
        self.assertEqual(ids, {"D1", "D2", "D3", "D4", "C1", "C2", "X1"})

    def test_selectByCaseAndKey(self) -> None:
        chosen = cases.select(cases.allMeasurements(), "d3,D1-tcp-8x1")
        self.assertEqual([m.key for m in chosen], ["D1-tcp-8x1", "D3-unix", "D3-tls"])

    def test_unknownCase(self) -> None:
        e = self.assertRaises(ValueError, cases.select, cases.allMeasurements(), "D9")
        self.assertIn("D9", str(e))


class ReportTests(unittest.SynchronousTestCase):
    """
    From per-round values to the table, the docs fragment, JSON and PNG.
    """

    def test_parseCodecTable(self) -> None:
        rows = cases.parseCodecTable(CODEC_OUTPUT)
        self.assertEqual(rows["28-byte header frame"], (602002.5, 1717309.8))
        self.assertEqual(len(rows), 3)

    def summary(self) -> list[report.Row]:
        ms = cases.select(cases.allMeasurements(), "D1-unix-1x1,C2")
        results = {
            "D1-unix-1x1": {"ours": [{"rate": 90.0}, {"rate": 110.0}, {"rate": 100.0}],
                            "theirs": [{"rate": 50.0}, {"rate": 50.0},
                                       RuntimeError("boom")]},
            "C2-unix": {"ours": [{"p50": 0.3, "p99": 1.0}],
                        "theirs": [{"p50": 0.1, "p99": 1.0}]},
        }
        return report.summarise(ms, results)

    def test_summarise(self) -> None:
        rows = self.summary()
        self.assertEqual([r.key for r in rows],
                         ["D1-unix-1x1.rate", "C2-unix.p50", "C2-unix.p99"])
        d1, p50, p99 = rows
        self.assertEqual((d1.ours, d1.theirs, d1.ratio, d1.met), (100.0, 50.0, 2.0, True))
        self.assertEqual(d1.rounds, 2)
        # Rounds 1 and 2 pair up (100 failed on theirs in round 3).
        self.assertEqual(d1.spread, (1.8, 2.2))
        self.assertIsNone(p50.spread)
        self.assertIn("boom", d1.error)
        self.assertAlmostEqual(p50.ratio, 3.0)
        self.assertFalse(p50.met)
        self.assertIsNone(p99.met)

    def test_tables(self) -> None:
        rows = self.summary()
        text = report.textTable(rows)
        self.assertIn("MISSED", text)
        self.assertIn("2.00", text)
        self.assertIn("1.80-2.20", text)
        rst = report.rstTable(rows)
        self.assertTrue(rst.startswith("===="))
        self.assertEqual(len(rst.splitlines()), 3 + len(rows) + 1)

    def test_chartAndJSON(self) -> None:
        rows = self.summary()
        directory = self.mktemp()
        png = report.writeChart(rows, os.path.join(directory, "c.png"), "test")
        with open(png, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        path = report.writeJSON(os.path.join(directory, "r.json"),
                                {"results": {"x": [RuntimeError("e"), math.nan]}}, rows)
        with open(path) as f:
            data = json.load(f)
        self.assertEqual(data["results"]["x"], [{"error": "RuntimeError: e"}, None])
        self.assertEqual(data["summary"][0]["ratio"], 2.0)


class CeilingTests(unittest.SynchronousTestCase):
    """
    C{run.cpuCeiling}: the rate each side could reach with every CPU busy.
    """

    def setUp(self) -> None:
        sys.path.insert(0, str(BENCHMARKS))
        self.addCleanup(sys.path.remove, str(BENCHMARKS))

    @staticmethod
    def rounds(*costs: tuple[float, float]) -> list[dict]:
        return [{"rate": 1.0, "diag": {"daemonUsPerCall": d, "clientUsPerCall": c}}
                for d, c in costs]

    def test_medianCosts(self) -> None:
        """
        The median of each side's daemon + client CPU per call sets its
        ceiling: 2 CPUs at 40 us a call is 50,000 calls/s; at 50 us,
        40,000; ratio 1.25.
        """
        import run

        line = run.cpuCeiling(
            {"ours": self.rounds((30, 10), (25, 15), (60, 60)),
             "theirs": self.rounds((30, 20), (10, 10), (35, 15))}, 2)
        self.assertEqual(line, "ceiling  2 CPUs / (daemon + client CPU per call): "
                               "ours 50,000, theirs 40,000 calls/s, ratio 1.25")

    def test_noClientFigures(self) -> None:
        """
        Rounds without client CPU figures (or failed rounds) give no line.
        """
        import run

        self.assertIsNone(run.cpuCeiling(
            {"ours": [{"perConn": 5.0, "diag": {}}], "theirs": [RuntimeError("x")]}, 2))

    def test_splitCPUs(self) -> None:
        """
        With the CPUs split (C{--split-cpus}) the two sides did not share
        them: no line.
        """
        import run

        ours = self.rounds((30, 10))
        ours[0]["diag"]["splitCPUs"] = True
        self.assertIsNone(run.cpuCeiling({"ours": ours, "theirs": self.rounds((30, 20))}, 2))


class PlacementTests(unittest.TestCase):
    """
    L{bench.placement}: a real process's threads are confined and then
    given every CPU back.
    """

    def threadedChild(self) -> subprocess.Popen:
        # Three threads that live until stdin closes.
        code = ("import sys, threading\n"
                "for _ in range(2): threading.Thread(target=sys.stdin.read, daemon=True).start()\n"
                "print('up', flush=True); sys.stdin.read()\n")
        child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
        self.addCleanup(child.wait)
        self.addCleanup(child.stdin.close)
        self.assertEqual(child.stdout.readline(), "up\n")
        return child

    def test_confined(self) -> None:
        """
        Every thread of the daemon runs on the first CPU inside the block,
        the clients get the rest, and afterwards every thread may use every
        CPU again; with one CPU there is nothing to split, and it says so.
        """
        child = self.threadedChild()
        allowed = frozenset(os.sched_getaffinity(0))
        if len(allowed) < 2:
            with self.assertRaises(RuntimeError) as caught:
                with placement.confined(child.pid, True):
                    pass
            self.assertIn("needs two CPUs or more", str(caught.exception))
            return
        first = min(allowed)
        with placement.confined(child.pid, True) as clientCPUs:
            inside = placement.threadCPUs(child.pid)
        self.assertEqual(len(inside), 3)
        self.assertEqual(set(inside.values()), {frozenset({first})})
        self.assertEqual(clientCPUs, sorted(allowed - {first}))
        self.assertEqual(set(placement.threadCPUs(child.pid).values()), {allowed})

    def test_notSplit(self) -> None:
        """
        Without the option nothing is moved and the clients get no CPU list.
        """
        child = self.threadedChild()
        placement.pinProcess(child.pid, {min(os.sched_getaffinity(0))})
        before = placement.threadCPUs(child.pid)
        with placement.confined(child.pid, False) as clientCPUs:
            self.assertIsNone(clientCPUs)
        self.assertEqual(placement.threadCPUs(child.pid), before)


class HarnessSmokeTests(unittest.TestCase):
    """
    The real thing with tiny windows: both daemons, the load generators,
    both clients.
    """

    timeout = 180

    def settings(self) -> Settings:
        return Settings(rounds=1, seconds=0.2, idle=20, inflight=4, procs=2,
                        codecSeconds=0.05)

    def assertMeasured(self, values: object, key: str) -> None:
        if isinstance(values, Exception):
            self.fail(f"measurement failed: {values}")
        assert isinstance(values, dict)
        self.assertGreater(values[key], 0)

    def test_daemonAndClientCases(self) -> None:
        """
        D1 (libvirt-python load on both daemons) and C2 (virtd's client and
        libvirt-python against libvirtd, with latencies) yield numbers on
        both sides.
        """
        env = Environment(self.settings())
        self.addCleanup(env.close)
        for m in cases.select(cases.allMeasurements(), "D1-unix-8x8,C2"):
            out = m.measureRound(env, 0)
            for side in ("ours", "theirs"):
                for metric in m.metrics:
                    self.assertMeasured(out[side], metric.key)
                self.assertIn("daemonUsPerCall", out[side]["diag"])
                self.assertGreater(out[side]["diag"]["clientUsPerCall"], 0)
        self.assertEqual(env.notes, [])

    def test_splitCPUs(self) -> None:
        """
        With C{splitCPUs}, C2 measures both clients with libvirtd on a CPU
        of its own, says so in the diagnostics, and gives libvirtd every CPU
        back for the cases after it.
        """
        allowed = frozenset(os.sched_getaffinity(0))
        settings = self.settings()
        settings.splitCPUs = True
        env = Environment(settings)
        self.addCleanup(env.close)
        [m] = cases.select(cases.allMeasurements(), "C2")
        out = m.measureRound(env, 0)
        if len(allowed) < 2:
            for side in ("ours", "theirs"):
                self.assertIsInstance(out[side], RuntimeError)
                self.assertIn("needs two CPUs or more", str(out[side]))
            return
        for side in ("ours", "theirs"):
            self.assertMeasured(out[side], "p50")
            self.assertIs(out[side]["diag"]["splitCPUs"], True)
        libvirtd = env.daemons().theirs.process.pid
        self.assertEqual(set(placement.threadCPUs(libvirtd).values()), {allowed})

    def test_interleavedSlices(self) -> None:
        """
        With C{slices}, D1 connects both sides' clients at once and takes
        their slices in turns; every slice is counted on both sides.
        """
        settings = self.settings()
        settings.slices = 3
        settings.seconds = 0.3
        env = Environment(settings)
        self.addCleanup(env.close)
        [m] = cases.select(cases.allMeasurements(), "D1-unix-8x1")
        out = m.measureRound(env, 1)
        for side in ("ours", "theirs"):
            self.assertMeasured(out[side], "rate")
            diag = out[side]["diag"]
            self.assertEqual(diag["slices"], 3)
            self.assertGreater(diag["daemonUsPerCall"], 0)
            self.assertEqual(len(diag["clientCpu"]), 1)

    def test_idleConnections(self) -> None:
        """
        D4 starts a fresh daemon per side and reads its RSS around the idle
        connections.
        """
        env = Environment(self.settings())
        out = cases.IdleConnections().measureRound(env, 0)
        for side in ("ours", "theirs"):
            self.assertNotIsInstance(out[side], Exception)
            diag = out[side]["diag"]
            self.assertEqual(diag["connections"], 20)
            self.assertGreater(diag["rssBefore"], 0)
            self.assertFalse(math.isnan(out[side]["perConn"]))

    def test_commandLine(self) -> None:
        """
        C{benchmarks/run.py} runs the chosen cases and writes the table, the
        JSON and the chart.
        """
        sys.path.insert(0, str(BENCHMARKS))
        self.addCleanup(sys.path.remove, str(BENCHMARKS))
        import run

        out = self.mktemp()
        printed = io.StringIO()
        self.patch(sys, "stdout", printed)
        status = run.main(["--quick", "--cases", "D3-unix,X1", "--seconds", "0.2",
                           "--out", out])
        self.assertEqual(status, 0)
        self.assertIn("open+close, unix", printed.getvalue())
        for name in ("table.txt", "results.json", "benchmarks.png"):
            self.assertTrue(os.path.exists(os.path.join(out, name)), name)
        with open(os.path.join(out, "results.json")) as f:
            data = json.load(f)
        keys = [r["key"] for r in data["summary"]]
        self.assertIn("D3-unix.rate", keys)
        self.assertIn("X1-codec.28-byte header frame", keys)
        self.assertTrue(all(r["error"] is None for r in data["summary"]))

    def test_abCommandLine(self) -> None:
        """
        C{benchmarks/ab.py} runs two daemons with different options under
        the same load and prints both sides and their ratio.
        """
        import ab

        printed = io.StringIO()
        self.patch(sys, "stdout", printed)
        shapes = ["unix-1x1", "unix-p50", "tls-1x1", "tls-open"]
        status = ab.main(["ab.py", "--b-arg=--no-batch-workers", "--rounds", "1",
                          "--seconds", "0.2", "--shapes", ",".join(shapes)])
        self.assertEqual(status, 0)
        lines = printed.getvalue().splitlines()
        self.assertIn("B: --no-batch-workers from this tree", lines)
        rows = {line.split()[0]: line.split() for line in lines[-len(shapes):]}
        self.assertEqual(sorted(rows), sorted(shapes))
        for row in rows.values():
            a, b, ratio = (float(x.replace(",", "")) for x in row[1:4])
            self.assertGreater(a, 0)
            # the medians are printed rounded
            self.assertLess(abs(ratio - b / a), 0.02)
