"""
Every procedure a read-only client may not call, sent raw to the
read-only socket of our daemon and of a real libvirtd 9.0.0: the error
(code, domain, message, str1-3, int1-2) must be the same, and so must the
flag-dependent ones (secure XML, guest vCPU count, agent addresses).
"""

from __future__ import annotations

import socket
import struct

from twisted.internet import defer
from twisted.trial import unittest

from tests.support import RealLibvirtd
from tests.test_server_fixture import InProcessVirtd, inThread
from virtd import xdr
from virtd.protocol import remote
from virtd.protocol.message import (
    VIR_NET_CALL,
    VIR_NET_ERROR,
    Header,
    RemoteError,
    decodeHeader,
    encodeFrame,
)
from virtd.server.readonly import apiName

#: They take file descriptors (CALL_WITH_FDS): libvirtd fails them on the
#: missing fd before its read-only check.
NEEDS_FDS = {"DOMAIN_OPEN_GRAPHICS", "DOMAIN_FD_ASSOCIATE"}


def filled(t: xdr.Type):
    """
    A plausible value of any XDR type: optional values present, one
    element per array, 1 for numbers (libvirt checks some arguments for
    NULL or zero before its read-only check).
    """
    if isinstance(t, xdr.Struct):
        return t.cls(*[filled(ft) for _, ft in t.fields])
    if isinstance(t, xdr.String):
        return "x"
    if isinstance(t, xdr.Opaque):
        return b""
    if isinstance(t, xdr.FixedOpaque):
        return b"\0" * t.n
    if isinstance(t, xdr.Array):
        return [filled(t.elem)]
    if isinstance(t, xdr.FixedArray):
        return [filled(t.elem)] * t.n
    if isinstance(t, xdr.Optional):
        return filled(t.elem)
    if isinstance(t, xdr.Union):
        d = sorted(t.arms)[0]
        return (d, filled(t.arms[d][1]))
    if t is xdr.Void:
        return None
    return 1


class RawClient:
    """
    Just enough of a libvirt client, on a blocking socket.
    """

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(10)
        self.sock.connect(path)
        self.serial = 0

    def call(self, proc: int, payload: bytes = b""):
        self.sock.sendall(encodeFrame(
            Header(remote.PROGRAM, 1, proc, VIR_NET_CALL, self.serial, 0),
            payload))
        self.serial += 1
        (n,) = struct.unpack(">I", self._read(4))
        body = self._read(n - 4)
        h = decodeHeader(body)
        if h.status == VIR_NET_ERROR:
            return RemoteError.decode(body[24:])
        return None

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError("the daemon hung up")
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()


def probeAll(path: str) -> dict:
    """
    Open read-only through C{path} and call every refused or
    flag-dependent procedure.

    @return: procedure name -> the error (or C{None} if it succeeded).
    """
    client = RawClient(path)
    try:
        client.call(66)
        client.call(1, remote.BY_NAME["CONNECT_OPEN"].args.pack(
            ("test:///default", 0)))
        results = {}
        for number, proc in sorted(remote.PROCEDURES.items()):
            if proc.event or proc.readonly == "yes" or proc.name in NEEDS_FDS:
                continue
            args = filled(proc.args)
            if proc.readonly == "flag-dep":
                if "source" in args._fields:
                    args = args._replace(source=1)  # the guest agent
                else:
                    args = args._replace(flags=1 | 8)
            payload = proc.args.pack(args) if args is not None else b""
            results[proc.name] = client.call(number, payload)
        return results
    finally:
        client.close()


class ReadOnlyTests(unittest.TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def test_everyRefusalMatchesLibvirtd(self):
        real = RealLibvirtd.forTest(self, tcp=False)
        ours = yield InProcessVirtd.forTest(self)
        mine = yield inThread(probeAll, ours.sockRO)
        theirs = yield inThread(probeAll, real.sockRO)
        self.assertEqual(len(mine), 197 + 6 - len(NEEDS_FDS))
        differ = {name: (mine[name], theirs[name]) for name in mine
                  if mine[name] != theirs[name]}
        self.assertEqual(sorted(differ), [], "\n".join(
            f"{k}:\n ours {a}\n real {b}" for k, (a, b) in differ.items()))
        for name, err in mine.items():
            self.assertEqual(err.code, 29, name)
            self.assertIn(apiName(name), err.message)
