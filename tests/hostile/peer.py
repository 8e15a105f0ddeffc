"""
A raw-socket libvirt peer for hostile tests.

Frames are built here with C{struct}, by hand, and replies are taken apart
the same way: nothing goes through virtd's own codec or framing, so a bug
there cannot hide a bug in the daemon. (Only the read-only sweep packs
argument payloads with L{virtd.xdr}, because building 443 argument structs
by hand would prove nothing more.)
"""

from __future__ import annotations

import select
import socket
import struct
import time

__all__ = [
    "PROGRAM", "KEEPALIVE", "CALL", "REPLY", "MESSAGE", "STREAM",
    "OK", "ERROR", "Closed", "RawPeer", "frame", "xstring", "xoptstring",
    "decodeError", "openArgs",
]

PROGRAM = 0x20008086
KEEPALIVE = 0x6B656570
CALL, REPLY, MESSAGE, STREAM = 0, 1, 2, 3
OK, ERROR = 0, 1

# Procedure numbers used by the suite (wire facts appendix A).
PROC_CONNECT_OPEN = 1
PROC_CONNECT_CLOSE = 2
PROC_GET_HOSTNAME = 59
PROC_SUPPORTS_FEATURE = 60
PROC_AUTH_LIST = 66
PROC_LOOKUP_BY_NAME = 23
PROC_GET_CAPABILITIES = 7

_HEAD = struct.Struct(">IIIiiIi")
_U32 = struct.Struct(">I")


class Closed(Exception):
    """
    The daemon closed the connection.
    """


def frame(proc: int = PROC_AUTH_LIST, payload: bytes = b"", serial: int = 0,
          prog: int = PROGRAM, vers: int = 1, mtype: int = CALL,
          status: int = OK, length: int | None = None) -> bytes:
    """
    One framed message; C{length} overrides the length word.
    """
    n = 28 + len(payload) if length is None else length
    return struct.pack(">IIIiiIi", n & 0xFFFFFFFF, prog, vers, proc, mtype,
                       serial, status) + payload


def xstring(value: bytes | str, declared: int | None = None) -> bytes:
    """
    An XDR string (length, bytes, zero padding); C{declared} overrides the
    length word.
    """
    if isinstance(value, str):
        value = value.encode()
    n = len(value) if declared is None else declared
    return _U32.pack(n & 0xFFFFFFFF) + value + b"\0" * (-len(value) % 4)


def xoptstring(value: bytes | str | None) -> bytes:
    """
    An optional XDR string (flag, then the string when present).
    """
    if value is None:
        return _U32.pack(0)
    return _U32.pack(1) + xstring(value)


def openArgs(uri: str | None = "test:///default", flags: int = 0) -> bytes:
    """
    CONNECT_OPEN's arguments: optional name, flags.
    """
    return xoptstring(uri) + struct.pack(">I", flags)


def _xstr(buf: bytes, pos: int) -> tuple[bytes, int]:
    (n,) = _U32.unpack_from(buf, pos)
    pos += 4
    return buf[pos:pos + n], pos + n + (-n % 4)


def _xopt(buf: bytes, pos: int) -> tuple[str | None, int]:
    (flag,) = _U32.unpack_from(buf, pos)
    if not flag:
        return None, pos + 4
    s, pos = _xstr(buf, pos + 4)
    return s.decode("utf-8", "replace"), pos


def decodeError(payload: bytes) -> tuple[int, int, str | None]:
    """
    The code, domain and message of a C{remote_error} payload.
    """
    code, domain = struct.unpack_from(">ii", payload)
    message, _ = _xopt(payload, 8)
    return code, domain, message


