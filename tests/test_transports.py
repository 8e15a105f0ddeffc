"""
Tests for L{virtd.transports} against a real libvirtd: unix, tcp, ext, the
spawned-process endpoint's error reporting, and the C{virtd:} endpoint
string plugin.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from twisted.internet import defer, protocol, reactor
from twisted.internet.endpoints import clientFromString
from twisted.internet.error import ConnectionDone
from twisted.trial.unittest import TestCase

from tests.support import RealLibvirtd, freePort, removeTree, shortTempDir
from virtd.errors import VIR_ERR_SYSTEM_ERROR, VIR_FROM_RPC, LibvirtError
from virtd.transports import SpawnedProcessEndpoint, endpointFor
from virtd.uri import parse

# AUTH_LIST (66), serial 0, no arguments.
AUTH_LIST_CALL = bytes.fromhex(
    "0000001c" "20008086" "00000001" "00000042" "00000000" "00000000" "00000000")
# REPLY OK with types=[0] (auth none).
AUTH_LIST_REPLY = bytes.fromhex(
    "00000024" "20008086" "00000001" "00000042" "00000001" "00000000" "00000000"
    "00000001" "00000000")


class RawRPC(protocol.Protocol):
    """
    Sends the AUTH_LIST call on connect and collects the reply bytes.

    @ivar reply: fires with the first 36 bytes received.
    @ivar lost: fires with the connectionLost exception.
    """

    def __init__(self, send: bool = True) -> None:
        self.send = send
        self.buffer = b""
        self.reply: defer.Deferred[bytes] = defer.Deferred()
        self.lost: defer.Deferred[Any] = defer.Deferred()

    def connectionMade(self) -> None:
        if self.send:
            self.transport.write(AUTH_LIST_CALL)

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= len(AUTH_LIST_REPLY) and not self.reply.called:
            self.reply.callback(self.buffer[: len(AUTH_LIST_REPLY)])

    def connectionLost(self, reason: Any) -> None:
        if not self.reply.called:
            self.reply.errback(reason)
        self.lost.callback(reason.value)


def factoryFor(proto: RawRPC) -> protocol.Factory:
    return protocol.Factory.forProtocol(lambda: proto)


@defer.inlineCallbacks
def authListOver(testCase: TestCase, endpoint: Any) -> Any:
    """
    Connect C{endpoint}, run AUTH_LIST, check the reply, close.
    """
    proto = RawRPC()
    connected = yield endpoint.connect(factoryFor(proto))
    testCase.assertIs(connected, proto)
    reply = yield proto.reply
    testCase.assertEqual(reply, AUTH_LIST_REPLY)
    proto.transport.loseConnection()
    reason = yield proto.lost
    return reason


def writeScript(directory: str, name: str, body: str) -> str:
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, stat.S_IRWXU)
    return path


class RealDaemonTests(TestCase):
    timeout = 60

    def setUp(self) -> None:
        self.daemon = RealLibvirtd.forTest(self)
        self.tmp = shortTempDir("vdt")
        self.addCleanup(removeTree, self.tmp)

    def endpoint(self, name: str, readonly: bool = False, **kw: Any) -> Any:
        return endpointFor(reactor, parse(name), readonly, **kw)

    def test_unix(self) -> None:
        """
        A unix socket, both as a libvirt URI and as a remote: name.
        """
        d = authListOver(self, self.endpoint(self.daemon.uri("unix")))
        d.addCallback(lambda _: authListOver(
            self, self.endpoint(f"remote:unix:{self.daemon.sock}")))
        return d

    @defer.inlineCallbacks
    def test_unixReadOnly(self) -> None:
        """
        readonly=True picks the -ro socket when no socket= is given.
        """
        # mode=legacy + a default path cannot point at our private daemon, so
        # check the choice through socketPath and the connection through
        # socket= naming the -ro socket.
        yield authListOver(self, self.endpoint(self.daemon.uri("unix", readonly=True),
                                               readonly=True))

    def test_tcp(self) -> None:
        """
        Plain TCP to libvirtd's tcp port, by IP and by host name.
        """
        d = authListOver(self, self.endpoint(self.daemon.uri("tcp")))
        d.addCallback(lambda _: authListOver(
            self, self.endpoint(f"remote:tcp:localhost:{self.daemon.tcpPort}")))
        return d

    @defer.inlineCallbacks
    def test_ext(self) -> None:
        """
        ext runs the command, which bridges stdin/stdout to the unix socket.
        """
        for bridge in (f"exec socat - UNIX-CONNECT:{self.daemon.sock}",
                       f"exec nc -U {self.daemon.sock}"):
            script = writeScript(self.tmp, "bridge", bridge)
            reason = yield authListOver(
                self, self.endpoint(f"test+ext:///default?command={script}"))
            self.assertIsInstance(reason, ConnectionDone)
        reason = yield authListOver(self, self.endpoint(f"remote:ext:{script}"))

    @defer.inlineCallbacks
    def test_extInheritsEnvironment(self) -> None:
        """
        The ext command gets our environment.
        """
        os.environ["VIRTD_TEST_SOCKET"] = self.daemon.sock
        self.addCleanup(os.environ.pop, "VIRTD_TEST_SOCKET", None)
        script = writeScript(self.tmp, "envbridge",
                             'exec socat - "UNIX-CONNECT:$VIRTD_TEST_SOCKET"')
        yield authListOver(self, self.endpoint(f"remote:ext:{script}"))


class FailureTests(TestCase):
    timeout = 30

    def setUp(self) -> None:
        self.tmp = shortTempDir("vdt")
        self.addCleanup(removeTree, self.tmp)

    @defer.inlineCallbacks
    def test_unixMissing(self) -> None:
        ep = endpointFor(reactor, parse(f"remote:unix:{self.tmp}/nothing"))
        e = yield self.assertFailure(ep.connect(factoryFor(RawRPC())), LibvirtError)
        self.assertEqual((e.get_error_code(), e.get_error_domain()),
                         (VIR_ERR_SYSTEM_ERROR, VIR_FROM_RPC))
        self.assertIn(f"Failed to connect socket to '{self.tmp}/nothing'",
                      e.get_error_message())
        self.assertIn("No such file", e.get_error_message())

    @defer.inlineCallbacks
    def test_tcpRefused(self) -> None:
        port = freePort()
        ep = endpointFor(reactor, parse(f"test+tcp://127.0.0.1:{port}/default"))
        e = yield self.assertFailure(ep.connect(factoryFor(RawRPC())), LibvirtError)
        self.assertIn(f"unable to connect to server at '127.0.0.1:{port}'",
                      e.get_error_message())
        self.assertIn("refused", e.get_error_message())

    @defer.inlineCallbacks
    def test_extStderrReachesError(self) -> None:
        """
        A helper that prints an error and exits: connectionLost gets a
        LibvirtError holding its stderr and exit status.
        """
        script = writeScript(self.tmp, "fail",
                             "echo \"nc: invalid option -- 'U'\" >&2; exit 1")
        proto = RawRPC()
        ep = endpointFor(reactor, parse(f"remote:ext:{script}"))
        yield ep.connect(factoryFor(proto))
        e = yield self.assertFailure(proto.reply, LibvirtError)
        self.assertIn("nc: invalid option -- 'U'", e.get_error_message())
        self.assertIn("exited with status 1", e.get_error_message())
        self.assertEqual(e.stderr, "nc: invalid option -- 'U'")
        self.assertEqual(e.get_error_code(), VIR_ERR_SYSTEM_ERROR)

    @defer.inlineCallbacks
    def test_extMissingProgram(self) -> None:
        ep = endpointFor(reactor, parse(f"remote:ext:{self.tmp}/none"))
        e = yield self.assertFailure(ep.connect(factoryFor(RawRPC())), LibvirtError)
        self.assertIn(f"{self.tmp}/none does not exist", e.get_error_message())

    @defer.inlineCallbacks
    def test_processCloseIsClean(self) -> None:
        """
        When we close, a process that needs a signal to go is stopped and
        the protocol sees ConnectionDone, not an error.
        """
        script = writeScript(self.tmp, "stubborn", "trap '' HUP; exec sleep 30")
        ep = SpawnedProcessEndpoint(reactor, script, [script], closeGrace=0.2)
        proto = RawRPC(send=False)
        proto.reply.addErrback(lambda f: None)
        yield ep.connect(factoryFor(proto))
        proto.transport.loseConnection()
        reason = yield proto.lost
        self.assertIsInstance(reason, ConnectionDone)


class PluginTests(TestCase):
    timeout = 60

    def test_nameFromDescription(self) -> None:
        from twisted.plugins.virtd_endpoints import _nameFromDescription

        self.assertEqual(
            _nameFromDescription(("test+tcp", "//h", "1/default"), {"pkipath": "/p"}),
            "test+tcp://h:1/default?pkipath=/p")
        self.assertEqual(
            _nameFromDescription(("remote", "ssh", "h"), {"name": "a b", "readonly": "1"}),
            "remote:ssh:h name=a%20b")
        self.assertEqual(
            _nameFromDescription(("test+unix", "///default?a=1",), {"socket": "/s"}),
            "test+unix:///default?a=1&socket=/s")

    @defer.inlineCallbacks
    def test_clientFromString(self) -> None:
        """
        clientFromString(reactor, "virtd:...") gives working endpoints.
        """
        daemon = RealLibvirtd.forTest(self)
        for description in (
            f"virtd:test+tcp://127.0.0.1:{daemon.tcpPort}/default",
            f"virtd:test+unix:///default:socket={daemon.sockRO}:readonly=1",
            f"virtd:remote\\:tcp\\:127.0.0.1\\:{daemon.tcpPort}",
            f"virtd:remote:unix:{daemon.sock}:name=test\\:///default",
        ):
            yield authListOver(self, clientFromString(reactor, description))
