"""
Golden vectors: every frame captured between real virsh / libvirt-python and
a real libvirtd 9.0.0 (tests/data/traces, copied from the project's wire
captures) decodes through the procedure tables and re-encodes byte for byte;
so do libvirt's own message test vectors (tests/virnetmessagetest.c) and the
worked examples of the wire fact sheet (section 1.11).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

from twisted.trial.unittest import SynchronousTestCase

from virtd import xdr
from virtd.protocol import keepalive, remote
from virtd.protocol.message import (
    KEEPALIVE_PROGRAM,
    REMOTE_PROGRAM,
    VIR_NET_CALL,
    VIR_NET_CONTINUE,
    VIR_NET_ERROR,
    VIR_NET_MESSAGE,
    VIR_NET_OK,
    VIR_NET_REPLY,
    VIR_NET_STREAM,
    Header,
    RemoteError,
    decodeHeader,
    encodeFrame,
    errorFromStruct,
)

TRACES = Path(__file__).parent / "data" / "traces"
TYPE_NAMES = {VIR_NET_CALL: "CALL", VIR_NET_REPLY: "REPLY",
              VIR_NET_MESSAGE: "MESSAGE", VIR_NET_STREAM: "STREAM"}
STATUS_NAMES = {VIR_NET_OK: "OK", VIR_NET_ERROR: "ERROR",
                VIR_NET_CONTINUE: "CONTINUE"}
PROGRAMS = {REMOTE_PROGRAM: ("REMOTE", remote.PROCEDURES),
            KEEPALIVE_PROGRAM: ("KEEPALIVE", keepalive.PROCEDURES)}


class Frame(NamedTuple):
    direction: str  # "C->S" or "S->C"
    raw: bytes      # the whole frame, length word included


def readHexTrace(path: Path) -> dict[str, bytes]:
    """
    Reassemble the byte stream of each direction of a socat C{-x} dump.

    Each chunk starts with a line like C{> date time length=N from=A to=B}
    (C{>} client to server, C{<} server to client) followed by hexdump
    lines; chunks are what one read returned, so they may hold several
    frames or part of one.
    """
    streams = {"C->S": bytearray(), "S->C": bytearray()}
    current = None
    expect = 0
    start = 0
    for line in path.read_text().splitlines():
        head = re.match(r"([<>]) \S+ \S+\s+length=(\d+) from=(\d+) to=(\d+)", line)
        if head:
            if current is not None:
                assert len(streams[current]) - start == expect, line
            current = "C->S" if head[1] == ">" else "S->C"
            expect = int(head[2])
            start = len(streams[current])
            assert start == int(head[3]), f"{path.name}: gap before {line}"
            assert int(head[4]) - int(head[3]) + 1 == expect, line
            continue
        data = re.match(r" ((?:[0-9a-f]{2} ){1,16})", line)
        if data and current is not None:
            streams[current] += bytes.fromhex(data[1])
    if current is not None:
        assert len(streams[current]) - start == expect
    return {k: bytes(v) for k, v in streams.items()}


def splitFrames(stream: bytes) -> list[bytes]:
    """
    Cut a byte stream into frames by their length words.
    """
    frames = []
    off = 0
    while off < len(stream):
        n = int.from_bytes(stream[off:off + 4], "big")
        assert 28 <= n <= len(stream) - off, f"bad length {n} at {off}"
        frames.append(stream[off:off + n])
        off += n
    return frames


def readDecoded(path: Path) -> list[dict[str, Any]]:
    """
    The rows of a C{.decoded.txt} listing: direction, program, procedure
    number and name, type, serial, status, length.
    """
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        f = line.split()
        out.append(dict(direction=f[1], program=f[3], proc=int(f[4]),
                        name=f[5], type=f[6], serial=int(f[7]),
                        status=f[8], length=int(f[9])))
    return out


def payloadType(header: Header) -> xdr.Type | None:
    """
    The type of a frame's payload, from the procedure tables; C{None} for
    stream data (raw bytes).
    """
    _, table = PROGRAMS[header.prog]
    proc = table[header.proc]
    if header.type == VIR_NET_STREAM:
        return RemoteError if header.status == VIR_NET_ERROR else None
    if header.type == VIR_NET_CALL:
        assert not proc.event, proc.name
        return proc.args
    if header.type == VIR_NET_REPLY:
        assert not proc.event, proc.name
        return RemoteError if header.status == VIR_NET_ERROR else proc.ret
    if header.type == VIR_NET_MESSAGE:
        assert proc.event, proc.name
        return proc.ret
    raise AssertionError(f"unexpected message type {header.type}")


def decodeFrame(raw: bytes) -> tuple[Header, Any]:
    """
    Decode a whole frame: header and payload value.
    """
    assert int.from_bytes(raw[:4], "big") == len(raw)
    header = decodeHeader(raw, 4)
    t = payloadType(header)
    payload = raw[28:]
    return header, (payload if t is None else t.decode(payload))


def encodeFrameValue(header: Header, value: Any) -> bytes:
    t = payloadType(header)
    return encodeFrame(header, value if t is None else t.pack(value))


def traceNames() -> list[str]:
    return sorted(p.name[:-len(".hex.txt")] for p in TRACES.glob("*.hex.txt"))


class TraceTests(SynchronousTestCase):
    """
    The captured conversations.
    """

    def frames(self, name: str) -> dict[str, list[bytes]]:
        streams = readHexTrace(TRACES / f"{name}.hex.txt")
        return {d: splitFrames(s) for d, s in streams.items()}

    def test_tracesPresent(self) -> None:
        self.assertEqual(traceNames(), [
            "py_events_lifecycle", "py_open_lookup_info_close",
            "virsh_dominfo_test", "virsh_list_all", "virsh_list_all_unix"])

    def test_everyFrameRoundTrips(self) -> None:
        """
        Every frame of every trace decodes via the tables and re-encodes to
        the same bytes.
        """
        count = 0
        for name in traceNames():
            for direction, frames in self.frames(name).items():
                for raw in frames:
                    header, value = decodeFrame(raw)
                    self.assertEqual(encodeFrameValue(header, value), raw,
                                     f"{name} {direction} {header}")
                    count += 1
        self.assertGreater(count, 100)

    def test_matchesDecodedListing(self) -> None:
        """
        Per direction, the frames are those of the C{.decoded.txt} listing:
        same programs, procedures, names, types, serials, statuses, lengths.
        """
        for name in traceNames():
            rows = readDecoded(TRACES / f"{name}.decoded.txt")
            frames = self.frames(name)
            for direction in ("C->S", "S->C"):
                want = [r for r in rows if r["direction"] == direction]
                got = []
                for raw in frames[direction]:
                    h = decodeHeader(raw, 4)
                    prog, table = PROGRAMS[h.prog]
                    got.append(dict(direction=direction, program=prog,
                                    proc=h.proc, name=table[h.proc].name,
                                    type=TYPE_NAMES[h.type], serial=h.serial,
                                    status=STATUS_NAMES[h.status],
                                    length=len(raw)))
                self.assertEqual(got, want, f"{name} {direction}")

    def values(self, name: str) -> list[tuple[str, Header, Any]]:
        out = []
        for direction, frames in self.frames(name).items():
            for raw in frames:
                h, v = decodeFrame(raw)
                out.append((direction, h, v))
        return out

    def find(self, name: str, procName: str, type_: int) -> list[Any]:
        proc = remote.BY_NAME[procName]
        return [v for _, h, v in self.values(name)
                if h.prog == REMOTE_PROGRAM and h.proc == proc.number
                and h.type == type_]

    def test_virshListAll(self) -> None:
        """
        What virsh sends and gets for C{list --all}, field by field.
        """
        for trace in ("virsh_list_all", "virsh_list_all_unix"):
            self.assertEqual(self.find(trace, "AUTH_LIST", VIR_NET_REPLY),
                             [([0],)])
            (opened,) = self.find(trace, "CONNECT_OPEN", VIR_NET_CALL)
            self.assertEqual(opened.name, "test:///default")
            features = [a.feature for a in self.find(
                trace, "CONNECT_SUPPORTS_FEATURE", VIR_NET_CALL)]
            self.assertEqual(features, [10, 14, 15])
            (listed,) = self.find(trace, "CONNECT_LIST_ALL_DOMAINS", VIR_NET_REPLY)
            self.assertEqual(listed.ret, 1)
            (dom,) = listed.domains
            self.assertEqual((dom.name, dom.id), ("test", 1))
            self.assertEqual(dom.uuid.hex(), "6695eb01f6a4830479aa97f2502e193f")
            (args,) = self.find(trace, "CONNECT_LIST_ALL_DOMAINS", VIR_NET_CALL)
            self.assertEqual((args.need_results, args.flags), (1, 3))
            (state,) = self.find(trace, "DOMAIN_GET_STATE", VIR_NET_REPLY)
            self.assertEqual((state.state, state.reason), (1, 0))  # RUNNING, UNKNOWN

    def test_virshDominfo(self) -> None:
        (info,) = self.find("virsh_dominfo_test", "DOMAIN_GET_INFO", VIR_NET_REPLY)
        self.assertEqual(info.state, 1)
        self.assertGreater(info.maxMem, 0)
        self.assertGreater(info.nrVirtCpu, 0)

    def test_pythonOpenLookupInfo(self) -> None:
        trace = "py_open_lookup_info_close"
        (lookup,) = self.find(trace, "DOMAIN_LOOKUP_BY_NAME", VIR_NET_CALL)
        self.assertEqual(lookup.name, "test")
        (found,) = self.find(trace, "DOMAIN_LOOKUP_BY_NAME", VIR_NET_REPLY)
        self.assertEqual(found.dom.name, "test")
        (info,) = self.find(trace, "DOMAIN_GET_INFO", VIR_NET_REPLY)
        self.assertEqual(info._fields,
                         ("state", "maxMem", "memory", "nrVirtCpu", "cpuTime"))

    def test_lifecycleEvents(self) -> None:
        """
        The callback lifecycle events carry the legacy message struct.
        """
        events = self.find("py_events_lifecycle", "DOMAIN_EVENT_CALLBACK_LIFECYCLE",
                           VIR_NET_MESSAGE)
        self.assertEqual(len(events), 8)
        kinds = [(e.msg.dom.name, e.msg.event, e.msg.detail) for e in events]
        self.assertEqual(kinds[0], ("test", 3, 0))     # SUSPENDED / PAUSED
        self.assertEqual(kinds[2], ("test", 5, 1))     # STOPPED / DESTROYED
        self.assertEqual(kinds[-2], ("evtest", 0, 0))  # DEFINED / ADDED
        regs = self.find("py_events_lifecycle",
                         "CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY", VIR_NET_CALL)
        self.assertEqual([(r.eventID, r.dom) for r in regs], [(0, None), (1, None)])
        for _, h, _ in self.values("py_events_lifecycle"):
            if h.type == VIR_NET_MESSAGE and h.prog == REMOTE_PROGRAM:
                self.assertEqual(h.serial, 1)

    def test_keepalive(self) -> None:
        pings = [(d, h) for d, h, _ in self.values("py_events_lifecycle")
                 if h.prog == KEEPALIVE_PROGRAM]
        self.assertTrue(pings)
        for _, h in pings:
            self.assertEqual((h.vers, h.type, h.serial, h.status),
                             (1, VIR_NET_MESSAGE, 0, VIR_NET_OK))
            self.assertIn(h.proc, (keepalive.PROC_PING, keepalive.PROC_PONG))

    def test_hexParserReassembles(self) -> None:
        """
        A chunk holding two frames (a PING and a PONG written together) is
        split into two frames.
        """
        raw = readHexTrace(TRACES / "py_events_lifecycle.hex.txt")["C->S"]
        frames = splitFrames(raw)
        self.assertEqual(sum(len(f) for f in frames), len(raw))
        self.assertIn(bytes.fromhex("0000001c6b6565700000000100000001"
                                    "000000020000000000000000"), frames)


class LibvirtVectorTests(SynchronousTestCase):
    """
    The byte vectors of libvirt's tests/virnetmessagetest.c (v9.0.0).
    """

    HEADER_CALL = bytes.fromhex(
        "0000001c 11223344 00000001 00000666 00000000 00000099 00000000")
    HEADER_REPLY_ERROR = bytes.fromhex(
        "0000001c 11223344 00000001 00000666 00000001 00000099 00000001")
    ERROR_MESSAGE = bytes.fromhex(
        "00000074 11223344 00000001 00000666 00000002 00000099 00000001"
        "00000001 00000007"
        "00000001 0000000b 48656c6c 6f20576f 726c6400"  # "Hello World"
        "00000002 00000000"
        "00000001 00000003 4f6e6500"                    # "One"
        "00000001 00000003 54776f00"                    # "Two"
        "00000001 00000005 54687265 65000000"           # "Three"
        "00000001 00000002 00000000")
    STREAM = bytes.fromhex(
        "00000047 11223344 00000001 00000666 00000003 00000099 00000002"
    ) + b"The quick brown fox jumps over the lazy dog"

    def test_headerOnlyCall(self) -> None:
        h = decodeHeader(self.HEADER_CALL, 4)
        self.assertEqual(h, Header(0x11223344, 1, 0x666, VIR_NET_CALL, 0x99, VIR_NET_OK))
        self.assertEqual(encodeFrame(h), self.HEADER_CALL)

    def test_headerDecode(self) -> None:
        h = decodeHeader(self.HEADER_REPLY_ERROR, 4)
        self.assertEqual((h.type, h.status), (VIR_NET_REPLY, VIR_NET_ERROR))
        self.assertEqual(encodeFrame(h), self.HEADER_REPLY_ERROR)

    def test_errorWithOptionalStrings(self) -> None:
        self.assertEqual(len(self.ERROR_MESSAGE), 0x74)
        h = decodeHeader(self.ERROR_MESSAGE, 4)
        self.assertEqual(h, Header(0x11223344, 1, 0x666, VIR_NET_MESSAGE, 0x99,
                                   VIR_NET_ERROR))
        err = RemoteError.decode(self.ERROR_MESSAGE[28:])
        self.assertEqual(err, RemoteError(
            code=1, domain=7, message="Hello World", level=2, dom=None,
            str1="One", str2="Two", str3="Three", int1=1, int2=2, net=None))
        self.assertEqual(encodeFrame(h, RemoteError.pack(err)), self.ERROR_MESSAGE)
        e = errorFromStruct(err)
        self.assertEqual(e.err, (1, 7, "Hello World", 2, "One", "Two", "Three", 1, 2))

    def test_streamWithoutPadding(self) -> None:
        """
        Stream data is raw: 43 bytes of payload, no length word, no padding.
        """
        self.assertEqual(len(self.STREAM), 71)
        h = decodeHeader(self.STREAM, 4)
        self.assertEqual((h.type, h.status), (VIR_NET_STREAM, VIR_NET_CONTINUE))
        payload = self.STREAM[28:]
        self.assertEqual(len(payload), 43)
        self.assertEqual(encodeFrame(h, payload), self.STREAM)


class FactSheetExampleTests(SynchronousTestCase):
    """
    The worked byte examples of the wire fact sheet, section 1.11.
    """

    EXAMPLES = [
        "0000001c 20008086 00000001 00000042 00000000 00000000 00000000",
        "00000024 20008086 00000001 00000042 00000001 00000000 00000000 00000001"
        " 00000000",
        "00000020 20008086 00000001 0000003c 00000000 00000001 00000000 0000000a",
        "00000020 20008086 00000001 0000003c 00000001 00000001 00000000 00000001",
        "00000038 20008086 00000001 00000001 00000000 00000002 00000000 00000001"
        " 0000000f 74657374 3a2f2f2f 64656661 756c7400 00000000",
        "0000001c 20008086 00000001 00000001 00000001 00000002 00000000",
        "00000024 20008086 00000001 00000111 00000000 00000006 00000000 00000001"
        " 00000003",
        "0000001c 6b656570 00000001 00000001 00000002 00000000 00000000",
        "0000001c 6b656570 00000001 00000002 00000002 00000000 00000000",
        "00000040 20008086 00000001 00000111 00000001 00000006 00000000 00000001"
        " 00000004 74657374 6695eb01 f6a48304 79aa97f2 502e193f 00000001 00000001",
        "00000070 20008086 00000001 00000017 00000001 00000007 00000001 0000002a"
        " 0000000c 00000001 00000010 446f6d61 696e206e 6f742066 6f756e64 00000002"
        " 00000000 00000001 00000010 446f6d61 696e206e 6f742066 6f756e64 00000000"
        " 00000000 ffffffff ffffffff 00000000",
        "00000044 20008086 00000001 0000013e 00000002 00000001 00000000 00000000"
        " 00000004 74657374 6695eb01 f6a48304 79aa97f2 502e193f 00000001 00000002"
        " 00000000",
    ]

    def test_roundTrip(self) -> None:
        for text in self.EXAMPLES:
            raw = bytes.fromhex(text)
            h, v = decodeFrame(raw)
            self.assertEqual(encodeFrameValue(h, v), raw, text)

    def test_values(self) -> None:
        _, err = decodeFrame(bytes.fromhex(self.EXAMPLES[10]))
        self.assertEqual((err.code, err.domain, err.message, err.str1, err.str2),
                         (42, 12, "Domain not found", "Domain not found", None))
        _, event = decodeFrame(bytes.fromhex(self.EXAMPLES[11]))
        self.assertEqual((event.callbackID, event.msg.event, event.msg.detail),
                         (0, 2, 0))
        _, opened = decodeFrame(bytes.fromhex(self.EXAMPLES[4]))
        self.assertEqual(opened, (("test:///default"), 0))
