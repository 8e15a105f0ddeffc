"""
Start load generators (L{bench.loadgen}) and drive their line protocol.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["LoadError", "LoadProcess", "runInterleaved", "runLoad"]

LOADGEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "loadgen.py")


class LoadError(RuntimeError):
    """
    A load generator failed or did not answer in time; the message says
    which and what it printed.
    """


class LoadProcess:
    """
    One load generator child process.

    @ivar spec: its JSON spec.
    @ivar process: the L{subprocess.Popen}.
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        """
        Start the child; it connects and warms up on its own.

        @param spec: the mode and its parameters (see L{bench.loadgen}).
        """
        self.spec = spec
        # stderr goes to a file: a chatty child cannot fill a pipe and stall.
        self._errors = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, LOADGEN, json.dumps(spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors,
            start_new_session=True)
        self._buffer = b""

    def describe(self) -> str:
        """
        @return: the mode, client and URI, for error messages.
        """
        s = self.spec
        return f"loadgen {s.get('mode')}/{s.get('client', 'libvirt')} on {s.get('uri')}"

    def expect(self, tag: str, timeout: float) -> Any:
        """
        Wait for the line starting with C{tag}.

        @param tag: C{"READY"}, C{"WARM"} or C{"RESULT"}.
        @param timeout: seconds to wait.
        @return: the decoded JSON payload (L{None} if the line has none).
        @raise LoadError: on C{ERROR}, on exit, on another line, or when
            the time runs out.
        """
        line = self._readLine(timeout)
        word, _, rest = line.partition(" ")
        if word == tag:
            return json.loads(rest) if rest else None
        if word == "ERROR":
            raise LoadError(f"{self.describe()} failed: {rest}{self._stderr()}")
        raise LoadError(f"{self.describe()}: expected {tag}, got {line!r}{self._stderr()}")

    def send(self, word: str) -> None:
        """
        Write one command line (C{GO}, C{OPEN}, C{CLOSE}) to the child.
        """
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(word.encode() + b"\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            raise LoadError(f"{self.describe()} exited early{self._stderr()}") from None

    def _readLine(self, timeout: float) -> str:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LoadError(f"{self.describe()} said nothing for {timeout:g}s")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                self.process.wait(5)
                raise LoadError(f"{self.describe()} exited with status "
                                f"{self.process.returncode}{self._stderr()}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("utf-8", "replace")

    def _stderr(self) -> str:
        if self.process.poll() is None:
            return ""
        self._errors.seek(0)
        text = self._errors.read().decode("utf-8", "replace").strip()
        return f"\n--- its stderr ---\n{text[-2000:]}" if text else ""

    def close(self) -> None:
        """
        Make sure the child is gone.
        """
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for f in (self.process.stdin, self.process.stdout, self._errors):
            if f is not None:
                f.close()


def runLoad(
    specs: Sequence[dict[str, Any]],
    seconds: float,
    sample: Callable[[], Any] | None = None,
    setupTimeout: float = 60.0,
) -> tuple[list[dict[str, Any]], tuple[Any, Any] | None]:
    """
    Run load generators together: start them all, wait until all are
    READY, say GO to all, and collect their results.

    @param specs: one spec per child.
    @param seconds: the measuring window the specs ask for.
    @param sample: called right after GO and again after C{seconds} (e.g.
        to read the daemon's CPU time); its two results are returned.
    @param setupTimeout: seconds allowed for connecting and warming up.
    @return: the children's results, and the two samples (or L{None}).
    @raise LoadError: if any child fails.
    """
    procs = [LoadProcess(spec) for spec in specs]
    try:
        for p in procs:
            p.expect("READY", setupTimeout)
        for p in procs:
            p.send("GO")
        before = sample() if sample else None
        time.sleep(seconds)
        after = sample() if sample else None
        results = [p.expect("RESULT", seconds + 60) for p in procs]
    finally:
        for p in procs:
            p.close()
    return results, ((before, after) if sample else None)


def runInterleaved(
    groups: dict[str, Sequence[dict[str, Any]]],
    seconds: float,
    slices: int,
    order: Sequence[str],
    sample: Callable[[str], Any],
    setupTimeout: float = 60.0,
) -> dict[str, list[tuple[list[dict[str, Any]], tuple[Any, Any]]]]:
    """
    Run several groups of load generators in turns: every group connects
    and warms up first, then the groups take turns measuring C{slices}
    windows of C{seconds} each, one group at a time, while the others
    wait connected and idle. Both sides of a comparison then meet the
    same moments of a busy machine instead of two different ones.

    @param groups: name -> specs (each with C{slices} set to C{slices}).
    @param order: the group names, in the order of the first turn; every
        other turn goes the other way round (A B B A A B ...), so that
        neither group always follows the other.
    @param sample: called with the group's name right after its C{GO} and
        again after C{seconds} (e.g. to read its daemon's CPU time).
    @return: name -> one C{(results, (before, after))} per slice.
    @raise LoadError: if any child fails.
    """
    procs = {name: [LoadProcess(spec) for spec in specs]
             for name, specs in groups.items()}
    out: dict[str, list[tuple[list[dict[str, Any]], tuple[Any, Any]]]] = {
        name: [] for name in groups}
    try:
        for group in procs.values():
            for p in group:
                p.expect("READY", setupTimeout)
        for n in range(slices):
            for name in (order if n % 2 == 0 else list(order)[::-1]):
                group = procs[name]
                for p in group:
                    p.send("GO")
                before = sample(name)
                time.sleep(seconds)
                after = sample(name)
                results = [p.expect("RESULT", seconds + 60) for p in group]
                out[name].append((results, (before, after)))
    finally:
        for group in procs.values():
            for p in group:
                p.close()
    return out
