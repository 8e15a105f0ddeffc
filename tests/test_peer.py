"""
Tests for L{virtd.rpc.peer.RPCPeer}: calls and replies, errors, events,
keepalive answers, flow control and closing, over L{StringTransport}, and
two peers over a real loopback TCP connection.
"""

from __future__ import annotations

import struct

from twisted.internet import defer, reactor
from twisted.internet.defer import CancelledError
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.protocol import Factory
from twisted.internet.task import deferLater
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from virtd import xdr
from virtd.errors import (
    VIR_ERR_NO_DOMAIN,
    VIR_ERR_NO_SUPPORT,
    VIR_ERR_OPERATION_TIMEOUT,
    VIR_ERR_RPC,
    VIR_ERR_SYSTEM_ERROR,
    VIR_FROM_REMOTE,
    VIR_FROM_RPC,
    VIR_FROM_TEST,
    LibvirtError,
)
from virtd.protocol.message import (
    QEMU_PROGRAM,
    REMOTE_PROGRAM,
    VIR_NET_CALL,
    VIR_NET_ERROR,
    VIR_NET_MESSAGE,
    VIR_NET_OK,
    VIR_NET_REPLY,
    VIR_NET_STREAM,
    Header,
    RemoteError,
)
from virtd.protocol.procedures import Procedure
from virtd.protocol.types import NonnullString
from virtd.rpc.framing import encodeLength, encodeRecord
from virtd.rpc.peer import (
    VIR_CONNECT_CLOSE_REASON_CLIENT,
    VIR_CONNECT_CLOSE_REASON_EOF,
    VIR_CONNECT_CLOSE_REASON_ERROR,
    VIR_CONNECT_CLOSE_REASON_KEEPALIVE,
    RPCPeer,
)


def hexBytes(s: str) -> bytes:
    return bytes.fromhex(s)


def proc(number: int, name: str, args: xdr.Type, ret: xdr.Type,
         program: int = REMOTE_PROGRAM) -> Procedure:
    return Procedure(program, 1, number, name, args, ret, False, "yes",
                     False, None)


AUTH_LIST = proc(66, "AUTH_LIST", xdr.Void, xdr.Struct(
    "remote_auth_list_ret", [("types", xdr.Array(xdr.Int, 20))]))
SUPPORTS_FEATURE = proc(60, "CONNECT_SUPPORTS_FEATURE", xdr.Struct(
    "remote_connect_supports_feature_args", [("feature", xdr.Int)]),
    xdr.Struct("remote_connect_supports_feature_ret",
               [("supported", xdr.Int)]))
CONNECT_OPEN = proc(1, "CONNECT_OPEN", xdr.Struct(
    "remote_connect_open_args",
    [("name", xdr.Optional(NonnullString)), ("flags", xdr.UInt)]), xdr.Void)
ECHO = proc(1000, "ECHO", xdr.Struct("echo_args", [("text", NonnullString)]),
            xdr.Struct("echo_ret", [("text", NonnullString)]))

# Wire facts 1.11.
AUTH_LIST_CALL = hexBytes(
    "0000001c 20008086 00000001 00000042 00000000 00000000 00000000")
AUTH_LIST_REPLY = hexBytes(
    "00000024 20008086 00000001 00000042 00000001 00000000 00000000 00000001"
    " 00000000")
FEATURE_CALL = hexBytes(
    "00000020 20008086 00000001 0000003c 00000000 00000001 00000000 0000000a")
FEATURE_REPLY = hexBytes(
    "00000020 20008086 00000001 0000003c 00000001 00000001 00000000 00000001")
OPEN_CALL = hexBytes(
    "00000038 20008086 00000001 00000001 00000000 00000002 00000000 00000001"
    " 0000000f 74657374 3a2f2f2f 64656661 756c7400 00000000")
OPEN_REPLY = hexBytes(
    "0000001c 20008086 00000001 00000001 00000001 00000002 00000000")
PING = hexBytes(
    "0000001c 6b656570 00000001 00000001 00000002 00000000 00000000")
