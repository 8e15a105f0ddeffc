"""
A mutation fuzzer seeded with the client frames of real captures
(tests/data/traces): bounded in C{make test} (L{DEFAULT_FRAMES}), longer on
demand with C{VIRTD_FUZZ_FRAMES=N} (and C{VIRTD_FUZZ_SEED}).

Whatever arrives, the daemon must not crash, must log no unhandled error,
and must pass the suite's invariants afterwards.
"""

from __future__ import annotations

import glob
import os
import random
import socket
import struct
import threading
import time

from twisted.internet import defer

from tests.hostile.health import HostileCase
from tests.hostile.peer import PROC_AUTH_LIST, PROC_CONNECT_OPEN, frame, openArgs

DEFAULT_FRAMES = 20000
STALL = float(os.environ.get("VIRTD_FUZZ_STALL", "20"))
TRACES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data",
                      "traces")
INTERESTING = [0, 1, 2, 3, 4, 0x1C, 0x7F, 0x80, 0xFF, 0xFFFF, 0x10000,
               0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF, 0x400000,
               0x400001, 0x2000004, 0x2000005, 0x20008086, 0x6B656570]

#: Handler failures already reported and pinned by
#: test_messages.PayloadTests.test_oddNames (names libvirt-python refuses).


def outOfStep(f: bytes) -> bool:
    """
    Whether the daemon's reading goes out of step with our frames after
    C{f}: its length word is wrong, or its type passes file descriptors
    (CALL_WITH_FDS, REPLY_WITH_FDS), after which the daemon drops one byte
    per descriptor counted, or hangs up on a bad count.
    """
    return (struct.unpack_from(">I", f)[0] != len(f)
            or f[16:20] in (b"\0\0\0\x04", b"\0\0\0\x05"))


def seedFrames() -> list[bytes]:
    """
    The client-to-daemon frames of every capture, split by length word.
    """
    frames = []
    for path in sorted(glob.glob(os.path.join(TRACES, "*.hex.txt"))):
        stream = bytearray()
        outgoing = False
        with open(path) as f:
            for line in f:
                if line.startswith(("> ", "< ")):
                    outgoing = line.startswith(">")
                elif line.startswith(" ") and outgoing:
                    hexPart = line[:49]
                    stream += bytes.fromhex(hexPart.replace(" ", ""))
        pos = 0
        while pos + 4 <= len(stream):
            (n,) = struct.unpack_from(">I", stream, pos)
            if n < 28 or pos + n > len(stream):
                break
            frames.append(bytes(stream[pos:pos + n]))
            pos += n
    return frames


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    """
    One mutated frame; the length word stays right most of the time so the
    mutation reaches the header and payload checks.
    """
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        op = rng.random()
        body = len(data) - 4
        if op < 0.25 and body:
            i = 4 + rng.randrange(body)
            data[i] ^= 1 << rng.randrange(8)
        elif op < 0.5 and body >= 4:
            i = 4 + rng.randrange(body // 4) * 4
            data[i:i + 4] = struct.pack(">I", rng.choice(INTERESTING))
        elif op < 0.6:
            data[16:20] = struct.pack(">i", rng.randrange(-2, 460))  # proc
        elif op < 0.7 and len(data) > 28:
            del data[rng.randrange(28, len(data)):]
        elif op < 0.8:
            data += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 24)))
        elif op < 0.87:
            other = rng.choice(seeds)
            data = data[:28] + other[28:]
        elif op < 0.95 and body:
            i = 4 + rng.randrange(body)
            data[i] = rng.choice((0, 0xFF, 0x80, 0x7F))
        else:
            pass
    data[0:4] = struct.pack(">I", len(data))
    if rng.random() < 0.005:
        # A broken length: the connection must close, nothing else.
        data[0:4] = struct.pack(">I", rng.choice(INTERESTING))
    return bytes(data)


class _Drain(threading.Thread):
    """
    Reads everything the daemon sends, and notices the reply to the
    sentinel call that ends each batch.
    """

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.bytes = 0
        self.marker = b""
        self.seen = threading.Event()
        self._tail = b""

    def expect(self, serial: int) -> None:
        self.seen.clear()
        self.marker = struct.pack(">IIiiIi", 0x20008086, 1, PROC_AUTH_LIST,
                                  1, serial, 0)

    def run(self) -> None:
        try:
            while True:
                chunk = self.sock.recv(262144)
                if not chunk:
                    return
                self.bytes += len(chunk)
                window = self._tail + chunk
                if self.marker and self.marker in window:
                    self.seen.set()
                self._tail = window[-32:]
        except OSError:
            return
        finally:
            self.seen.set()


