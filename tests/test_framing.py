"""
Tests for L{virtd.rpc.framing}: libvirt length framing, RFC 5531 record
marking and the choice between them.
"""

from __future__ import annotations

import struct

from twisted.trial.unittest import SynchronousTestCase

from virtd.protocol.message import MAX_FRAME, MIN_FRAME, Header, encodeFrame
from virtd.rpc.framing import (
    LAST_FRAGMENT,
    MAX_EMPTY_FRAGMENTS,
    AutoFramer,
    FramingError,
    LengthFramer,
    RecordFramer,
    encodeLength,
    encodeRecord,
)

AUTH_LIST_CALL = bytes.fromhex(
    "0000001c 20008086 00000001 00000042 00000000 00000000 00000000")
PING = bytes.fromhex(
    "0000001c 6b656570 00000001 00000001 00000002 00000000 00000000")


def header(serial: int = 0, proc: int = 66) -> Header:
    return Header(0x20008086, 1, proc, 0, serial, 0)


def message(serial: int, payload: bytes) -> bytes:
    """
    A message as the framers deliver it: header then payload.
    """
    return struct.pack(">IIiiIi", *header(serial)) + payload


def pattern(n: int) -> bytes:
    return bytes(range(256)) * (n // 256) + bytes(range(n % 256))


def chunks(data: bytes, size: int):
    for i in range(0, len(data), size):
        yield data[i:i + size]


class EncodeTests(SynchronousTestCase):
    def test_lengthMatchesWireFacts(self) -> None:
        """
        C{encodeLength} produces the AUTH_LIST call of wire facts 1.11.
        """
        self.assertEqual(encodeLength(header(0)), AUTH_LIST_CALL)
        self.assertEqual(
            encodeLength(Header(0x6B656570, 1, 1, 2, 0, 0)), PING)
        self.assertEqual(encodeLength(header(3), b"abcde"),
                         encodeFrame(header(3), b"abcde"))

    def test_record(self) -> None:
        """
        C{encodeRecord} writes one last fragment of header + payload.
        """
        frame = encodeRecord(header(5), b"abcd")
        self.assertEqual(frame[:4], struct.pack(">I", 0x80000000 | 28))
        self.assertEqual(frame[4:], message(5, b"abcd"))


class LengthFramerTests(SynchronousTestCase):
    def test_oneFrame(self) -> None:
        """
        A whole frame in one segment gives its message, without the length
        word, as C{bytes}.
        """
        f = LengthFramer()
        out = f.feed(AUTH_LIST_CALL)
        self.assertEqual(out, [AUTH_LIST_CALL[4:]])
        self.assertIsInstance(out[0], bytes)
        self.assertEqual(f.buffered, 0)
        self.assertFalse(f.inMessage)

    def _bigFrame(self) -> tuple[bytes, bytes]:
        payload = pattern(4 * 1024 * 1024)
        return encodeLength(header(9), payload), message(9, payload)

    def test_fourMiBOneByteAtATime(self) -> None:
        """
        A 4 MiB frame fed one byte at a time reassembles exactly, and comes
        out only with its last byte.
        """
        frame, expected = self._bigFrame()
        f = LengthFramer()
        feed = f.feed
        out = []
        for i in range(len(frame) - 1):
            out += feed(frame[i:i + 1])
        self.assertEqual(out, [])
        self.assertEqual(f.buffered, len(frame) - 5)
        self.assertTrue(f.inMessage)
        out = feed(frame[-1:])
        self.assertEqual(len(out), 1)
        self.assertEqual(out[0], expected)
        self.assertEqual(f.buffered, 0)

    def test_fourMiBInSevenByteChunks(self) -> None:
        """
        The same frame, followed by a small one, fed in 7-byte chunks.
        """
        frame, expected = self._bigFrame()
        f = LengthFramer()
        out = []
        for c in chunks(frame + AUTH_LIST_CALL, 7):
            out += f.feed(c)
        self.assertEqual(out, [expected, AUTH_LIST_CALL[4:]])
        self.assertEqual(f.buffered, 0)

    def test_hundredFramesInOneSegment(self) -> None:
        """
        100 frames in one segment give 100 messages in order.
        """
        frames = [encodeLength(header(i), pattern(i * 3)) for i in range(100)]
        out = LengthFramer().feed(b"".join(frames))
        self.assertEqual(out, [message(i, pattern(i * 3)) for i in range(100)])

    def test_splitEverywhere(self) -> None:
        """
        Two frames split at every possible point give the same messages.
        """
        data = encodeLength(header(1), b"x" * 13) + encodeLength(header(2))
        for cut in range(1, len(data)):
            f = LengthFramer()
            out = f.feed(data[:cut]) + f.feed(data[cut:])
            self.assertEqual(out, [message(1, b"x" * 13), message(2, b"")],
                             f"cut at {cut}")

    def test_badLengthsRejectedBeforeBuffering(self) -> None:
        """
        Lengths 0, 3, 4, 27, 32 MiB + 5 and 0xFFFFFFFF raise L{FramingError}
        as soon as the length word is complete, with nothing buffered of
        the body that follows, whether the word arrives whole or split.
        """
        body = b"\x00" * 4096
        for length in (0, 3, 4, 27, MAX_FRAME + 1, 0xFFFFFFFF):
            word = struct.pack(">I", length)
            f = LengthFramer()
            e = self.assertRaises(FramingError, f.feed, word + body)
            self.assertIn(str(length), e.reason)
            self.assertEqual(f.buffered, 0)
            self.assertEqual(e.messages, [])
            # The framer stays failed.
            self.assertRaises(FramingError, f.feed, AUTH_LIST_CALL)
            self.assertEqual(f.buffered, 0)

            f = LengthFramer()
            self.assertEqual(f.feed(word[:2]), [])
            self.assertRaises(FramingError, f.feed, word[2:] + body)
            self.assertEqual(f.buffered, 0)

            f = LengthFramer()
            f.feed(AUTH_LIST_CALL[:10])
            e = self.assertRaises(FramingError, f.feed,
                                  AUTH_LIST_CALL[10:] + word + body)
            self.assertEqual(e.messages, [AUTH_LIST_CALL[4:]])
            self.assertEqual(f.buffered, 0)

    def test_garbageDescribed(self) -> None:
        """
        The error says what data that is not libvirt RPC looks like.
        """
        cases = [
            (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "an HTTP request"),
            (b"HTTP/1.1 400 Bad Request\r\n", "an HTTP response"),
            (b"SSH-2.0-OpenSSH_9.2p1\r\n", "an SSH banner"),
            (b"bash: virt-ssh-helper: command not found\n", "text"),
            (bytes.fromhex("160301020001") + b"\0" * 40, "TLS handshake"),
        ]
        for data, kind in cases:
            for split in (len(data), 2):
                f = LengthFramer()
                f.feed(data[:split][:3])
                e = self.assertRaises(FramingError, f.feed,
                                      data[:split][3:] + data[split:])
                self.assertIn(kind, e.reason)
                self.assertEqual(f.buffered, 0)
        e = self.assertRaises(FramingError, LengthFramer().feed,
                              b"\xff\xff\xff\xff\x01")
        self.assertNotIn("looks like", e.reason)

    def test_goodFramesBeforeBadOneAreReported(self) -> None:
        """
        The messages that precede a bad length in the same segment are
        carried by the error, so they can still be handled.
        """
        e = self.assertRaises(
            FramingError, LengthFramer().feed,
            AUTH_LIST_CALL + struct.pack(">I", 3) + AUTH_LIST_CALL)
        self.assertEqual(e.messages, [AUTH_LIST_CALL[4:]])

    def test_limits(self) -> None:
        """
        28 and 32 MiB + 4 are legal lengths; a smaller C{maxFrame} is obeyed.
        """
        f = LengthFramer()
        self.assertEqual(f.feed(struct.pack(">I", MAX_FRAME) + b"h" * 24),
                         [])
        self.assertEqual(f.buffered, 24)
        self.assertEqual(LengthFramer().feed(struct.pack(">I", MIN_FRAME)
                                             + b"h" * 24), [b"h" * 24])
        small = LengthFramer(maxFrame=100)
        self.assertRaises(FramingError, small.feed, struct.pack(">I", 101))


def withFds(serial: int, count: int, args: bytes = b"", mtype: int = 4
            ) -> bytes:
    """
    A CALL_WITH_FDS frame (or another C{mtype}) counting C{count}
    descriptors, then the dummy byte libvirt sends with each.
    """
    h = Header(0x20008086, 1, 309, mtype, serial, 0)
    return (encodeLength(h, struct.pack(">I", count) + args)
            + b"\0" * count)


class DescriptorTests(SynchronousTestCase):
    """
    Messages that pass file descriptors: libvirt sends one dummy byte per
    descriptor after the message, outside any frame.
    """

    def test_dummyBytesSkipped(self) -> None:
        """
        The dummy bytes after a CALL_WITH_FDS or REPLY_WITH_FDS are
        dropped, wherever the stream is split; the message keeps its count.
        """
        data = (withFds(1, 2, b"args") + encodeLength(header(2))
                + withFds(3, 1, mtype=5) + withFds(4, 0)
                + encodeLength(header(5), b"x" * 5))
        whole = LengthFramer().feed(data)
        self.assertEqual([m[16:20] for m in whole],
                         [struct.pack(">I", i) for i in range(1, 6)])
        self.assertEqual(whole[0][24:], struct.pack(">I", 2) + b"args")
        for cut in range(1, len(data)):
            for cut2 in range(cut, len(data), 7):
                f = LengthFramer()
                out = (f.feed(data[:cut]) + f.feed(data[cut:cut2])
                       + f.feed(data[cut2:]))
                self.assertEqual(out, whole, f"cuts at {cut}, {cut2}")
                self.assertFalse(f.inMessage)

    def test_waitingForDummyBytes(self) -> None:
        """
        A message whose descriptors have not all arrived leaves the framer
        inside a message (so the frame deadline still applies).
        """
        f = LengthFramer()
        data = withFds(1, 3)
        self.assertEqual(len(f.feed(data[:-2])), 1)
        self.assertTrue(f.inMessage)
        self.assertEqual(f.feed(data[-2:]), [])
        self.assertFalse(f.inMessage)

    def test_tooManyDescriptors(self) -> None:
        """
        More than 32 descriptors is an error, as in libvirt, and the
        messages before it are still reported.
        """
        self.assertEqual(len(LengthFramer().feed(withFds(1, 32))), 1)
        e = self.assertRaises(FramingError, LengthFramer().feed,
                              AUTH_LIST_CALL + withFds(1, 33))
        self.assertEqual(e.messages, [AUTH_LIST_CALL[4:]])
        self.assertIn("33 file descriptors, more than the 32", e.reason)

    def test_noCount(self) -> None:
        """
        A CALL_WITH_FDS too short to hold its count is an error.
        """
        frame = encodeLength(Header(0x20008086, 1, 309, 4, 1, 0))
        for cut in (0, 2, 10):  # whole, in the length word, in the body
            f = LengthFramer()
            f.feed(frame[:cut])
            e = self.assertRaises(FramingError, f.feed, frame[cut:])
            self.assertIn("no count", e.reason)
            # And it stays failed.
            self.assertRaises(FramingError, f.feed, AUTH_LIST_CALL)

    def test_otherTypesEndingInFour(self) -> None:
        """
        Only the types 4 and 5 count descriptors, not one whose last byte
        happens to be 4.
        """
        h = Header(0x20008086, 1, 66, 0x104, 1, 0)
        frame = encodeLength(h, b"\0\0\0\x09")
        self.assertEqual(LengthFramer().feed(frame + AUTH_LIST_CALL),
                         [frame[4:], AUTH_LIST_CALL[4:]])


class RecordFramerTests(SynchronousTestCase):
    def test_oneFragment(self) -> None:
        """
        A one-fragment record gives its contents.
        """
        f = RecordFramer()
        out = f.feed(encodeRecord(header(3), b"data") * 3)
        self.assertEqual(out, [message(3, b"data")] * 3)
        self.assertFalse(f.inMessage)

    def _fragmented(self, payload: bytes, sizes: list[int]) -> bytes:
        body = message(4, payload)
        out, pos = [], 0
        for i, size in enumerate(sizes):
            last = i == len(sizes) - 1
            if last:
                size = len(body) - pos
            out.append(struct.pack(">I", (LAST_FRAGMENT if last else 0)
                                   | size) + body[pos:pos + size])
            pos += size
        return b"".join(out)

    def test_multiFragment(self) -> None:
        """
        A record in several fragments, including empty ones, fed whole, in
        one-byte pieces and in 7-byte chunks, gives one message.
        """
        payload = pattern(1000)
        data = self._fragmented(payload, [10, 0, 300, 1, 0, 0])
        expected = [message(4, payload)]
        self.assertEqual(RecordFramer().feed(data), expected)
        for size in (1, 7):
            f = RecordFramer()
            out = []
            for c in chunks(data + data, size):
                out += f.feed(c)
            self.assertEqual(out, expected * 2)
            self.assertEqual(f.buffered, 0)

    def test_oversizedRecordRejectedBeforeBuffering(self) -> None:
        """
        A fragment mark that takes the record over the limit is refused
        before its bytes are buffered, also when earlier fragments were
        legal.
        """
        f = RecordFramer()
        self.assertRaises(FramingError, f.feed,
                          struct.pack(">I", LAST_FRAGMENT | (MAX_FRAME - 3))
                          + b"x" * 100)
        self.assertEqual(f.buffered, 0)
        f = RecordFramer(maxFrame=1004)
        f.feed(struct.pack(">I", 600) + b"x" * 600)
        self.assertEqual(f.buffered, 600)
        e = self.assertRaises(FramingError, f.feed,
                              struct.pack(">I", LAST_FRAGMENT | 401) + b"y")
        self.assertIn("exceeds", e.reason)
        self.assertEqual(f.buffered, 0)
        self.assertRaises(FramingError, f.feed, b"")

    def test_emptyFragmentsBounded(self) -> None:
        """
        An endless run of empty non-last fragments ends in an error instead
        of keeping the framer busy for ever.
        """
        f = RecordFramer()
        self.assertEqual(f.feed(b"\0\0\0\0" * MAX_EMPTY_FRAGMENTS), [])
        self.assertRaises(FramingError, f.feed, b"\0\0\0\0" * 1000)

    def test_shortRecord(self) -> None:
        """
        A record too short for a header is refused.
        """
        self.assertRaises(FramingError, RecordFramer().feed,
                          struct.pack(">I", LAST_FRAGMENT | 8) + b"x" * 8)
        f = RecordFramer()
        f.feed(struct.pack(">I", 4) + b"abcd")
        self.assertRaises(FramingError, f.feed,
                          struct.pack(">I", LAST_FRAGMENT | 4) + b"efgh")


class AutoFramerTests(SynchronousTestCase):
    def test_length(self) -> None:
        """
        A first word without bit 31 selects libvirt framing, even when it
        arrives one byte at a time.
        """
        f = AutoFramer()
        self.assertIsNone(f.kind)
        out = []
        for i in range(len(AUTH_LIST_CALL)):
            out += f.feed(AUTH_LIST_CALL[i:i + 1])
        self.assertEqual(f.kind, "length")
        self.assertEqual(out, [AUTH_LIST_CALL[4:]])
        self.assertEqual(f.encode(header(0)), AUTH_LIST_CALL)

    def test_record(self) -> None:
        """
        A first word with bit 31 set selects record marking; replies are then
        encoded as records.
        """
        f = AutoFramer()
        data = encodeRecord(header(1), b"pq") + encodeRecord(header(2))
        self.assertEqual(f.feed(data[:2]), [])
        self.assertEqual(f.feed(data[2:]),
                         [message(1, b"pq"), message(2, b"")])
        self.assertEqual(f.kind, "record")
        self.assertEqual(f.encode(header(3)), encodeRecord(header(3)))

    def test_badFirstWord(self) -> None:
        """
        A first word that is neither a legal length nor a legal mark fails.
        """
        f = AutoFramer()
        self.assertRaises(FramingError, f.feed, b"GET / HTTP/1.1\r\n")
        self.assertEqual(f.buffered, 0)