PONG = hexBytes(
    "0000001c 6b656570 00000001 00000002 00000002 00000000 00000000")
NO_DOMAIN_REPLY = hexBytes(
    "00000070 20008086 00000001 00000017 00000001 00000007 00000001 0000002a"
    " 0000000c 00000001 00000010 446f6d61 696e206e 6f742066 6f756e64 00000002"
    " 00000000 00000001 00000010 446f6d61 696e206e 6f742066 6f756e64 00000000"
    " 00000000 ffffffff ffffffff 00000000")
LIFECYCLE_EVENT = hexBytes(
    "00000044 20008086 00000001 0000013e 00000002 00000001 00000000 00000000"
    " 00000004 74657374 6695eb01 f6a48304 79aa97f2 502e193f 00000001 00000002"
    " 00000000")


def connected(isServer: bool = False, **kw) -> tuple[RPCPeer, StringTransport,
                                                      MemoryReactorClock]:
    clock = MemoryReactorClock()
    peer = RPCPeer(reactor=clock, isServer=isServer, **kw)
    transport = StringTransport()
    peer.makeConnection(transport)
    return peer, transport, clock


def reply(serial: int, proc: int, payload: bytes = b"",
          status: int = VIR_NET_OK, prog: int = REMOTE_PROGRAM) -> bytes:
    return encodeLength((prog, 1, proc, VIR_NET_REPLY, serial, status),
                        payload)


def errorReply(serial: int, proc: int, err: LibvirtError) -> bytes:
    from virtd.protocol.message import errorToStruct
    return reply(serial, proc, RemoteError.pack(errorToStruct(err)),
                 VIR_NET_ERROR)


