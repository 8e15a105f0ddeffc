"""
Calls that pass file descriptors (CALL_WITH_FDS), from real libvirt-python
and raw, against our daemon: libvirt sends one dummy byte with each
descriptor after the message, which must not break the stream; virtd
cannot hand descriptors on to the hypervisor, so a C{*_WITH_FILES} call
that passes some is refused (without any, it is served), the connection
keeps working and no descriptor stays open.
"""

from __future__ import annotations

import os
import socket
import struct

from twisted.internet import defer
from twisted.trial import unittest

from tests.test_server_fixture import InProcessVirtd, inThread
from virtd.protocol.message import Header, decodeHeader, encodeFrame

VIR_ERR_OPERATION_UNSUPPORTED = 84
VIR_FROM_RPC = 7

NEW_DOMAIN = ("<domain type='test'><name>withfiles</name>"
              "<memory>1024</memory><os><type>hvm</type></os></domain>")


def openFds() -> int:
    return len(os.listdir("/proc/self/fd"))


class LibvirtPythonTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_createXMLWithFiles(self):
        """
        libvirt-python's C{createXMLWithFiles} with descriptors is refused
        with a reason, the same connection then still answers, and the
        daemon (this process) holds no descriptor more than before.
        """
        import libvirt

        daemon = yield InProcessVirtd.forTest(self)
        uri = f"test+unix:///default?socket={daemon.sock}"
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        self.addCleanup(os.close, w)

        def scenario() -> list:
            conn = libvirt.open(uri)
            try:
                results = []
                for files in ([r], [r, w], [r], [r, w]):
                    try:
                        conn.createXMLWithFiles(NEW_DOMAIN, files)
                    except libvirt.libvirtError as e:
                        results.append((e.get_error_code(),
                                        e.get_error_domain(),
                                        e.get_error_message()))
                    results.append(conn.getHostname())
                    if len(results) == 2:
                        # Warmed up: count from here.
                        results.append(openFds())
                results.append(openFds())
                return results
            finally:
                conn.close()

        results = yield inThread(scenario)
        before, after = results.pop(2), results.pop()
        refused = (VIR_ERR_OPERATION_UNSUPPORTED, VIR_FROM_RPC,
                   "Operation not supported: virtd does not pass file "
                   "descriptors on to the hypervisor "
                   "(DOMAIN_CREATE_XML_WITH_FILES); make the call without "
                   "files, or through libvirtd on that host")
        hostname = results[1]
        self.assertEqual(results, [refused, hostname] * 4)
        self.assertEqual(after, before)


class VirtdClientTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_filesRefusedLocally(self):
        """
        virtd's client passes no descriptors: given files, the
        C{*WithFiles} methods fail without a call, saying so.
        """
        import virtd

        daemon = yield InProcessVirtd.forTest(self)
        conn = yield virtd.connect(
            f"test+unix:///default?socket={daemon.sock}")
        self.addCleanup(conn.close)
        dom = yield conn.lookupByName("test")
        [session] = daemon.service.dispatcher.sessions
        calls = session.calls
        for d in (conn.createXMLWithFiles(NEW_DOMAIN, [0]),
                  dom.createWithFiles([0], 0)):
            e = yield self.assertFailure(d, virtd.LibvirtError)
            self.assertEqual(e.get_error_code(), VIR_ERR_OPERATION_UNSUPPORTED)
            self.assertIn("does not pass file descriptors",
                          e.get_error_message())
        self.assertEqual(session.calls, calls)


class RawTests(unittest.TestCase):
    """
    Raw frames: a count libvirt-python never sends, and dummy bytes that
    come without descriptors.
    """

    @defer.inlineCallbacks
    def setUp(self):
        self.daemon = yield InProcessVirtd.forTest(self)

    def exchange(self, data: bytes) -> bytes:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.settimeout(10)
            s.connect(self.daemon.sock)
            s.sendall(data)
            got = b""
            while chunk := s.recv(65536):
                got += chunk
            return got
        finally:
            s.close()

    def withFds(self, count: int, proc: int = 66) -> bytes:
        return encodeFrame(Header(0x20008086, 1, proc, 4, 1, 0),
                           struct.pack(">I", count))

    @defer.inlineCallbacks
    def test_tooMany(self):
        """
        A count above 32 closes the connection without an answer, as
        libvirtd does; the daemon still serves the next client.
        """
        got = yield inThread(self.exchange, self.withFds(33))
        self.assertEqual(got, b"")
        yield self.assertServes()

    @defer.inlineCallbacks
    def test_countAndDummyBytes(self):
        """
        A CALL_WITH_FDS for AUTH_LIST counting two descriptors, followed by
        its two dummy bytes (sent without descriptors) and a plain
        AUTH_LIST: both are answered, the first as a plain REPLY.
        """
        s = socket.socket(socket.AF_UNIX)
        self.addCleanup(s.close)
        s.settimeout(10)
        yield inThread(s.connect, self.daemon.sock)
        plain = encodeFrame(Header(0x20008086, 1, 66, 0, 2, 0))
        s.sendall(self.withFds(2) + b"\0\0" + plain)
        replies = []
        got = b""
        while len(replies) < 2:
            chunk = yield inThread(s.recv, 65536)
            if not chunk:
                self.fail(f"the daemon hung up after {len(replies)} replies")
            got += chunk
            while len(got) >= 4 and len(got) >= struct.unpack(">I", got[:4])[0]:
                n = struct.unpack(">I", got[:4])[0]
                replies.append(decodeHeader(got[4:n]))
                got = got[n:]
        self.assertEqual([(h.type, h.serial, h.status) for h in replies],
                         [(1, 1, 0), (1, 2, 0)])

    def assertServes(self) -> defer.Deferred:
        plain = encodeFrame(Header(0x20008086, 1, 66, 0, 7, 0))

        def ask() -> bytes:
            s = socket.socket(socket.AF_UNIX)
            try:
                s.settimeout(10)
                s.connect(self.daemon.sock)
                s.sendall(plain)
                return s.recv(65536)
            finally:
                s.close()

        d = inThread(ask)
        d.addCallback(lambda got: self.assertEqual(
            decodeHeader(got[4:28]).serial, 7))
        return d
