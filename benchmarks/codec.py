"""
Encode+decode throughput of virtd's XDR codec, next to the same work done
by hand with Python's C{struct} module (a straightforward hand-written
pack/unpack loop, no checks beyond what C{struct} does).

Workloads:
  - a 1 MiB string (C{remote_nonnull_string});
  - a 16384-domain list (the C{CONNECT_LIST_ALL_DOMAINS} reply);
  - a 28-byte header-only frame (a void CALL: length word + header).

Usage: python benchmarks/codec.py [--seconds S]   (about 10 s by default)

The ratio column is ours / by hand in throughput: above 1 means the codec
is faster than the hand-written code, below 1 slower.
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from virtd.protocol import remote  # noqa: E402
from virtd.protocol.message import Header, decodeHeader, encodeFrame  # noqa: E402
from virtd.protocol.types import Dom, NonnullString  # noqa: E402

U32 = struct.Struct(">I")
I32 = struct.Struct(">i")
PAD = (b"", b"\0\0\0", b"\0\0", b"\0")


# -- 1 MiB string ---------------------------------------------------------

def stringOurs(s: str) -> str:
    return NonnullString.decode(NonnullString.pack(s))


def stringByHand(s: str) -> str:
    b = s.encode()
    n = len(b)
    raw = U32.pack(n) + b + PAD[n & 3]
    (m,) = U32.unpack_from(raw, 0)
    return raw[4:4 + m].decode()


# -- 16384 domains --------------------------------------------------------

LIST_RET = remote.BY_NAME["CONNECT_LIST_ALL_DOMAINS"].ret


def listOurs(value: tuple) -> tuple:
    return LIST_RET.decode(LIST_RET.pack(value))


DOM_TAIL = struct.Struct(">16si")


def listByHand(value: tuple) -> tuple:
    doms, count = value
    parts = [U32.pack(len(doms))]
    for name, uuid, id_ in doms:
        b = name.encode()
        n = len(b)
        parts.append(U32.pack(n))
        parts.append(b)
        parts.append(PAD[n & 3])
        parts.append(DOM_TAIL.pack(uuid, id_))
    parts.append(U32.pack(count))
    raw = b"".join(parts)

    (k,) = U32.unpack_from(raw, 0)
    off = 4
    out = []
    for _ in range(k):
        (n,) = U32.unpack_from(raw, off)
        off += 4
        name = raw[off:off + n].decode()
        off += n + (-n & 3)
        uuid, id_ = DOM_TAIL.unpack_from(raw, off)
        off += 20
        out.append((name, uuid, id_))
    (ret,) = U32.unpack_from(raw, off)
    return out, ret


# -- 28-byte header-only frame ---------------------------------------------

CLOSE = remote.BY_NAME["CONNECT_CLOSE"]
FRAME = struct.Struct(">IIIiiIi")
HEADER = struct.Struct(">IIiiIi")


def headerOurs(h: Header) -> tuple:
    raw = encodeFrame(h, CLOSE.args.pack(None))
    got = decodeHeader(raw, 4)
    CLOSE.args.decode(raw[28:])
    return got


def headerByHand(h: tuple) -> tuple:
    raw = FRAME.pack(28, *h)
    return HEADER.unpack_from(raw, 4)


def rate(fn: Callable, arg: object, seconds: float) -> float:
    """
    Calls per second: best of three runs of about C{seconds}/3 each.
    """
    fn(arg)
    n = 1
    while True:  # calibrate
        t0 = time.perf_counter()
        for _ in range(n):
            fn(arg)
        dt = time.perf_counter() - t0
        if dt > 0.05:
            break
        n *= 2
    per = max(1, int(n * (seconds / 3) / dt))
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(per):
            fn(arg)
        best = min(best, time.perf_counter() - t0)
    return per / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=1.5,
                    help="time per measurement (default 1.5)")
    opts = ap.parse_args()

    text = "x" * (1 << 20)
    doms = [Dom(name=f"domain-{i:05d}", uuid=i.to_bytes(16, "big"), id=i)
            for i in range(16384)]
    listValue = LIST_RET(domains=doms, ret=len(doms))
    header = Header(remote.PROGRAM, remote.VERSION, CLOSE.number, 0, 7, 0)

    # Both sides must do the same work.
    assert stringOurs(text) == stringByHand(text)
    assert listOurs(listValue) == tuple(listByHand(listValue))
    assert tuple(headerOurs(header)) == headerByHand(header)

    listBytes = len(LIST_RET.pack(listValue))
    stringBytes = len(NonnullString.pack(text))
    rows = [
        ("1 MiB string", stringBytes, stringOurs, stringByHand, text),
        ("16384-domain list", listBytes, listOurs, listByHand, listValue),
        ("28-byte header frame", 28, headerOurs, headerByHand, header),
    ]
    print(f"{'workload (encode+decode)':26} {'bytes':>9} {'ours/s':>12} "
          f"{'ours MiB/s':>11} {'by hand/s':>12} {'hand MiB/s':>11} "
          f"{'ratio':>6}")
    for label, size, ours, hand, arg in rows:
        a = rate(ours, arg, opts.seconds)
        b = rate(hand, arg, opts.seconds)
        print(f"{label:26} {size:>9} {a:>12,.1f} {a * size / 2**20:>11,.1f} "
              f"{b:>12,.1f} {b * size / 2**20:>11,.1f} {a / b:>6.2f}")
    print("ratio = ours / by hand (throughput); > 1 means the codec is faster")


if __name__ == "__main__":
    main()