class CallTests(SynchronousTestCase):
    def test_handshakeBytes(self) -> None:
        """
        Serials start at 0; calls are written as the wire facts show, and
        replies decode to the procedure's ret value.
        """
        peer, transport, _ = connected()
        d1 = peer.call(AUTH_LIST)
        d2 = peer.call(SUPPORTS_FEATURE, (10,))
        d3 = peer.call(CONNECT_OPEN, {"name": "test:///default", "flags": 0})
        self.assertEqual(transport.value(),
                         AUTH_LIST_CALL + FEATURE_CALL + OPEN_CALL)
        self.assertEqual(peer.pendingCalls, 3)
        peer.dataReceived(AUTH_LIST_REPLY + FEATURE_REPLY + OPEN_REPLY)
        self.assertEqual(self.successResultOf(d1).types, [0])
        self.assertEqual(self.successResultOf(d2).supported, 1)
        self.assertIsNone(self.successResultOf(d3))
        self.assertEqual(peer.pendingCalls, 0)

    def test_outOfOrderReplies(self) -> None:
        """
        Replies are matched by serial, whatever their order.
        """
        peer, transport, _ = connected()
        ds = [peer.call(ECHO, (f"call {i}",)) for i in range(5)]
        for serial in (3, 0, 4, 2, 1):
            self.assertNoResult(ds[serial])
            peer.dataReceived(reply(serial, 1000,
                                    ECHO.ret.pack((f"answer {serial}",))))
            self.assertEqual(self.successResultOf(ds[serial]).text,
                             f"answer {serial}")

    def test_callRaw(self) -> None:
        """
        C{callRaw} sends the payload as given and fires with the reply's
        payload bytes.
        """
        peer, transport, _ = connected()
        d = peer.callRaw(0x20008087, 1, 3, b"\0\0\0\7")
        self.assertEqual(transport.value(), encodeLength(
            (0x20008087, 1, 3, VIR_NET_CALL, 0, VIR_NET_OK), b"\0\0\0\7"))
        peer.dataReceived(reply(0, 3, b"abcd", prog=0x20008087))
        self.assertEqual(self.successResultOf(d), b"abcd")

    def test_badArguments(self) -> None:
        """
        Arguments that cannot be encoded fail the call without sending it.
        """
        peer, transport, _ = connected()
        f = self.failureResultOf(peer.call(ECHO, (17,)), LibvirtError)
        self.assertIn("ECHO", str(f.value))
        self.assertEqual(transport.value(), b"")

    def test_undecodableReply(self) -> None:
        """
        A reply whose payload does not decode fails that call with an RPC
        error; the connection stays.
        """
        peer, transport, _ = connected()
        d = peer.call(ECHO, ("x",))
        peer.dataReceived(reply(0, 1000, b"\0\0\0\x09abc"))
        err = self.failureResultOf(d, LibvirtError).value
        self.assertEqual(err.get_error_code(), VIR_ERR_RPC)
        self.assertIn("cannot decode the reply to ECHO", str(err))
        self.assertFalse(transport.disconnecting)

    def test_cancel(self) -> None:
        """
        Cancelling a call forgets it; its late reply is dropped silently and
        the connection stays.
        """
        peer, transport, _ = connected()
        d = peer.call(ECHO, ("x",), timeout=10)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertEqual(peer.pendingCalls, 0)
        peer.dataReceived(reply(0, 1000, ECHO.ret.pack(("late",))))
        self.assertFalse(transport.disconnecting)
        d2 = peer.call(ECHO, ("y",))
        peer.dataReceived(reply(1, 1000, ECHO.ret.pack(("ok",))))
        self.assertEqual(self.successResultOf(d2).text, "ok")

    def test_timeout(self) -> None:
        """
        A call with a timeout fails with C{VIR_ERR_OPERATION_TIMEOUT} naming
        the call; other calls are unaffected and a late reply is dropped.
        """
        peer, transport, clock = connected()
        d = peer.call(ECHO, ("x",), timeout=2.5)
        other = peer.call(ECHO, ("y",), timeout=10)
        clock.advance(2)
        self.assertNoResult(d)
        clock.advance(0.5)
        err = self.failureResultOf(d, LibvirtError).value
        self.assertEqual(err.get_error_code(), VIR_ERR_OPERATION_TIMEOUT)
        self.assertIn("no reply to ECHO (serial 0)", str(err))
        self.assertIn("2.5 s", str(err))
        peer.dataReceived(reply(0, 1000, ECHO.ret.pack(("late",))))
        self.assertFalse(transport.disconnecting)
        peer.dataReceived(reply(1, 1000, ECHO.ret.pack(("ok",))))
        self.assertEqual(self.successResultOf(other).text, "ok")
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_unknownSerialClosesClient(self) -> None:
        """
        On the client side, a reply that matches no call is a protocol
        error: the connection is dropped and pending calls fail saying why.
        """
        peer, transport, _ = connected()
        d = peer.call(ECHO, ("x",))
        peer.dataReceived(reply(42, 1000))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(peer.closeReason, VIR_CONNECT_CLOSE_REASON_ERROR)
        peer.connectionLost(Failure(ConnectionLost()))
        err = self.failureResultOf(d, LibvirtError).value
        self.assertEqual(err.get_error_domain(), VIR_FROM_RPC)
        self.assertIn("serial 42", str(err))
        self.assertIn("matches no call", str(err))

    def test_mismatchedProcedureCloses(self) -> None:
        """
        A reply whose procedure differs from the call's closes the
        connection, as libvirt's client does.
        """
        peer, transport, _ = connected()
        d = peer.call(ECHO, ("x",))
        peer.dataReceived(reply(0, 999))
        self.assertTrue(transport.disconnecting)
        peer.connectionLost(Failure(ConnectionLost()))
        err = self.failureResultOf(d, LibvirtError).value
        self.assertIn("procedure 999", str(err))
        self.assertIn("ECHO", str(err))

    def test_unknownSerialIgnoredByServer(self) -> None:
        """
        A REPLY sent by a client is ignored by a daemon-side peer.
        """
        peer, transport, _ = connected(isServer=True)
        peer.dataReceived(reply(42, 1000))
        self.assertFalse(transport.disconnecting)


