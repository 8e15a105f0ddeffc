"""
Reassembly cost of virtd's framers as the frame size grows.

Frames of 64 KiB, 256 KiB, 1, 4 and 16 MiB are fed to a framer in fixed-size
chunks (as a socket would deliver them) and the time per byte is printed. A
linear-time framer shows a flat ns/byte column: a 16 MiB frame costs 256
times a 64 KiB one, not 65536 times.

Above glibc's mmap/trim thresholds (128 KiB by default) most of the time
is the kernel zero-filling pages that the allocator keeps handing back and
taking again, not the framer: run with
C{MALLOC_TRIM_THRESHOLD_=268435456 MALLOC_MMAP_THRESHOLD_=268435456} to see
the framer alone (about memcpy speed). Either way the column is flat.

Run: .venv/bin/python benchmarks/reassembly.py [--chunk BYTES] [--total MIB]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from virtd.protocol.message import Header  # noqa: E402
from virtd.rpc.framing import (  # noqa: E402
    LengthFramer,
    RecordFramer,
    encodeLength,
    encodeRecord,
)

SIZES = [64 * 1024, 256 * 1024, 1 << 20, 4 << 20, 16 << 20]


def run(framerType, encode, size: int, chunk: int, total: int) -> float:
    """
    Feed frames whose payload is C{size} bytes, in C{chunk}-byte pieces,
    until about C{total} bytes went through.

    @return: nanoseconds per byte fed, best of three runs.
    """
    frame = encode(Header(0x20008086, 1, 209, 3, 7, 2), b"\xa5" * size)
    count = max(1, total // len(frame))
    pieces = [frame[i:i + chunk] for i in range(0, len(frame), chunk)]
    best = float("inf")
    for _ in range(3):
        framer = framerType()
        feed = framer.feed
        got = 0
        start = time.perf_counter_ns()
        for _ in range(count):
            for piece in pieces:
                got += len(feed(piece))
        elapsed = time.perf_counter_ns() - start
        assert got == count, (got, count)
        best = min(best, elapsed / (count * len(frame)))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunk", type=int, default=65536,
                        help="bytes per feed() call (default 65536)")
    parser.add_argument("--total", type=int, default=64,
                        help="MiB fed per measurement (default 64)")
    opts = parser.parse_args()
    total = opts.total << 20
    print(f"chunk {opts.chunk} bytes, ~{opts.total} MiB per size, "
          "best of 3")
    print(f"{'frame size':>12} {'length ns/B':>12} {'record ns/B':>12}")
    for size in SIZES:
        length = run(LengthFramer, encodeLength, size, opts.chunk, total)
        record = run(RecordFramer, encodeRecord, size, opts.chunk, total)
        label = (f"{size >> 20} MiB" if size >= 1 << 20
                 else f"{size >> 10} KiB")
        print(f"{label:>12} {length:12.3f} {record:12.3f}")


if __name__ == "__main__":
    main()
