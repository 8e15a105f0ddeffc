"""
Sans-I/O framing of libvirt's RPC byte stream.

Two framings carry the same messages (a 24-byte header followed by the
payload):

  - L{LengthFramer}: libvirt's own, a 4-byte big-endian length word that
    counts itself, the header and the payload (wire facts section 1.1);
  - L{RecordFramer}: RFC 5531 record marking, the SunRPC framing of the seed
    protocol; each fragment starts with a 4-byte mark whose bit 31 says "last
    fragment" and whose low 31 bits give the fragment's length.

L{AutoFramer} picks one of them from the first word a client sends: a legal
length word is at most 32 MiB + 4, so its bit 31 is never set, while a record
mark for a one-fragment record always has it set.

Every framer's C{feed(data)} returns the complete messages found so far, as
C{bytes} with the header at offset 0, and raises L{FramingError} as soon as a
length is seen that cannot be right, before any byte of the body it announces
is buffered. Reassembly is linear in the bytes received: the framer walks each
incoming segment with a read offset, slices complete messages straight out of
it, and copies into its single C{bytearray} only the one message that is
still incomplete at the end of a segment. That buffer therefore never holds
more than one partial message and never needs compacting.
"""

from __future__ import annotations

import struct

from virtd.protocol.message import (
    MAX_FRAME,
    MIN_FRAME,
    VIR_NET_MESSAGE_HEADER_MAX,
    VIR_NET_MESSAGE_LEN_MAX,
    VIR_NET_MESSAGE_NUM_FDS_MAX,
)

__all__ = [
    "FramingError", "LengthFramer", "describeGarbage", "RecordFramer", "AutoFramer",
    "encodeLength", "encodeRecord", "LAST_FRAGMENT", "MAX_EMPTY_FRAGMENTS",
]

_U32 = struct.Struct(">I")
_u32 = _U32.unpack_from
_FRAME_HEAD = struct.Struct(">IIIiiIi")
_framePack = _FRAME_HEAD.pack

#: Bit 31 of a record mark: this fragment ends the record.
LAST_FRAGMENT = 0x80000000
_FRAGMENT_MASK = 0x7FFFFFFF
#: How many empty fragments one record may contain before we give up on the
#: peer (an endless run of empty non-last fragments would otherwise keep a
#: connection busy forever without ever producing a message).
MAX_EMPTY_FRAGMENTS = 16