class ErrorTests(SynchronousTestCase):
    def test_errorReply(self) -> None:
        """
        An error reply becomes the L{LibvirtError} it carries (wire facts
        1.11 example).
        """
        peer, _, _ = connected()
        ds = [peer.callRaw(REMOTE_PROGRAM, 1, 23) for _ in range(8)]
        peer.dataReceived(NO_DOMAIN_REPLY)
        err = self.failureResultOf(ds[7], LibvirtError).value
        self.assertEqual(err.get_error_code(), VIR_ERR_NO_DOMAIN)
        self.assertEqual(err.get_error_domain(), VIR_FROM_TEST)
        self.assertEqual(err.get_error_message(), "Domain not found")
        self.assertEqual(err.get_str1(), "Domain not found")
        self.assertIsNone(err.get_str2())
        self.assertEqual(err.get_int1(), -1)

    def test_unknownProcedureIsNoSupport(self) -> None:
        """
        "unknown procedure" RPC errors from domain RPC or REMOTE become
        C{VIR_ERR_NO_SUPPORT}; other RPC errors keep their code.
        """
        peer, _, _ = connected()
        cases = [
            (LibvirtError("unknown procedure: 999", VIR_ERR_RPC,
                          VIR_FROM_RPC, str1="%s",
                          str2="unknown procedure: 999"), VIR_ERR_NO_SUPPORT),
            (LibvirtError("unknown procedure: 7", VIR_ERR_RPC,
                          VIR_FROM_REMOTE), VIR_ERR_NO_SUPPORT),
            (LibvirtError("authentication required", VIR_ERR_RPC,
                          VIR_FROM_RPC), VIR_ERR_RPC),
            (LibvirtError("unknown procedure: 1", VIR_ERR_RPC,
                          VIR_FROM_TEST), VIR_ERR_RPC),
        ]
        for serial, (sent, code) in enumerate(cases):
            d = peer.call(ECHO, ("x",))
            peer.dataReceived(errorReply(serial, 1000, sent))
            err = self.failureResultOf(d, LibvirtError).value
            self.assertEqual(err.get_error_code(), code)
            self.assertEqual(str(err), str(sent))
            self.assertEqual(err.get_error_domain(), sent.get_error_domain())

    def test_garbageErrorPayload(self) -> None:
        """
        An error reply that does not decode fails the call with an RPC
        error saying so.
        """
        peer, transport, _ = connected()
        d = peer.call(ECHO, ("x",))
        peer.dataReceived(reply(0, 1000, b"\0\0", VIR_NET_ERROR))
        err = self.failureResultOf(d, LibvirtError).value
        self.assertEqual(err.get_error_code(), VIR_ERR_RPC)
        self.assertIn("error reply to ECHO", str(err))
        self.assertFalse(transport.disconnecting)