class RawPeer:
    """
    A blocking client socket to the daemon that speaks bytes.

    @ivar headers: every header received, in order, as 6-tuples.
    """

    def __init__(self, address: str | tuple, timeout: float = 5.0) -> None:
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        self.serial = 0
        self._buf = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def call(self, proc: int, payload: bytes = b"", **kw) -> int:
        """
        Send a CALL with the next serial; return that serial.
        """
        serial = kw.pop("serial", self.serial)
        self.serial = max(self.serial, serial) + 1
        self.send(frame(proc, payload, serial, **kw))
        return serial

    def _read(self, n: int, deadline: float) -> bytes:
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no complete frame within the deadline "
                                   f"({len(self._buf)} bytes buffered)")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError) as e:
                raise Closed(str(e)) from None
            if not chunk:
                raise Closed("EOF")
            self._buf += chunk
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def readFrame(self, timeout: float = 5.0) -> tuple[tuple, bytes]:
        """
        @return: (header 6-tuple, payload) of the next frame.
        @raise Closed: the daemon hung up.
        @raise TimeoutError: nothing complete within C{timeout}.
        """
        deadline = time.monotonic() + timeout
        (n,) = _U32.unpack(self._read(4, deadline))
        if n < 28:
            raise AssertionError(f"the daemon sent a frame of length {n}")
        body = self._read(n - 4, deadline)
        return struct.unpack_from(">IIiiIi", body), body[24:]

    def reply(self, timeout: float = 5.0) -> tuple[tuple, bytes]:
        """
        The next frame that is not a keepalive message.
        """
        while True:
            h, payload = self.readFrame(timeout)
            if h[0] != KEEPALIVE:
                return h, payload

    def roundtrip(self, proc: int, payload: bytes = b"",
                  timeout: float = 5.0, **kw) -> tuple[tuple, bytes]:
        self.call(proc, payload, **kw)
        return self.reply(timeout)

    def handshake(self, uri: str = "test:///default", flags: int = 0) -> None:
        """
        AUTH_LIST then CONNECT_OPEN, both expected to succeed.
        """
        for proc, payload in ((PROC_AUTH_LIST, b""),
                              (PROC_CONNECT_OPEN, openArgs(uri, flags))):
            h, body = self.roundtrip(proc, payload)
            if h[5] != OK:
                raise AssertionError(f"procedure {proc} failed: "
                                     f"{decodeError(body)}")

    def expectClosed(self, timeout: float = 5.0) -> bytes:
        """
        Wait for EOF (or a reset), ignoring whatever arrives before.

        @return: what arrived before the EOF.
        @raise AssertionError: still open after C{timeout}.
        """
        deadline = time.monotonic() + timeout
        got = self._buf
        self._buf = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the daemon kept the connection open "
                                     f"for {timeout} s")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return got
            if not chunk:
                return got
            got += chunk

    def isOpen(self, wait: float = 0.2) -> bool:
        """
        Whether the daemon keeps the connection open (nothing, or data,
        readable within C{wait} s, but no EOF).
        """
        r, _, _ = select.select([self.sock], [], [], wait)
        if not r:
            return True
        try:
            data = self.sock.recv(65536, socket.MSG_PEEK)
        except OSError:
            return False
        return bool(data)


def secondClient(path: str, timeout: float = 1.0) -> tuple[float, str]:
    """
    A well-behaved client: AUTH_LIST, CONNECT_OPEN, CONNECT_GET_HOSTNAME,
    CONNECT_CLOSE, all within C{timeout} seconds.

    @return: (seconds taken, the hostname).
    @raise AssertionError: a step failed or the whole took too long.
    """
    start = time.monotonic()
    with RawPeer(path, timeout) as peer:
        peer.handshake()
        h, body = peer.roundtrip(PROC_GET_HOSTNAME, timeout=timeout)
        if h[5] != OK:
            raise AssertionError(f"CONNECT_GET_HOSTNAME failed: "
                                 f"{decodeError(body)}")
        name, _ = _xstr(body, 0)
        peer.roundtrip(PROC_CONNECT_CLOSE, timeout=timeout)
    took = time.monotonic() - start
    if took > timeout:
        raise AssertionError(f"a second client needed {took:.2f} s (more "
                             f"than {timeout} s)")
    return took, name.decode()