def fuzz(path: str, total: int, seed: int, lanes: int = 4) -> dict:
    """
    Send C{total} mutated frames over C{lanes} connections in parallel,
    reconnecting whenever the daemon hangs up (as it must on bad lengths).
    """
    seeds = seedFrames()
    stats = {"frames": 0, "reconnects": 0, "replyBytes": 0}
    lock = threading.Lock()
    hello = frame(PROC_AUTH_LIST) + frame(PROC_CONNECT_OPEN, openArgs(), 1)

    def lane(n: int, count: int) -> None:
        rng = random.Random(seed * 1000 + n)
        sock = None
        drain = None
        sent = 0
        while sent < count:
            if sock is None:
                sock = socket.socket(socket.AF_UNIX)
                sock.settimeout(20)
                sock.connect(path)
                # Open the hypervisor connection first, so that mutated
                # calls get past "connection not open" to the handlers.
                sock.sendall(hello)
                got = b""
                while got.count(b"\x20\x00\x80\x86") < 2:
                    chunk = sock.recv(4096)
                    if not chunk:
                        raise AssertionError("the handshake failed")
                    got += chunk
                drain = _Drain(sock)
                drain.start()
                with lock:
                    stats["reconnects"] += 1
            batch = []
            while len(batch) < min(32, count - sent):
                batch.append(mutate(rng, seeds))
                if outOfStep(batch[-1]):
                    break  # the daemon hangs up at this one, or soon after
            broken = outOfStep(batch[-1])
            sentinel = 0x5E000000 + sent
            drain.expect(sentinel)
            try:
                # End with a call answered on the reactor: its reply means
                # every frame before it has been taken in.
                sock.sendall(b"".join(batch) + (
                    b"" if broken else frame(PROC_AUTH_LIST, b"", sentinel)))
            except (BrokenPipeError, ConnectionResetError):
                pass
            except TimeoutError:
                raise AssertionError("the daemon stopped reading for 20 s") \
                    from None
            sent += len(batch)
            # After such a frame the stream is out of step (the daemon
            # closes, or waits for bytes that never come): hang up
            # ourselves.
            if not broken and not drain.seen.wait(STALL):
                raise AssertionError(
                    f"the daemon stopped answering for {STALL} s after "
                    f"these frames (hex): {[f[:40].hex() for f in batch]}")
            if broken or not drain.is_alive():
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
                drain.join(5)
                with lock:
                    stats["replyBytes"] += drain.bytes
                sock = None
        if sock is not None:
            sock.shutdown(socket.SHUT_WR)
            drain.join(20)
            sock.close()
            with lock:
                stats["replyBytes"] += drain.bytes
        with lock:
            stats["frames"] += sent

    threads = [threading.Thread(target=lane, args=(i, total // lanes))
               for i in range(lanes)]
    errors: list[BaseException] = []

    def guarded(t: threading.Thread) -> None:
        try:
            t.run()
        except BaseException as e:
            errors.append(e)

    runners = [threading.Thread(target=guarded, args=(t,)) for t in threads]
    start = time.monotonic()
    for r in runners:
        r.start()
    for r in runners:
        r.join()
    if errors:
        raise errors[0]
    stats["seconds"] = round(time.monotonic() - start, 1)
    return stats


class FuzzTests(HostileCase):

    timeout = 600
    daemonArgs = ["--max-client-requests", "20"]

    @defer.inlineCallbacks
    def test_mutations(self):
        total = int(os.environ.get("VIRTD_FUZZ_FRAMES", DEFAULT_FRAMES))
        seed = int(os.environ.get("VIRTD_FUZZ_SEED", "1"))
        self.assertGreater(len(seedFrames()), 20)
        stats = yield self.inThread(fuzz, self.daemon.sock, total, seed)
        self.assertGreaterEqual(stats["frames"], total - 4)
        self.assertGreater(stats["replyBytes"], 0)
        # Handled errors (a frame that cannot be framed, a refused call)
        # are logged as warnings or info; a failure is an unhandled error.
        failures = self.logs.failures()
        self.assertEqual(failures, [], f"{len(failures)} unhandled errors")
        print(f"\nfuzz: {stats}")