class ServerSideTests(SynchronousTestCase):
    def test_callHandler(self) -> None:
        """
        Incoming calls reach C{callHandler} with the header and the payload;
        C{sendReply} and C{sendError} answer them byte for byte as libvirtd.
        """
        peer, transport, _ = connected(isServer=True)
        calls = []
        peer.callHandler = lambda h, p: calls.append((h, p))
        peer.dataReceived(AUTH_LIST_CALL + FEATURE_CALL)
        self.assertEqual(calls, [
            (Header(REMOTE_PROGRAM, 1, 66, VIR_NET_CALL, 0, VIR_NET_OK), b""),
            (Header(REMOTE_PROGRAM, 1, 60, VIR_NET_CALL, 1, VIR_NET_OK),
             b"\0\0\0\x0a")])
        self.assertIsInstance(calls[1][0], Header)
        peer.sendReply(calls[0][0], AUTH_LIST.ret.pack(([0],)))
        peer.sendReply(calls[1][0], b"\0\0\0\1")
        self.assertEqual(transport.value(), AUTH_LIST_REPLY + FEATURE_REPLY)
        transport.clear()
        request = Header(REMOTE_PROGRAM, 1, 23, VIR_NET_CALL, 7, VIR_NET_OK)
        peer.sendError(request, LibvirtError(
            "Domain not found", VIR_ERR_NO_DOMAIN, VIR_FROM_TEST,
            str1="Domain not found"))
        self.assertEqual(transport.value(), NO_DOMAIN_REPLY)

    def test_noCallHandler(self) -> None:
        """
        A daemon-side peer without a call handler answers every call with
        libvirt's "Cannot find program" error.
        """
        peer, transport, _ = connected(isServer=True)
        peer.dataReceived(AUTH_LIST_CALL)
        client, ctransport, _ = connected()
        d = client.call(AUTH_LIST)
        client.dataReceived(transport.value())
        err = self.failureResultOf(d, LibvirtError).value
        self.assertEqual(str(err),
                         f"Cannot find program {REMOTE_PROGRAM} version 1")
        self.assertEqual(err.get_error_code(), VIR_ERR_RPC)

    def test_clientRefusesCalls(self) -> None:
        """
        A client-side peer without a call handler closes on a CALL.
        """
        peer, transport, _ = connected()
        peer.dataReceived(AUTH_LIST_CALL)
        self.assertTrue(transport.disconnecting)

    def test_sendEvent(self) -> None:
        """
        Events are MESSAGEs with serial 1, as libvirtd sends them.
        """
        peer, transport, _ = connected(isServer=True)
        peer.sendEvent(REMOTE_PROGRAM, 318, LIFECYCLE_EVENT[28:])
        self.assertEqual(transport.value(), LIFECYCLE_EVENT)

    def test_recordMarkingAuto(self) -> None:
        """
        A daemon-side peer with C{framing='auto'} answers a record-marked
        call with a record-marked reply, and a length-framed call with a
        length-framed reply.
        """
        for encode, kind in ((encodeRecord, "record"),
                             (encodeLength, "length")):
            peer, transport, _ = connected(isServer=True, framing="auto")
            peer.callHandler = lambda h, p, peer=peer: peer.sendReply(h, p)
            self.assertIsNone(peer.framing)
            call = encode((REMOTE_PROGRAM, 1, 1000, 0, 5, 0), b"abcd")
            for i in range(len(call)):
                peer.dataReceived(call[i:i + 1])
            self.assertEqual(peer.framing, kind)
            self.assertEqual(transport.value(), encode(
                (REMOTE_PROGRAM, 1, 1000, VIR_NET_REPLY, 5, 0), b"abcd"))

    def test_framingErrorCloses(self) -> None:
        """
        A frame that cannot be framed closes the connection after the good
        frames before it were handled; nothing after it is handled.
        """
        peer, transport, _ = connected(isServer=True)
        calls = []
        peer.callHandler = lambda h, p: calls.append(h.serial)
        peer.dataReceived(AUTH_LIST_CALL + struct.pack(">I", 27)
                          + FEATURE_CALL)
        self.assertEqual(calls, [0])
        self.assertTrue(transport.disconnecting)
        self.assertEqual(peer.closeReason, VIR_CONNECT_CLOSE_REASON_ERROR)
        self.assertIn("frame length 27", str(peer.closeError))
        peer.dataReceived(FEATURE_CALL)
        self.assertEqual(calls, [0])

    def test_pauseReading(self) -> None:
        """
        After C{pauseReading} no frame reaches a handler, also frames of the
        segment being handled; C{resumeReading} hands them over in order.
        """
        peer, transport, _ = connected(isServer=True)
        seen = []

        def handler(h: Header, p: bytes) -> None:
            seen.append(h.serial)
            if h.serial == 0:
                peer.pauseReading()

        peer.callHandler = handler
        frames = b"".join(encodeLength((REMOTE_PROGRAM, 1, 5, 0, i, 0))
                          for i in range(4))
        frames = frames[:28] + PING + frames[28:]
        peer.dataReceived(frames)
        self.assertEqual(seen, [0])
        self.assertEqual(transport.producerState, "paused")
        peer.dataReceived(encodeLength((REMOTE_PROGRAM, 1, 5, 0, 4, 0))
                          + PING)
        self.assertEqual(seen, [0])
        # Keepalive is still answered while paused.
        self.assertEqual(transport.value(), PONG * 2)
        peer.resumeReading()
        self.assertEqual(seen, [0, 1, 2, 3, 4])
        self.assertEqual(transport.producerState, "producing")

    def test_frameDeadline(self) -> None:
        """
        A frame that is not complete C{frameTimeout} seconds after its first
        byte closes the connection; dripping bytes does not extend it, and
        complete frames leave no timer behind.
        """
        peer, transport, clock = connected(isServer=True, frameTimeout=10)
        peer.dataReceived(AUTH_LIST_CALL)
        self.assertEqual(clock.getDelayedCalls(), [])
        frame = encodeLength((REMOTE_PROGRAM, 1, 5, 0, 1, 0), b"x" * 100)
        for i in range(9):
            peer.dataReceived(frame[i:i + 1])
            clock.advance(1)
        self.assertFalse(transport.disconnecting)
        clock.advance(1)
        self.assertTrue(transport.disconnecting)
        self.assertIn("within 10 s", str(peer.closeError))


