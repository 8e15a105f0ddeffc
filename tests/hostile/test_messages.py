"""
Hostile headers and payloads (wire facts 1.9): every one gets libvirt's
answer, and the connection stays usable.
"""

from __future__ import annotations

from twisted.internet import defer

from tests.hostile.cases import HEADER_CASES, PAYLOAD_CASES, runCase
from tests.hostile.health import HostileCase
from tests.hostile.peer import (
    PROC_AUTH_LIST,
    PROC_LOOKUP_BY_NAME,
    PROGRAM,
    RawPeer,
    decodeError,
    frame,
    xstring,
)

RPC = (39, 7)


def _err(message: str, proc: int = PROC_AUTH_LIST, prog: int = PROGRAM,
         vers: int = 1) -> tuple:
    return ("reply", 1, 39, 7, message, (prog, vers, proc, 5))


#: What libvirtd 9.0.0 does (wire facts 1.9); test_compare checks the
#: list against a real one.
EXPECTED_HEADERS = {
    "unknown program": _err("Cannot find program 305419896 version 1",
                            prog=0x12345678),
    "version 2": _err("Cannot find program 536903814 version 2", vers=2),
    "procedure 0": _err("unknown procedure: 0", 0),
    "procedure -1": _err("unknown procedure: -1", -1),
    "event procedure 107": _err("unknown procedure: 107", 107),
    "procedure 444 (past the table)": _err("unknown procedure: 444", 444),
    "procedure 2**31-1": _err("unknown procedure: 2147483647", 0x7FFFFFFF),
    "CALL with status ERROR": _err("Unexpected message status 1"),
    "CALL with status 7": _err("Unexpected message status 7"),
    "REPLY sent by the client": "silent",
    "MESSAGE sent by the client": "silent",
    "STREAM with no stream": "silent",
    "message type 99": "silent",
    "unknown program, MESSAGE": "silent",
}

UNDECODABLE = "Unable to decode message payload"


class HeaderTests(HostileCase):

    @defer.inlineCallbacks
    def test_headers(self):
        for name, data in HEADER_CASES:
            result, usable = yield self.inThread(runCase, self.daemon.sock,
                                                 data)
            self.assertEqual(result, EXPECTED_HEADERS[name], name)
            self.assertTrue(usable, f"{name}: the connection is unusable")

    @defer.inlineCallbacks
    def test_headersBeforeOpen(self):
        """
        The same answers before CONNECT_OPEN (program and procedure checks
        come before the handshake state).
        """
        for name, data in HEADER_CASES[:9]:
            result, usable = yield self.inThread(runCase, self.daemon.sock,
                                                 data, False)
            self.assertEqual(result, EXPECTED_HEADERS[name], name)
            self.assertTrue(usable, name)

    @defer.inlineCallbacks
    def test_twoCallsOneSerial(self):
        """
        libvirtd never checks serials: both calls are answered, each with
        the serial it came with.
        """
        def scenario():
            with RawPeer(self.daemon.sock) as peer:
                peer.handshake()
                peer.send(frame(PROC_LOOKUP_BY_NAME, xstring("test"), 42)
                          + frame(PROC_LOOKUP_BY_NAME, xstring("nope"), 42))
                return sorted((h[4], h[5]) for h, _ in
                              (peer.reply(), peer.reply()))

        self.assertEqual((yield self.inThread(scenario)), [(42, 0), (42, 1)])


class PayloadTests(HostileCase):
    """
    Undecodable arguments get "Unable to decode message payload" (39, 7)
    and the connection stays; allocation follows the bytes received, not
    the counts claimed.
    """

    timeout = 120

    @defer.inlineCallbacks
    def test_undecodable(self):
        for name, data in PAYLOAD_CASES:
            if "name" in name:
                continue
            result, usable = yield self.inThread(runCase, self.daemon.sock,
                                                 data, True, 10)
            self.assertEqual(result[:5], ("reply", 1) + RPC + (UNDECODABLE,),
                             name)
            self.assertTrue(usable, name)

    @defer.inlineCallbacks
    def test_oddNames(self):
        """
        Names that are not UTF-8, or hold a NUL, are just names that match
        nothing: "Domain not found" from the hypervisor, as from libvirtd,
        not an internal error with a traceback in the log.
        """
        results = {}
        for name, data in PAYLOAD_CASES:
            if "name" not in name:
                continue
            result, usable = yield self.inThread(runCase, self.daemon.sock,
                                                 data)
            self.assertTrue(usable, name)
            results[name] = result[:4]
        self.assertEqual(self.logs.failures(), [])
        for name, result in results.items():
            self.assertEqual(result, ("reply", 1, 42, 12), name)