class FramingError(Exception):
    """
    The byte stream cannot be split into messages; the connection must close.

    @ivar reason: what was wrong, in words.
    @ivar messages: the complete messages that preceded the bad data in the
        segment being fed; they are valid and should still be processed.
    """

    def __init__(self, reason: str, messages: list[bytes] | None = None
                 ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.messages = messages if messages is not None else []


def encodeLength(header: tuple, payload: bytes = b"") -> bytes:
    """
    Encode one message in libvirt's framing: length word, header, payload
    (the same bytes as L{virtd.protocol.message.encodeFrame}).

    @param header: a L{virtd.protocol.message.Header} or any 6-tuple in its
        field order.
    """
    return _framePack(MIN_FRAME + len(payload), *header) + payload


def encodeRecord(header: tuple, payload: bytes = b"") -> bytes:
    """
    Encode one message as a single-fragment RFC 5531 record.
    """
    return _framePack(LAST_FRAGMENT | (VIR_NET_MESSAGE_HEADER_MAX +
                                       len(payload)), *header) + payload


def describeGarbage(data: bytes) -> str | None:
    """
    Say what bytes that are not libvirt RPC look like, so that a person
    can tell what is at the other end.

    @param data: the first bytes of the bad frame.
    @return: a phrase, or C{None} when the bytes look like nothing known.
    """
    if data[:2] == b"\x16\x03":
        return ("the data looks like a TLS handshake: the other end expects "
                "TLS (use a tls transport or the TLS port)")
    if data[:1] == b"\x15" and data[1:2] == b"\x03":
        return "the data looks like a TLS alert: the other end speaks TLS"
    text = data.split(b"\n", 1)[0].rstrip(b"\r")
    if not text or not all(32 <= c < 127 or c == 9 for c in text):
        return None
    shown = text[:60].decode("ascii")
    if text.startswith(b"SSH-"):
        kind = "an SSH banner"
    elif text.startswith(b"HTTP/"):
        kind = "an HTTP response"
    elif text.split(b" ", 1)[0] in (b"GET", b"POST", b"HEAD", b"PUT",
                                     b"DELETE", b"OPTIONS", b"CONNECT"):
        kind = "an HTTP request"
    else:
        kind = "text (a shell or program message?)"
    return f"the data looks like {kind}, not libvirt RPC: {shown!r}"


class LengthFramer:
    """
    Reassembles messages framed by libvirt's length word.

    @ivar maxFrame: the largest length word accepted (it counts itself).
    @ivar kind: C{'length'}.
    """

    kind = "length"

    def __init__(self, maxFrame: int = MAX_FRAME) -> None:
        if maxFrame < MIN_FRAME:
            raise ValueError(f"maxFrame must be at least {MIN_FRAME}")
        self.maxFrame = maxFrame
        # The message in progress: the length word while it is incomplete,
        # then the body (header and payload, without the length word).
        self._buf = bytearray()
        # Bytes of body still missing, or 0 while reading the length word.
        self._need = 0
        # Bytes still to drop after a message that passed file descriptors:
        # libvirt sends one dummy byte with each descriptor, after the
        # message and outside any frame.
        self._skip = 0
        self._error: str | None = None

    @property
    def buffered(self) -> int:
        """
        Bytes held for the message in progress.
        """
        return len(self._buf)

    @property
    def inMessage(self) -> bool:
        """
        Whether part of a message (or of the descriptors it passes) has
        arrived and the rest is awaited.
        """
        return self._need > 0 or bool(self._buf) or self._skip > 0

    def encode(self, header: tuple, payload: bytes = b"") -> bytes:
        """
        Encode one message in this framing (see L{encodeLength}).
        """
        if payload:
            return _framePack(MIN_FRAME + len(payload), *header) + payload
        return _framePack(MIN_FRAME, *header)

    def _bad(self, length: int, messages: list[bytes], start: bytes
             ) -> FramingError:
        self._buf = bytearray()
        self._need = 0
        if length < MIN_FRAME:
            why = (f"frame length {length} is below the minimum of "
                   f"{MIN_FRAME} (length word and header)")
        else:
            why = (f"frame length {length} exceeds the maximum of "
                   f"{self.maxFrame}")
        looks = describeGarbage(start)
        if looks:
            why = f"{why}; {looks}"
        self._error = why
        return FramingError(why, messages)

    def _fdBytes(self, message: bytes, out: list[bytes]) -> int:
        """
        The dummy bytes that follow C{message}, a CALL_WITH_FDS or
        REPLY_WITH_FDS: one per descriptor it passes.

        @raise FramingError: the message has no descriptor count, or
            counts more than libvirt allows (libvirt hangs up on both).
        """
        if message[12:15] != b"\0\0\0":
            return 0  # another type whose last byte is 4 or 5
        if len(message) < 28:
            why = "a message passing file descriptors has no count of them"
        else:
            count = _u32(message, 24)[0]
            if count <= VIR_NET_MESSAGE_NUM_FDS_MAX:
                return count
            why = (f"a message passes {count} file descriptors, more than "
                   f"the {VIR_NET_MESSAGE_NUM_FDS_MAX} libvirt allows")
        self._buf = bytearray()
        self._need = self._skip = 0
        self._error = why
        raise FramingError(why, out)

    def feed(self, data: bytes) -> list[bytes]:
        """
        Add received bytes.

        @param data: the bytes received (any split of the stream).
        @return: the messages completed by C{data}, without length words.
        @raise FramingError: a length word is out of range (nothing of its
            body has been buffered), a message passing file descriptors
            counts them wrongly, or an earlier call already failed.
        """
        if self._error is not None:
            raise FramingError(self._error)
        out: list[bytes] = []
        n = len(data)
        pos = 0
        if self._skip:
            if n <= self._skip:
                self._skip -= n
                return out
            pos = self._skip
            self._skip = 0
        buf = self._buf
        need = self._need
        message = None
        if need:
            # Finish the body of the message in progress.
            if n - pos < need:
                buf += memoryview(data)[pos:]
                self._need = need - (n - pos)
                return out
            buf += memoryview(data)[pos:pos + need]
            message = bytes(buf)
            self._buf = buf = bytearray()
            self._need = 0
            pos += need
        elif buf:
            # Finish the length word, and check it before taking more.
            take = 4 - len(buf)
            if n < take:
                buf += data
                return out
            buf += data[:take]
            length = _u32(buf)[0]
            if length < MIN_FRAME or length > self.maxFrame:
                raise self._bad(length, out,
                                bytes(buf) + data[take:take + 60])
            buf.clear()
            pos = take
            need = length - 4
            if n - pos < need:
                buf += memoryview(data)[pos:]
                self._need = need - (n - pos)
                return out
            message = data[pos:pos + need]
            pos += need
        if message is not None:
            # A message begun in an earlier segment is complete.
            if message[15] | 1 == 5:  # type ends in 4 or 5 (_fdBytes)
                pos += self._fdBytes(message, out)
            out.append(message)
            if pos > n:
                self._skip = pos - n
                return out
        # Walk the rest of the segment; nothing is buffered here.
        maxFrame = self.maxFrame
        append = out.append
        while n - pos >= 4:
            length = _u32(data, pos)[0]
            if length < MIN_FRAME or length > maxFrame:
                raise self._bad(length, out, data[pos:pos + 64])
            end = pos + length
            if end > n:
                buf += memoryview(data)[pos + 4:]
                self._need = end - n
                return out
            if data[pos + 19] | 1 == 5:  # type ends in 4 or 5 (_fdBytes)
                message = data[pos + 4:end]
                end += self._fdBytes(message, out)
                append(message)
                if end > n:
                    self._skip = end - n
                    return out
            else:
                append(data[pos + 4:end])
            pos = end
        if pos < n:
            buf += data[pos:]
        return out


class RecordFramer:
    """
    Reassembles RFC 5531 records (record marking), possibly in many fragments.

    A record must hold at least a header (24 bytes) and at most
    C{maxFrame - 4} bytes (the limit libvirt applies to header + payload).

    @ivar kind: C{'record'}.
    """

    kind = "record"

    def __init__(self, maxFrame: int = MAX_FRAME) -> None:
        if maxFrame < MIN_FRAME:
            raise ValueError(f"maxFrame must be at least {MIN_FRAME}")
        self.maxFrame = maxFrame
        self.maxRecord = maxFrame - VIR_NET_MESSAGE_LEN_MAX
        # Body of the record in progress (fragment marks not included).
        self._buf = bytearray()
        # An incomplete record mark.
        self._mark = b""
        # Bytes left in the current fragment; -1 while reading a mark.
        self._left = -1
        self._last = False
        self._empty = 0
        self._error: str | None = None

    @property
    def buffered(self) -> int:
        """
        Bytes held for the record in progress.
        """
        return len(self._buf) + len(self._mark)

    @property
    def inMessage(self) -> bool:
        """
        Whether part of a record has arrived and the rest is awaited.
        """
        return bool(self._buf or self._mark or self._left >= 0)

    def encode(self, header: tuple, payload: bytes = b"") -> bytes:
        """
        Encode one message as a one-fragment record (see L{encodeRecord}).
        """
        return _framePack(LAST_FRAGMENT | (VIR_NET_MESSAGE_HEADER_MAX +
                                           len(payload)), *header) + payload

    def _fail(self, why: str, messages: list[bytes]) -> FramingError:
        self._buf = bytearray()
        self._mark = b""
        self._left = -1
        self._error = why
        return FramingError(why, messages)

    def feed(self, data: bytes) -> list[bytes]:
        """
        Add received bytes.

        @return: the records completed by C{data} (header at offset 0).
        @raise FramingError: a fragment would take the record over the
            maximum, a record is shorter than a header, too many empty
            fragments, or an earlier call already failed.
        """
        if self._error is not None:
            raise FramingError(self._error)
        out: list[bytes] = []
        n = len(data)
        pos = 0
        pending = -1
        if self._mark:
            # Complete a mark split across segments.
            take = 4 - len(self._mark)
            if n < take:
                self._mark += data
                return out
            pending = _u32(self._mark + data[:take])[0]
            self._mark = b""
            pos = take
        maxRecord = self.maxRecord
        while True:
            left = self._left
            if left < 0:
                if pending >= 0:
                    mark = pending
                    pending = -1
                else:
                    if n - pos < 4:
                        if pos < n:
                            self._mark = bytes(data[pos:])
                        return out
                    mark = _u32(data, pos)[0]
                    pos += 4
                left = mark & _FRAGMENT_MASK
                last = self._last = mark >= LAST_FRAGMENT
                have = len(self._buf)
                if have + left > maxRecord:
                    raise self._fail(
                        f"record of at least {have + left} bytes exceeds the "
                        f"maximum of {maxRecord}", out)
                if left == 0:
                    self._empty += 1
                    if self._empty > MAX_EMPTY_FRAGMENTS:
                        raise self._fail(
                            f"more than {MAX_EMPTY_FRAGMENTS} empty fragments "
                            "in one record", out)
                if last and not have and n - pos >= left:
                    # Common case: a whole one-fragment record is here.
                    if left < VIR_NET_MESSAGE_HEADER_MAX:
                        raise self._fail(
                            f"record of {left} bytes is shorter than a "
                            "message header", out)
                    out.append(data[pos:pos + left])
                    pos += left
                    self._empty = 0
                    continue
                self._left = left
            take = n - pos
            if take < left:
                self._buf += memoryview(data)[pos:]
                self._left = left - take
                return out
            self._buf += memoryview(data)[pos:pos + left]
            pos += left
            self._left = -1
            if self._last:
                rec = self._buf
                if len(rec) < VIR_NET_MESSAGE_HEADER_MAX:
                    raise self._fail(
                        f"record of {len(rec)} bytes is shorter than a "
                        "message header", out)
                out.append(bytes(rec))
                self._buf = bytearray()
                self._empty = 0


class AutoFramer:
    """
    Chooses libvirt length framing or record marking from the first word
    received, then behaves as the chosen framer. Until it has chosen, it
    encodes with libvirt's framing.

    @ivar kind: C{None} until chosen, then C{'length'} or C{'record'}.
    @ivar framer: the chosen framer, or C{None}.
    """

    kind: str | None = None
    framer: LengthFramer | RecordFramer | None = None

    def __init__(self, maxFrame: int = MAX_FRAME) -> None:
        self.maxFrame = maxFrame
        self._head = b""

    @property
    def buffered(self) -> int:
        """
        Bytes held for the message in progress.
        """
        if self.framer is None:
            return len(self._head)
        return self.framer.buffered

    @property
    def inMessage(self) -> bool:
        """
        Whether part of a message has arrived and the rest is awaited.
        """
        if self.framer is None:
            return bool(self._head)
        return self.framer.inMessage

    def encode(self, header: tuple, payload: bytes = b"") -> bytes:
        """
        Encode one message in the chosen framing (libvirt's until chosen).
        """
        if self.framer is None:
            return encodeLength(header, payload)
        return self.framer.encode(header, payload)

    def feed(self, data: bytes) -> list[bytes]:
        """
        Add received bytes; see L{LengthFramer.feed}.
        """
        if self.framer is not None:
            return self.framer.feed(data)
        head = self._head + data[:4 - len(self._head)]
        if len(head) < 4:
            self._head = head
            return []
        rest = data[4 - len(self._head):]
        self._head = b""
        if _u32(head)[0] & LAST_FRAGMENT:
            self.framer = RecordFramer(self.maxFrame)
        else:
            self.framer = LengthFramer(self.maxFrame)
        self.kind = self.framer.kind
        self.feed = self.framer.feed  # type: ignore[method-assign]
        out = self.framer.feed(head)
        return out + self.framer.feed(rest) if rest else out