class MessageTests(SynchronousTestCase):
    def test_pingAnswered(self) -> None:
        """
        A PING is answered with exactly the PONG of the wire facts, on both
        sides and without keepalive running; a PONG gets no answer.
        """
        for isServer in (False, True):
            peer, transport, _ = connected(isServer=isServer)
            peer.dataReceived(PING)
            self.assertEqual(transport.value(), PONG)
            transport.clear()
            peer.dataReceived(PONG)
            self.assertEqual(transport.value(), b"")
            self.assertFalse(transport.disconnecting)

    def test_eventRouting(self) -> None:
        """
        MESSAGE frames of the REMOTE and QEMU programs reach C{eventHandler};
        STREAM frames reach C{streamHandler}.
        """
        peer, transport, _ = connected()
        events, streams = [], []
        peer.eventHandler = lambda h, p: events.append((h, p))
        peer.streamHandler = lambda h, p: streams.append((h, p))
        qemu = encodeLength((QEMU_PROGRAM, 1, 6, VIR_NET_MESSAGE, 1, 0), b"q")
        stream = encodeLength((REMOTE_PROGRAM, 1, 208, VIR_NET_STREAM, 9, 2),
                              b"raw data")
        peer.dataReceived(LIFECYCLE_EVENT + PING + qemu + stream)
        self.assertEqual(events, [
            (Header(REMOTE_PROGRAM, 1, 318, VIR_NET_MESSAGE, 1, 0),
             LIFECYCLE_EVENT[28:]),
            (Header(QEMU_PROGRAM, 1, 6, VIR_NET_MESSAGE, 1, 0), b"q")])
        self.assertEqual(streams, [
            (Header(REMOTE_PROGRAM, 1, 208, VIR_NET_STREAM, 9, 2),
             b"raw data")])
        self.assertEqual(transport.value(), PONG)

    def test_unknownProgramEventClosesClient(self) -> None:
        """
        An event of an unknown program closes a client-side connection, as
        libvirt's client does; a daemon-side peer passes it on.
        """
        event = encodeLength((0x11111111, 1, 1, VIR_NET_MESSAGE, 1, 0))
        peer, transport, _ = connected()
        events = []
        peer.eventHandler = lambda h, p: events.append(h)
        peer.dataReceived(event)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(events, [])
        self.assertIn("unknown program 0x11111111", str(peer.closeError))

        peer, transport, _ = connected(isServer=True)
        peer.eventHandler = lambda h, p: events.append(h)
        peer.dataReceived(event)
        self.assertFalse(transport.disconnecting)
        self.assertEqual(len(events), 1)

    def test_handlerErrorsLogged(self) -> None:
        """
        A handler that raises is logged and the connection carries on.
        """
        peer, transport, _ = connected(isServer=True)
        peer.callHandler = lambda h, p: 1 / 0
        peer.eventHandler = lambda h, p: {}["missing"]
        peer.dataReceived(AUTH_LIST_CALL + LIFECYCLE_EVENT)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)
        self.assertFalse(transport.disconnecting)
        peer.dataReceived(PING)
        self.assertEqual(transport.value(), PONG)


