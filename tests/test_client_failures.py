"""
virtd's client when things go wrong, against a real libvirtd 9.0.0: the
daemon dies or stops answering mid-call, calls time out or are cancelled,
keepalive gives up, the daemon wants SASL. Nothing may hang: every pending
Deferred fails at once with an error that says what happened.
"""

from __future__ import annotations

import os
import signal

from twisted.internet import reactor
from twisted.internet.defer import CancelledError, Deferred, inlineCallbacks
from twisted.internet.task import deferLater
from twisted.trial import unittest

import virtd
from tests.support import RealLibvirtd
from virtd.errors import (
    VIR_ERR_AUTH_UNAVAILABLE,
    VIR_ERR_INTERNAL_ERROR,
    VIR_ERR_OPERATION_INVALID,
    VIR_ERR_OPERATION_TIMEOUT,
    VIR_ERR_SYSTEM_ERROR,
    VIR_FROM_RPC,
)

CLOSE_REASON_EOF = 1
CLOSE_REASON_KEEPALIVE = 2


class DaemonMixin:
    def startDaemon(self, **kw) -> RealLibvirtd:
        self.daemon = RealLibvirtd.forTest(self, tcp=False, **kw)
        return self.daemon

    def signalDaemon(self, sig: int) -> None:
        os.kill(self.daemon.process.pid, sig)

    def stopDaemon(self) -> None:
        """
        Freeze the daemon (it keeps its sockets but answers nothing) and
        make sure it is thawed again at cleanup.
        """
        self.signalDaemon(signal.SIGSTOP)
        self.addCleanup(self._thaw)

    def _thaw(self) -> None:
        if self.daemon.running:
            self.signalDaemon(signal.SIGCONT)

    async def open(self, **kw) -> virtd.client.Connection:
        conn = await virtd.connect(self.daemon.uri("unix"), **kw)
        self.addCleanup(conn.close)
        return conn

    def closeNotice(self, conn) -> Deferred:
        """
        A Deferred that fires with C{(conn, reason, opaque)} when the close
        callback runs.
        """
        fired: Deferred = Deferred()
        d = conn.registerCloseCallback(
            lambda c, reason, opaque: fired.callback((c, reason, opaque)),
            "opaque")
        self.assertEqual(self.successResultOf(d), 0)
        return fired


def within(d: Deferred, seconds: float = 10) -> Deferred:
    """
    Fail the test rather than hang if C{d} takes longer than C{seconds}.
    """
    return d.addTimeout(seconds, reactor)


class LostConnectionTests(DaemonMixin, unittest.TestCase):
    async def _killedMidCall(self) -> None:
        self.startDaemon()
        conn = await self.open()
        notice = self.closeNotice(conn)
        self.stopDaemon()
        pending = [conn.getHostname(), conn.lookupByName("test"),
                   conn.listAllDomains(), conn.getCapabilities()]
        await deferLater(reactor, 0.2, lambda: None)
        for d in pending:
            self.assertNoResult(d)
        self.signalDaemon(signal.SIGKILL)
        errors = []
        for d in pending:
            try:
                await within(d)
            except virtd.LibvirtError as e:
                errors.append(e)
        self.assertEqual(len(errors), len(pending))
        for e in errors:
            self.assertEqual((e.get_error_code(), e.get_error_domain()),
                             (VIR_ERR_SYSTEM_ERROR, VIR_FROM_RPC))
            self.assertIn("lost", e.get_error_message())
        c, reason, opaque = await within(notice)
        self.assertIs(c, conn)
        self.assertEqual((reason, opaque), (CLOSE_REASON_EOF, "opaque"))
        self.assertEqual(conn.isAlive(), 0)
        # Later calls fail at once, as libvirt's "client socket is closed".
        later = conn.getHostname()
        e = self.failureResultOf(later, virtd.LibvirtError).value
        self.assertEqual((e.get_error_code(), e.get_error_domain()),
                         (VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC))
        self.assertIn("client socket is closed", e.get_error_message())
        self.assertEqual(await conn.close(), 0)

    def test_daemonKilledMidCall(self):
        """
        Every pending call fails with a LibvirtError saying the connection
        was lost, the close callback gets EOF, and nothing hangs.
        """
        return Deferred.fromCoroutine(self._killedMidCall())

    async def _closeDoesNotNotify(self) -> None:
        self.startDaemon()
        conn = await self.open()
        notified = []
        await conn.registerCloseCallback(
            lambda *a: notified.append(a), None)
        self.assertEqual(await conn.close(), 0)
        await deferLater(reactor, 0.1, lambda: None)
        self.assertEqual(notified, [])
        self.assertEqual(conn.isAlive(), 0)

    def test_closeDoesNotNotify(self):
        """
        As libvirt: closing the connection ourselves does not call the
        close callback.
        """
        return Deferred.fromCoroutine(self._closeDoesNotNotify())

    async def _oneCloseCallback(self) -> None:
        self.startDaemon()
        conn = await self.open()
        await conn.registerCloseCallback(lambda *a: None, None)
        try:
            await conn.registerCloseCallback(lambda *a: None, None)
        except virtd.LibvirtError as e:
            self.assertEqual(e.get_error_code(), VIR_ERR_OPERATION_INVALID)
            self.assertIn("already registered", e.get_error_message())
        else:
            self.fail("a second close callback was accepted")
        self.assertEqual(await conn.unregisterCloseCallback(), 0)
        try:
            await conn.unregisterCloseCallback()
        except virtd.LibvirtError as e:
            self.assertEqual(e.get_error_code(), VIR_ERR_OPERATION_INVALID)
        else:
            self.fail("unregistering nothing succeeded")

    def test_oneCloseCallback(self):
        """
        One close callback at a time, with libvirt's errors otherwise.
        """
        return Deferred.fromCoroutine(self._oneCloseCallback())


