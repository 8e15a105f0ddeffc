"""
L{Connection}: one open libvirt connection, with libvirt-python's method
names; every method that talks to the server returns a L{Deferred}.

The object-family methods live beside their handle classes (networks in
L{virtd.client.network}, storage in L{virtd.client.storage}, ...) as mixins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from virtd.client.calls import (
    charsToString,
    counted,
    fromUUID,
    fromUUIDString,
    noFiles,
    rpc,
    typedParamsToDict,
)
from virtd.client.domain import Domain
from virtd.client.events import EventMethods
from virtd.client.handle import deferred
from virtd.client.interface import InterfaceMethods
from virtd.client.network import NetworkMethods
from virtd.client.nodedev import NodeDeviceMethods
from virtd.client.storage import StorageMethods
from virtd.errors import (
    VIR_ERR_INTERNAL_ERROR,
    VIR_ERR_INVALID_ARG,
    VIR_ERR_OPERATION_INVALID,
    VIR_FROM_DOMAIN,
    VIR_FROM_REMOTE,
    VIR_FROM_RPC,
    LibvirtError,
)
from virtd.protocol.message import REMOTE_PROGRAM
from virtd.protocol.remote import BY_NAME, PROCEDURES

__all__ = ["Connection", "VIR_CONNECT_CLOSE_REASON_ERROR",
           "VIR_CONNECT_CLOSE_REASON_EOF", "VIR_CONNECT_CLOSE_REASON_KEEPALIVE",
           "VIR_CONNECT_CLOSE_REASON_CLIENT"]

_log = Logger()

# virConnectCloseReason
VIR_CONNECT_CLOSE_REASON_ERROR = 0
VIR_CONNECT_CLOSE_REASON_EOF = 1
VIR_CONNECT_CLOSE_REASON_KEEPALIVE = 2
VIR_CONNECT_CLOSE_REASON_CLIENT = 3

# VIR_DRV_FEATURE_* the client itself asks about
FEATURE_TYPED_PARAM_STRING = 9
FEATURE_PROGRAM_KEEPALIVE = 10
FEATURE_REMOTE_EVENT_CALLBACK = 14
FEATURE_REMOTE_CLOSE_CALLBACK = 15
FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER = 16

_REMOTE_PROC_CONNECT_EVENT_CONNECTION_CLOSED = 362


def _domain(conn: Connection, value: Any) -> Domain:
    return Domain(conn, value.dom)


def _domainStats(conn: Connection, refs: list, stats: int, flags: int,
                 timeout: float | None) -> Deferred:
    d = conn._call("CONNECT_GET_ALL_DOMAIN_STATS", (refs, stats, flags),
                   timeout)
    return d.addCallback(lambda r: [
        (Domain(conn, record.dom), typedParamsToDict(record.params))
        for record in r.retStats])


def closeReasonOf(peer: Any, transport: str) -> int:
    """
    The C{virConnectCloseReason} libvirt 9.0's client reports when the
    connection goes away without L{Connection.close}: KEEPALIVE when
    keepalive gave up; otherwise EOF for transports that libvirt runs over
    an C{AF_UNIX} socket (unix, and the socket pair to the ssh or ext
    helper), which report a hang-up, and ERROR for tcp, tls and the
    in-process ssh libraries, where libvirt sees a failed read (measured
    with libvirt-python against libvirtd).
    """
    if getattr(peer, "closeReason", None) == VIR_CONNECT_CLOSE_REASON_KEEPALIVE:
        return VIR_CONNECT_CLOSE_REASON_KEEPALIVE
    if transport in ("unix", "ssh", "ext"):
        return VIR_CONNECT_CLOSE_REASON_EOF
    return VIR_CONNECT_CLOSE_REASON_ERROR


class Connection(NetworkMethods, StorageMethods, InterfaceMethods,
                 NodeDeviceMethods, EventMethods):
    """
    An open connection to a libvirt daemon; made by L{virtd.connect}.

    Local accessors (plain values): L{isAlive}, L{name}. Everything else
    returns a L{Deferred} firing with what libvirt-python's C{virConnect}
    method of the same name returns, or failing with L{LibvirtError}. Every
    remote method takes a keyword-only C{timeout} in seconds.

    @ivar peer: the L{virtd.rpc.peer.RPCPeer} carrying the connection.
    @ivar connectionName: the parsed name (L{virtd.uri.ConnectionName}).
    @ivar readonly: whether the connection was opened read-only.
    @ivar features: the server's answers to C{CONNECT_SUPPORTS_FEATURE}
        asked so far, feature number -> 0/1.
    """

    def __init__(self, peer: Any, connectionName: Any, uri: str,
                 readonly: bool = False,
                 features: dict[int, int] | None = None) -> None:
        self.peer = peer
        self.connectionName = connectionName
        self.readonly = readonly
        self.features: dict[int, int] = dict(features or {})
        self._uri = uri
        self._type: str | None = None
        self._closeCallback: tuple[Callable, Any] | None = None
        self._closing = False
        self._closeRequested = False
        self._lost: Failure | None = None
        self._lostMessage = ""
        self._pendingFeatures: dict[int, Deferred] = {}
        peer.eventHandler = self._eventReceived
        peer.whenLost().addBoth(self._connectionLost)

    # -- plumbing ----------------------------------------------------------

    def _connection(self) -> Connection:
        return self

    def _call(self, procName: str, args: Any = None,
              timeout: float | None = None) -> Deferred:
        """
        Send procedure C{procName} of the REMOTE program.

        @return: a Deferred firing with the decoded reply (C{None} when the
            procedure has none).
        """
        if self._lost is not None or self._closing:
            return fail(self._closedError())
        try:
            return self.peer.call(BY_NAME[procName], args, timeout=timeout)
        except Exception:
            return fail()

    def _encodeArgs(self, procName: str, args: Any) -> bytes | None:
        """
        The payload of C{procName}'s arguments C{args}, or C{None} when they
        do not encode (L{_call} reports why).
        """
        try:
            return self.peer.encodeArgs(BY_NAME[procName], args)
        except Exception:
            return None

    def _callEncoded(self, procName: str, payload: bytes,
                     timeout: float | None = None) -> Deferred:
        """
        L{_call} with the arguments already encoded by L{_encodeArgs}.
        """
        if self._lost is not None or self._closing:
            return fail(self._closedError())
        try:
            return self.peer.callEncoded(BY_NAME[procName], payload,
                                         timeout=timeout)
        except Exception:
            return fail()

    def _closedError(self) -> LibvirtError:
        detail = "client socket is closed"
        if self._lostMessage:
            detail += f" ({self._lostMessage}; open a new connection)"
        return LibvirtError.fromCode(VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC,
                                     detail)

    def _feature(self, feature: int, timeout: float | None = None
                 ) -> Deferred:
        """
        The server's answer to feature C{feature}, asked once and cached.
        """
        if feature in self.features:
            return succeed(self.features[feature])
        d = self._call("CONNECT_SUPPORTS_FEATURE", (feature,), timeout)

        def remember(value: Any) -> int:
            self.features[feature] = value.supported
            return value.supported

        return d.addCallback(remember)

    def _connectionLost(self, reason: Failure) -> None:
        self._lost = reason
        error = getattr(self.peer, "closeError", None)
        if error is not None:
            why = error.get_error_message()
        else:
            why = str(reason.value) or type(reason.value).__name__
        self._lostMessage = f"{self._uri!r}: {why}"
        if self._closeRequested:
            return
        _log.info("connection {message}", message=self._lostMessage)
        self._fireCloseCallback(
            closeReasonOf(self.peer, self.connectionName.transport))

    def _fireCloseCallback(self, reason: int) -> None:
        registered = self._closeCallback
        if registered is None:
            return
        callback, opaque = registered
        try:
            callback(self, reason, opaque)
        except Exception:
            _log.failure("close callback {callback!r} raised",
                         callback=callback)

    def _eventReceived(self, header: Any, payload: bytes) -> None:
        if (header.prog == REMOTE_PROGRAM
                and header.proc == _REMOTE_PROC_CONNECT_EVENT_CONNECTION_CLOSED):
            try:
                reason = PROCEDURES[header.proc].ret.decode(payload).reason
            except Exception:
                _log.failure("undecodable connection-closed event")
                return
            # As libvirt: the daemon's own backend connection went away;
            # tell the application, the socket itself stays open.
            self._fireCloseCallback(reason)
            return
        if self._eventDispatch(header, payload):
            return
        _log.debug("ignoring event procedure {proc} of program {prog:#x}",
                   proc=header.proc, prog=header.prog)

    # -- local accessors ---------------------------------------------------

    def isAlive(self) -> int:
        """
        C{1} while the connection is usable, C{0} once it was closed or
        lost (local, as libvirt's C{virConnectIsAlive}).
        """
        return 0 if (self._lost is not None or self._closing) else 1

    # -- connection --------------------------------------------------------

    def getURI(self, *, timeout: float | None = None) -> Deferred:
        """
        The URI this connection was opened with (or, when none was given,
        the one the daemon reported). No RPC, as in libvirt.
        """
        return succeed(self._uri)

    @deferred
    async def getType(self, *, timeout: float | None = None) -> str:
        """
        The hypervisor type (e.g. C{"TEST"}); asked once, then cached, as
        libvirt's client does.
        """
        if self._type is None:
            self._type = (await self._call("CONNECT_GET_TYPE", None,
                                           timeout)).type
        return self._type

    getHostname = rpc("CONNECT_GET_HOSTNAME", handle=False)
    getVersion = rpc("CONNECT_GET_VERSION", handle=False)
    getLibVersion = rpc("CONNECT_GET_LIB_VERSION", handle=False)
    getCapabilities = rpc("CONNECT_GET_CAPABILITIES", handle=False)
    getSysinfo = rpc("CONNECT_GET_SYSINFO", "flags=0", handle=False)
    getMaxVcpus = rpc("CONNECT_GET_MAX_VCPUS", "type=None", handle=False)
    getFreeMemory = rpc("NODE_GET_FREE_MEMORY", handle=False)
    getCellsFreeMemory = rpc(
        "NODE_GET_CELLS_FREE_MEMORY", "startCell", "maxCells", handle=False,
        ret=lambda c, r: list(r.cells))
    getInfo = rpc(
        "NODE_GET_INFO", handle=False,
        ret=lambda c, r: [charsToString(r.model), r.memory >> 10, r.cpus,
                          r.mhz, r.nodes, r.sockets, r.cores, r.threads],
        doc="C{[model, memory MiB, cpus, mhz, nodes, sockets, cores, "
            "threads]} as libvirt-python's C{getInfo()}.")

    @deferred
    async def getCPUMap(self, flags: int = 0, *,
                        timeout: float | None = None) -> tuple:
        """
        C{(cpus, [online bools...], onlineCount)} as libvirt-python's
        C{getCPUMap()}.
        """
        from virtd.client.calls import bitsToBools

        r = await self._call("NODE_GET_CPU_MAP", (1, 1, flags), timeout)
        return (r.ret, list(bitsToBools(r.cpumap, r.ret)), r.online)

    @deferred
    async def isSecure(self, *, timeout: float | None = None) -> int:
        """
        C{1} when the transport is encrypted, or trusted (unix, ssh) and the
        server says the connection is secure (libvirt's rule).
        """
        if self._transportEncrypted():
            return 1
        secure = (await self._call("CONNECT_IS_SECURE", None, timeout)).secure
        return 1 if secure and self._transportSecure() else 0

    @deferred
    async def isEncrypted(self, *, timeout: float | None = None) -> int:
        """
        C{1} only when libvirt's own transport layer encrypts (TLS; ssh's
        encryption happens outside it and does not count, as in libvirt);
        otherwise the server is still asked, as libvirt does, and the
        answer is C{0}.
        """
        if self._transportEncrypted():
            return 1
        await self._call("CONNECT_IS_SECURE", None, timeout)
        return 0

    def _transportEncrypted(self) -> bool:
        # libvirt 9.0 counts only TLS (and SASL) as encrypting.
        return self.connectionName.transport == "tls"

    def _transportSecure(self) -> bool:
        # libvirt 9.0 trusts unix sockets, TLS and the ssh family, not plain
        # tcp or ext (measured with libvirt-python against libvirtd).
        return self.connectionName.transport in (
            "unix", "tls", "ssh", "libssh", "libssh2")

    def registerCloseCallback(self, cb: Callable, opaque: Any) -> Deferred:
        """
        Call C{cb(conn, reason, opaque)} (a C{VIR_CONNECT_CLOSE_REASON_*})
        when the connection is lost or the daemon reports its backend
        closed; not when L{close} is called. One callback at a time.

        @return: a Deferred firing with C{0}, or failing with
            C{VIR_ERR_OPERATION_INVALID} if one is already registered.
        """
        if self._closeCallback is not None:
            return fail(LibvirtError.fromCode(
                VIR_ERR_OPERATION_INVALID, VIR_FROM_REMOTE,
                "A close callback is already registered"))
        self._closeCallback = (cb, opaque)
        return succeed(0)

    def unregisterCloseCallback(self) -> Deferred:
        """
        Remove the close callback.

        @return: a Deferred firing with C{0}, or failing with
            C{VIR_ERR_OPERATION_INVALID} if none is registered.
        """
        if self._closeCallback is None:
            return fail(LibvirtError.fromCode(
                VIR_ERR_OPERATION_INVALID, VIR_FROM_REMOTE,
                "A different callback was requested"))
        self._closeCallback = None
        return succeed(0)

    @deferred
    async def close(self, *, timeout: float | None = None) -> int:
        """
        Close the connection as libvirt's client does (UNREGISTER the
        server-side close callback if it was registered, CONNECT_CLOSE) and
        drop the transport. The close callback is not called. Closing a
        lost or closed connection succeeds without traffic.

        @return: C{0}.
        """
        if self._lost is not None or self._closing:
            return 0
        self._closeRequested = True
        try:
            if self.features.get(FEATURE_REMOTE_CLOSE_CALLBACK):
                await self._call("CONNECT_UNREGISTER_CLOSE_CALLBACK", None,
                                 timeout)
            await self._call("CONNECT_CLOSE", None, timeout)
        finally:
            self._closing = True
            if self._lost is None:
                self.peer.close()
        return 0

    # -- domains -----------------------------------------------------------

    listAllDomains = rpc(
        "CONNECT_LIST_ALL_DOMAINS", 1, "flags=0", handle=False,
        ret=lambda c, r: [Domain(c, d) for d in r.domains])
    numOfDomains = rpc("CONNECT_NUM_OF_DOMAINS", handle=False)
    numOfDefinedDomains = rpc("CONNECT_NUM_OF_DEFINED_DOMAINS", handle=False)

    listDomainsID = counted("CONNECT_NUM_OF_DOMAINS", "CONNECT_LIST_DOMAINS",
                            handle=False)
    listDefinedDomains = counted("CONNECT_NUM_OF_DEFINED_DOMAINS",
                                 "CONNECT_LIST_DEFINED_DOMAINS", handle=False)

    lookupByName = rpc("DOMAIN_LOOKUP_BY_NAME", "name", handle=False,
                       ret=_domain)
    lookupByID = rpc("DOMAIN_LOOKUP_BY_ID", "id", handle=False, ret=_domain)
    lookupByUUID = rpc("DOMAIN_LOOKUP_BY_UUID", "uuid", handle=False,
                       ret=_domain,
                       convert={"uuid": fromUUID("virDomainLookupByUUID")})
    lookupByUUIDString = rpc(
        "DOMAIN_LOOKUP_BY_UUID", "uuidstr", handle=False, ret=_domain,
        convert={"uuidstr": fromUUIDString("virDomainLookupByUUIDString")})
    defineXML = rpc("DOMAIN_DEFINE_XML", "xml", handle=False, ret=_domain)
    defineXMLFlags = rpc("DOMAIN_DEFINE_XML_FLAGS", "xml", "flags=0",
                         handle=False, ret=_domain)
    createXML = rpc("DOMAIN_CREATE_XML", "xmlDesc", "flags=0", handle=False,
                    ret=_domain)
    _createXMLWithFiles = rpc("DOMAIN_CREATE_XML_WITH_FILES", "xmlDesc",
                              "flags=0", handle=False, ret=_domain)

    def createXMLWithFiles(self, xmlDesc: str, files: list, flags: int = 0,
                           *, timeout: float | None = None) -> Deferred:
        """
        C{createXML} for libvirt-python's C{createXMLWithFiles}; C{files}
        must be empty (see L{virtd.client.calls.noFiles}).
        """
        if files:
            return fail(noFiles("createXMLWithFiles"))
        return self._createXMLWithFiles(xmlDesc, flags, timeout=timeout)

    # -- domain statistics -------------------------------------------------

    def getAllDomainStats(self, stats: int = 0, flags: int = 0, *,
                          timeout: float | None = None) -> Deferred:
        """
        Statistics of every domain C{flags} selects
        (C{VIR_CONNECT_GET_ALL_DOMAINS_STATS_*}), the groups C{stats} names
        (C{VIR_DOMAIN_STATS_*}, C{0} for all the hypervisor has).

        @return: a Deferred firing with C{[(Domain, {field: value}), ...]},
            as libvirt-python's C{getAllDomainStats}.
        """
        return _domainStats(self, [], stats, flags, timeout)

    def domainListGetStats(self, doms: list[Domain], stats: int = 0,
                           flags: int = 0, *,
                           timeout: float | None = None) -> Deferred:
        """
        L{getAllDomainStats} for the domains in C{doms}, asked of their
        connection (as libvirt, that of the first; all must share it).

        @return: a Deferred firing with C{[(Domain, {field: value}), ...]},
            or failing with C{VIR_ERR_INVALID_ARG} for an empty list or
            domains of several connections.
        """
        doms = list(doms)
        if any(not isinstance(d, Domain) for d in doms):
            return fail(TypeError("domainListGetStats() takes a list of "
                                  "Domain handles"))
        problem = None
        if not doms:
            problem = ("doms array in virDomainListGetStats must contain at "
                       "least one domain")
        elif any(d._conn is not doms[0]._conn for d in doms):
            problem = "domains in 'doms' array must belong to a single connection"
        if problem is not None:
            return fail(LibvirtError.fromCode(VIR_ERR_INVALID_ARG,
                                              VIR_FROM_DOMAIN, problem))
        return _domainStats(doms[0]._conn, [d._ref for d in doms], stats,
                            flags, timeout)

    def __repr__(self) -> str:
        state = "open" if self.isAlive() else "closed"
        return f"<virtd Connection {self._uri!r} ({state})>"