class LostTests(SynchronousTestCase):
    def test_lostFailsAllAtOnce(self) -> None:
        """
        When the connection goes, every pending call fails at once with a
        L{LibvirtError} saying the connection was lost and why; later calls
        fail the same way at once, and timers are gone.
        """
        peer, transport, clock = connected()
        ds = [peer.call(ECHO, (str(i),), timeout=30) for i in range(10)]
        lost = peer.whenLost()
        peer.connectionLost(Failure(ConnectionDone()))
        for d in ds:
            err = self.failureResultOf(d, LibvirtError).value
            self.assertEqual(err.get_error_code(), VIR_ERR_SYSTEM_ERROR)
            self.assertEqual(err.get_error_domain(), VIR_FROM_RPC)
            self.assertEqual(str(err), "connection to the daemon was lost: "
                             "the daemon closed the connection")
        self.assertEqual(peer.pendingCalls, 0)
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertEqual(peer.closeReason, VIR_CONNECT_CLOSE_REASON_EOF)
        self.failureResultOf(lost, ConnectionDone)
        self.failureResultOf(peer.whenLost(), ConnectionDone)
        err = self.failureResultOf(peer.call(ECHO, ("x",)), LibvirtError)
        self.assertIn("connection to the daemon was lost", str(err.value))

    def test_lostUncleanly(self) -> None:
        """
        An unclean loss names the transport's reason.
        """
        peer, _, _ = connected()
        d = peer.call(ECHO, ("x",))
        peer.connectionLost(Failure(ConnectionLost("reset by peer")))
        err = self.failureResultOf(d, LibvirtError).value
        self.assertIn("connection to the daemon was lost:", str(err))
        self.assertIn("reset by peer", str(err))
        self.assertEqual(peer.closeReason, VIR_CONNECT_CLOSE_REASON_ERROR)

    def test_close(self) -> None:
        """
        C{close} lets queued output go, and pending calls fail saying this
        program closed the connection.
        """
        peer, transport, _ = connected()
        d = peer.call(ECHO, ("x",))
        peer.close()
        self.assertTrue(transport.disconnecting)
        self.assertEqual(peer.closeReason, VIR_CONNECT_CLOSE_REASON_CLIENT)
        peer.connectionLost(Failure(ConnectionDone()))
        err = self.failureResultOf(d, LibvirtError).value
        self.assertIn("closed by this program", str(err))

    def test_notConnected(self) -> None:
        """
        A call before the connection is made fails at once.
        """
        peer = RPCPeer(reactor=MemoryReactorClock())
        err = self.failureResultOf(peer.call(AUTH_LIST), LibvirtError).value
        self.assertIn("not connected", str(err))

    def test_keepaliveDeath(self) -> None:
        """
        With keepalive started, PINGs go out after each silent interval and
        a peer silent for interval * (count + 1) seconds is dropped with
        close reason KEEPALIVE; pending calls say so.
        """
        peer, transport, clock = connected()
        d = peer.call(ECHO, ("x",))
        transport.clear()
        peer.startKeepalive(5, 2)
        clock.advance(4)
        peer.dataReceived(PONG)  # any frame resets the countdown
        clock.advance(4.5)
        self.assertEqual(transport.value(), b"")
        clock.advance(0.5)  # 5 s after the PONG
        self.assertEqual(transport.value(), PING)
        clock.advance(5)
        self.assertEqual(transport.value(), PING * 2)
        self.assertFalse(transport.disconnecting)
        clock.advance(5)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(peer.closeReason, VIR_CONNECT_CLOSE_REASON_KEEPALIVE)
        peer.connectionLost(Failure(ConnectionLost()))
        err = self.failureResultOf(d, LibvirtError).value
        self.assertEqual(err.get_error_code(), VIR_ERR_SYSTEM_ERROR)
        self.assertEqual(str(err), "connection to the daemon was lost: no "
                         "keepalive response from the peer in 15 s")