class TimeoutTests(DaemonMixin, unittest.TestCase):
    async def _callTimeout(self) -> None:
        self.startDaemon()
        conn = await self.open()
        self.stopDaemon()
        try:
            await within(conn.getHostname(timeout=0.3))
        except virtd.LibvirtError as e:
            self.assertEqual(e.get_error_code(), VIR_ERR_OPERATION_TIMEOUT)
            self.assertIn("CONNECT_GET_HOSTNAME", e.get_error_message())
        else:
            self.fail("no timeout")
        self.signalDaemon(signal.SIGCONT)
        # The late reply is dropped; the connection goes on working.
        self.assertEqual(await within(conn.getType()), "TEST")
        self.assertEqual(conn.isAlive(), 1)

    def test_callTimeout(self):
        """
        A per-call timeout fails that call only.
        """
        return Deferred.fromCoroutine(self._callTimeout())

    async def _cancel(self) -> None:
        self.startDaemon()
        conn = await self.open()
        self.stopDaemon()
        d = conn.lookupByName("test")
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.signalDaemon(signal.SIGCONT)
        dom = await within(conn.lookupByName("test"))
        self.assertEqual(dom.name(), "test")

    def test_cancel(self):
        """
        Cancelling a call's Deferred forgets it; its late reply does no harm.
        """
        return Deferred.fromCoroutine(self._cancel())

    async def _keepalive(self) -> None:
        self.startDaemon()
        conn = await self.open(keepalive=(0.3, 1))
        self.assertEqual(conn.features[10], 1)
        notice = self.closeNotice(conn)
        self.stopDaemon()
        pending = conn.getHostname()
        c, reason, opaque = await within(notice)
        self.assertEqual(reason, CLOSE_REASON_KEEPALIVE)
        try:
            await within(pending)
        except virtd.LibvirtError as e:
            self.assertIn("keepalive", e.get_error_message())
        else:
            self.fail("the pending call succeeded")
        self.assertEqual(conn.isAlive(), 0)

    def test_keepalive(self):
        """
        A daemon that stops answering is given up after
        interval * (count + 1) seconds; the close callback says KEEPALIVE.
        """
        return Deferred.fromCoroutine(self._keepalive())

    async def _connectTimeout(self) -> None:
        self.startDaemon()
        self.stopDaemon()
        try:
            await within(virtd.connect(self.daemon.uri("unix"), timeout=0.5))
        except virtd.LibvirtError as e:
            self.assertEqual(e.get_error_code(), VIR_ERR_OPERATION_TIMEOUT)
            self.assertIn("authentication", e.get_error_message())
        else:
            self.fail("connected to a frozen daemon")

    def test_connectTimeout(self):
        """
        connect(timeout=) bounds the whole opening and says where it stuck.
        """
        return Deferred.fromCoroutine(self._connectTimeout())


class OpenFailureTests(DaemonMixin, unittest.TestCase):
    @inlineCallbacks
    def test_noDaemon(self):
        """
        A socket nobody listens on gives the transport's error.
        """
        try:
            yield within(virtd.connect(
                "test+unix:///default?socket=/nonexistent/virtd-sock"))
        except virtd.LibvirtError as e:
            self.assertIn("/nonexistent/virtd-sock", e.get_error_message())
        else:
            self.fail("connected to nothing")

    @inlineCallbacks
    def test_saslRefused(self):
        """
        A listener that wants SASL is refused with an error saying so.
        """
        self.startDaemon(extraConfig={"auth_unix_rw": "sasl"})
        try:
            yield within(virtd.connect(self.daemon.uri("unix")))
        except virtd.LibvirtError as e:
            self.assertEqual(e.get_error_code(), VIR_ERR_AUTH_UNAVAILABLE)
            self.assertIn("SASL", e.get_error_message())
        else:
            self.fail("a SASL listener was accepted")

    @inlineCallbacks
    def test_badName(self):
        """
        A malformed name fails the Deferred with the parser's error.
        """
        try:
            yield virtd.connect("test+carrierpigeon:///default")
        except virtd.LibvirtError as e:
            self.assertIn("carrierpigeon", e.get_error_message())
        else:
            self.fail("accepted a bad transport")


class TCPLostTests(DaemonMixin, unittest.TestCase):
    async def _tcpKilled(self) -> None:
        self.daemon = RealLibvirtd.forTest(self, tcp=True)
        conn = await virtd.connect(self.daemon.uri("tcp"))
        notice = self.closeNotice(conn)
        self.signalDaemon(signal.SIGKILL)
        c, reason, opaque = await within(notice)
        # libvirt 9.0 reports ERROR (0) when a tcp daemon goes away.
        self.assertEqual(reason, 0)
        self.assertEqual(conn.isAlive(), 0)

    def test_tcpDaemonKilled(self):
        """
        Over tcp the close callback gets ERROR, as libvirt-python's does.
        """
        return Deferred.fromCoroutine(self._tcpKilled())