class AccessTests(HostileCase):
    """
    Read-only clients, calls before CONNECT_OPEN, a second CONNECT_OPEN, a
    CONNECT_OPEN naming another host.
    """

    timeout = 120

    @defer.inlineCallbacks
    def test_everyWriteProcedureReadOnly(self):
        from tests.test_server_readonly import filled
        from virtd.protocol import remote

        def sweep():
            refused = {}
            with RawPeer(self.daemon.sockRO, 10) as peer:
                peer.handshake()
                for number, proc in sorted(remote.PROCEDURES.items()):
                    if proc.event or proc.readonly != "no":
                        continue
                    payload = proc.args.pack(filled(proc.args)) \
                        if proc.args.__class__.__name__ != "_Void" else b""
                    h, body = peer.roundtrip(number, payload)
                    if h[5] == 0:
                        refused[proc.name] = "SUCCEEDED"
                    else:
                        refused[proc.name] = decodeError(body)[:2]
            return refused

        refused = yield self.inThread(sweep)
        self.assertGreater(len(refused), 150)
        succeeded = [n for n, r in refused.items() if r == "SUCCEEDED"]
        # CONNECT_CLOSE and the daemon's own bookkeeping calls are not
        # writes to the host.
        self.assertEqual(sorted(set(succeeded) - {
            "CONNECT_CLOSE", "CONNECT_REGISTER_CLOSE_CALLBACK",
            "CONNECT_UNREGISTER_CLOSE_CALLBACK"}), [])
        denied = [n for n, r in refused.items() if r[0] == 29]
        self.assertGreater(len(denied), 100, sorted(refused.items()))
        # Nothing changed on the host: the domain still runs.
        state = yield self.inThread(self.domainState)
        self.assertEqual(state, 1)

    def domainState(self) -> int:
        import struct

        with RawPeer(self.daemon.sock) as peer:
            peer.handshake()
            h, body = peer.roundtrip(PROC_LOOKUP_BY_NAME, xstring("test"))
            dom = body
            h, body = peer.roundtrip(16, dom)  # DOMAIN_GET_INFO
            return struct.unpack_from(">i", body)[0]

    @defer.inlineCallbacks
    def test_callsBeforeOpen(self):
        from tests.test_server_readonly import filled
        from virtd.protocol import remote
        from virtd.server import connectprocs
        from virtd.server.handlers import HANDLERS

        served = set(HANDLERS) | set(connectprocs.table())
        allowed = {"AUTH_LIST", "AUTH_SASL_INIT", "AUTH_SASL_START",
                   "AUTH_SASL_STEP", "AUTH_POLKIT", "CONNECT_OPEN",
                   "CONNECT_CLOSE", "CONNECT_SUPPORTS_FEATURE"}

        def sweep():
            out = {}
            with RawPeer(self.daemon.sock, 10) as peer:
                for number, proc in sorted(remote.PROCEDURES.items()):
                    if proc.event or proc.name in allowed:
                        continue
                    payload = proc.args.pack(filled(proc.args)) \
                        if proc.args.__class__.__name__ != "_Void" else b""
                    h, body = peer.roundtrip(number, payload)
                    out[proc.name] = (h[5],) + decodeError(body) \
                        if h[5] else (0,)
            return out

        out = yield self.inThread(sweep)
        for name, result in out.items():
            if name in served:
                self.assertEqual(result, (1, 1, 7, "internal error: "
                                          "hypervisor connection not open"),
                                 name)
            else:
                self.assertEqual(result[:3], (1, 39, 7), name)

    @defer.inlineCallbacks
    def test_secondOpen(self):
        from tests.hostile.peer import PROC_CONNECT_OPEN, openArgs

        def scenario():
            with RawPeer(self.daemon.sock) as peer:
                peer.handshake()
                h, body = peer.roundtrip(PROC_CONNECT_OPEN, openArgs())
                return h[5], decodeError(body)

        status, err = yield self.inThread(scenario)
        self.assertEqual((status,) + err,
                         (1, 1, 7, "internal error: connection already open"))

    @defer.inlineCallbacks
    def test_openRemoteHost(self):
        from tests.hostile.peer import PROC_CONNECT_OPEN, openArgs

        def scenario(uri):
            with RawPeer(self.daemon.sock) as peer:
                peer.roundtrip(PROC_AUTH_LIST)
                h, body = peer.roundtrip(PROC_CONNECT_OPEN, openArgs(uri))
                refused = (h[5],) + decodeError(body)[:2]
                # The connection stays and may open a local URI.
                peer.roundtrip(PROC_CONNECT_OPEN, openArgs())
                h, _ = peer.roundtrip(59)
                return refused, h[5]

        for uri in ("test://otherhost/default", "qemu+ssh://h/system",
                    "test+tcp://127.0.0.1:16509/default", "remote:///"):
            refused, after = yield self.inThread(scenario, uri)
            self.assertEqual(refused, (1, 29, 13), uri)
            self.assertEqual(after, 0, uri)