class QueuedBytesTests(SynchronousTestCase):
    def test_layers(self) -> None:
        """
        C{queuedBytes} adds what a TLS layer holds to what the file
        descriptor below has not written yet, and sees through wrappers and
        process transports; unknown transports count 0.
        """
        from virtd.rpc.pending import queuedBytes

        class FD:
            dataBuffer = b"x" * 100
            offset = 30
            _tempDataLen = 12

        class Wrapper:
            def __init__(self, transport, app=()):
                self.transport = transport
                self._appSendBuffer = list(app)

        class Process:
            pipes = {0: FD()}

        class ProcessTransport:
            _process = Process()

        self.assertEqual(queuedBytes(FD()), 82)
        self.assertEqual(queuedBytes(Wrapper(Wrapper(FD(), [b"abc"]))), 85)
        self.assertEqual(queuedBytes(ProcessTransport()), 82)
        self.assertEqual(queuedBytes(StringTransport()), 0)
        self.assertEqual(queuedBytes(None), 0)
        peer, transport, _ = connected()
        self.assertEqual(peer.bytesQueued, 0)


class EchoServer(RPCPeer):
    """
    A daemon-side peer answering ECHO after a delay that depends on the
    text, so that replies come back out of order.
    """

    def __init__(self) -> None:
        super().__init__(isServer=True)
        self.callHandler = self._call

    def _call(self, header: Header, payload: bytes) -> None:
        text = ECHO.args.decode(payload).text
        delay = (hash(text) % 7) / 1000.0
        reactor.callLater(delay, self.sendReply, header,
                          ECHO.ret.pack((text.upper(),)))


class RealSocketTests(TestCase):
    """
    Two peers over a real loopback TCP connection.
    """

    @defer.inlineCallbacks
    def setUp(self):
        self.servers: list[RPCPeer] = []

        def build(addr):
            p = EchoServer()
            self.servers.append(p)
            return p

        factory = Factory.forProtocol(EchoServer)
        factory.buildProtocol = build
        self.port = yield TCP4ServerEndpoint(
            reactor, 0, interface="127.0.0.1").listen(factory)
        host = self.port.getHost()
        self.client = yield TCP4ClientEndpoint(
            reactor, "127.0.0.1", host.port).connect(
                Factory.forProtocol(RPCPeer))
        while not self.servers:
            yield deferLater(reactor, 0.01)

    @defer.inlineCallbacks
    def tearDown(self):
        lost = [self.client.whenLost()] + [s.whenLost() for s in self.servers]
        self.client.close()
        for d in lost:
            yield d.addErrback(lambda f: f.trap(ConnectionDone, ConnectionLost))
        yield self.port.stopListening()

    @defer.inlineCallbacks
    def test_manyCallsInFlight(self):
        """
        500 calls in flight at once all get their own answer.
        """
        texts = [f"message {i} " + "x" * (i * 37 % 3000) for i in range(500)]
        ds = [self.client.call(ECHO, (t,), timeout=30) for t in texts]
        self.assertEqual(self.client.pendingCalls, 500)
        results = yield defer.gatherResults(ds)
        self.assertEqual([r.text for r in results], [t.upper() for t in texts])
        self.assertEqual(self.client.pendingCalls, 0)

    @defer.inlineCallbacks
    def test_bytesQueuedAndLoss(self):
        """
        When the daemon side stops reading, the client's unsent output shows
        in C{bytesQueued}; dropping the daemon side then fails every pending
        call at once.
        """
        server = self.servers[0]
        server.pauseReading()
        big = "y" * (3 * 1024 * 1024)
        ds = [self.client.call(ECHO, (big,)) for _ in range(10)]
        for _ in range(50):
            yield deferLater(reactor, 0.01)
        queued = self.client.bytesQueued
        self.assertGreater(queued, 0)
        self.assertLessEqual(queued, 10 * (len(big) + 32))
        server.transport.abortConnection()
        results = yield defer.DeferredList(ds, consumeErrors=True)
        for ok, f in results:
            self.assertFalse(ok)
            f.trap(LibvirtError)
            self.assertIn("connection to the daemon was lost", str(f.value))
