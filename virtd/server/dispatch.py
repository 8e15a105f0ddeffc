"""
From an incoming CALL to its REPLY: program and procedure lookup, the
checks libvirtd makes before running a call (wire facts 1.9, 7.4), and the
bounded worker pools the libvirt-python handlers run in (DESIGN decision 5).

The hot path, per call: one dict lookup, one decode, one queue put; the
handler, the encoding of its result and, on plain sockets, the sending of
the reply run in a worker thread. Only a reply the worker could not send,
an error, a client gone or one whose socket is no longer read (it is at
its request limit) brings the reactor thread back with C{callFromThread};
otherwise the reactor settles the call's bookkeeping when it next catches
up (L{Dispatcher.catchUp}).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from virtd import xdr
from virtd.errors import ERROR_NAMES, LibvirtError, printable
from virtd.protocol import remote
from virtd.protocol.message import (
    VIR_NET_CALL_WITH_FDS,
    VIR_NET_OK,
    VIR_NET_REPLY,
    Header,
)
from virtd.rpc.directwrite import CARRIED, SENT
from virtd.server import connectprocs
from virtd.server.affinity import CPUFollower
from virtd.server.backend import IBackend, convertError
from virtd.server.config import ServerConfig
from virtd.server.pool import WorkerPool
from virtd.server.readonly import readonlyDenial
from virtd.server.rpcerrors import (
    AUTH_REQUIRED,
    NOT_OPEN,
    UNDECODABLE,
    descriptorsRefused,
    internalError,
    rpcError,
)
from virtd.server.session import ClientSession

__all__ = ["AUTH_PROCEDURES", "Dispatcher", "inlineSafe"]

log = Logger(namespace="virtd.server")

_HANDLER = 0
_DAEMON = 1
_MISSING = 2

#: Procedures allowed before authentication (wire facts 1.9).
AUTH_PROCEDURES = frozenset({"AUTH_LIST", "AUTH_SASL_INIT", "AUTH_SASL_START",
                             "AUTH_SASL_STEP", "AUTH_POLKIT"})
#: Served procedures whose descriptors matter (libvirt-python passes them
#: as files); other calls that pass some are served without them, as
#: libvirtd ignores descriptors a procedure does not take.
TAKES_FDS = frozenset({"DOMAIN_CREATE_XML_WITH_FILES",
                       "DOMAIN_CREATE_WITH_FILES"})


def _runHandler(fn: Callable, session: ClientSession, args: Any,
                ret: xdr.Type, libvirtError: type | None,
                retried: bool = False) -> bytes | LibvirtError:
    """
    Worker thread: run a handler and encode its result.

    @return: the encoded C{*_ret}, or the L{LibvirtError} to answer with.
    @raise Exception: anything else (a bug); the dispatcher logs it.
    """
    try:
        return ret.pack(fn(session, args))
    except LibvirtError as e:
        return e
    except Exception as e:
        if libvirtError is not None and isinstance(e, libvirtError):
            return convertError(e)
        if not retried and (isinstance(e, UnicodeEncodeError) or (
                isinstance(e, ValueError) and "null character" in str(e))):
            # libvirt-python refuses strings C takes (non-UTF-8 bytes, a
            # NUL): answer as libvirtd does, with what C would have seen.
            from virtd.server.handlers.convert import asCStrings

            return _runHandler(fn, session, asCStrings(args), ret,
                               libvirtError, True)
        raise


class _Undecodable:
    """
    A worker's answer for a call whose arguments did not decode.
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _decodeAndRun(fn: Callable, session: ClientSession, argsType: xdr.Type,
                  payload: bytes, ret: xdr.Type, libvirtError: type | None
                  ) -> bytes | LibvirtError | _Undecodable:
    """
    Worker thread: decode a call's arguments, then L{_runHandler}.
    """
    try:
        args = argsType.decode(payload)
    except xdr.XDRError as e:
        return _Undecodable(e.reason)
    return _runHandler(fn, session, args, ret, libvirtError)


def _replyFromThread(fn: Callable, session: ClientSession, argsType: xdr.Type,
                     payload: bytes, ret: xdr.Type, libvirtError: type | None,
                     send: Callable, encode: Callable, header: Header) -> Any:
    """
    Worker thread: L{_decodeAndRun}, then send a successful reply at once
    with C{send} (a L{SharedSender}'s C{sendFromThread}).

    @return: L{SENT} or L{CARRIED} when the reply went (wholly or in part)
        to the kernel, else what L{_decodeAndRun} returned.
    """
    result = _decodeAndRun(fn, session, argsType, payload, ret, libvirtError)
    if result.__class__ is bytes:
        outcome = send(encode((header.prog, header.vers, header.proc,
                               VIR_NET_REPLY, header.serial, VIR_NET_OK),
                              result))
        if outcome is SENT or outcome is CARRIED:
            return outcome
    return result


def _urgent(tag: tuple, ok: bool, result: Any) -> bool:
    """
    Worker thread: whether a completion must wake the reactor now. A reply
    sent whole from the worker can wait for the next L{Dispatcher.catchUp}
    unless its client is gone, or its socket is no longer read because it
    is at its request limit: then nothing else would wake the reactor for
    it. (A client merely at its limit is caught up with as soon as it
    sends more, see L{virtd.server.session.ServerPeer}.)
    """
    if result is not SENT:
        return True
    session = tag[0]
    return session.lost or session.peer.readingStopped


def inlineSafe(uri: str | None) -> bool:
    """
    Whether a hypervisor connection to C{uri} answers without ever waiting:
    libvirt's test driver (C{test:///...}) keeps everything in memory in
    this process. A remote transport (C{test+unix://}...) or any other
    driver can wait on a daemon or a hypervisor, so it never qualifies.
    """
    if not uri:
        return False
    scheme, sep, rest = uri.partition(":")
    return bool(sep) and scheme == "test" and rest.startswith("///")


def _closeConn(backend: IBackend, conn: Any, events: dict) -> None:
    """
    Worker thread: drop a gone client's event callbacks, then close its
    hypervisor connection.
    """
    if events:
        from virtd.server.events import deregisterAll

        deregisterAll(conn, events)
    backend.close(conn)


class Dispatcher:
    """
    Carries out the calls of every client of one daemon.

    @ivar sessions: the connected clients.
    @ivar normal: the L{WorkerPool} for ordinary calls.
    @ivar priority: the L{WorkerPool} for C{@priority high} calls when
        every normal worker is busy.
    @ivar onClientCountChanged: called with the number of clients whenever
        it changes (the service pauses accepting at C{maxClients}).
    """

    def __init__(self, reactor: Any, config: ServerConfig,
                 backend: IBackend,
                 handlers: Mapping[str, Callable] | None = None,
                 procedures: Mapping[int, Any] | None = None) -> None:
        """
        @param handlers: procedure name -> C{handler(ctx, args)}; default
            L{virtd.server.handlers.HANDLERS}.
        @param procedures: number -> Procedure; default the REMOTE program.
        """
        if handlers is None:
            from virtd.server.handlers import HANDLERS as handlers
        if procedures is None:
            procedures = remote.PROCEDURES
        self.reactor = reactor
        self.config = config
        self.backend = backend
        self.limit = config.maxClientRequests
        #: Run C{@priority high} calls on the reactor thread for backends
        #: that cannot block (DESIGN decision 5; see L{inlineSafe}).
        self.inlinePriority = getattr(config, "inlinePriority", False)
        self._inlineURIs: dict[str | None, bool] = {}
        # Replies made by one batch of completions leave in one write per
        # client (see RPCPeer.holdWrites).
        self._holding: list = []
        batch = config.batchWorkers
        #: Keeps the worker threads on the reactor thread's CPU, or None.
        self.follower = (CPUFollower() if config.followCPU
                         and CPUFollower.available() else None)
        self.usePools(WorkerPool(reactor, "worker", config.workers,
                                 config.awakeWorkers, batch, self.follower),
                      WorkerPool(reactor, "prio", config.prioWorkers,
                                 batch=batch, follower=self.follower))
        self.sessions: set[ClientSession] = set()
        self.onClientCountChanged: Callable[[int], None] | None = None
        try:
            import libvirt
        except ImportError:
            self._libvirtError = None
        else:
            self._libvirtError = libvirt.libvirtError
        daemonProcs = connectprocs.table()
        self._table: dict[int, tuple] = {}
        for number, proc in procedures.items():
            if proc.event:
                continue
            fn = daemonProcs.get(proc.name)
            if fn is not None:
                self._table[number] = (proc, _DAEMON, fn)
                continue
            fn = handlers.get(proc.name)
            self._table[number] = (proc, _HANDLER if fn else _MISSING, fn)
        self.program = remote.PROGRAM
        self.version = remote.VERSION

    # -- sessions ------------------------------------------------------------

    def sessionStarted(self, session: ClientSession) -> None:
        self.sessions.add(session)
        if self.onClientCountChanged is not None:
            self.onClientCountChanged(len(self.sessions))

    def sessionEnded(self, session: ClientSession) -> None:
        # session.lost is set: its quiet completions may be pending.
        self.catchUp()
        self.sessions.discard(session)
        if session.inFlight == 0:
            self.release(session)
        if self.onClientCountChanged is not None:
            self.onClientCountChanged(len(self.sessions))

    def release(self, session: ClientSession) -> None:
        """
        Close a gone client's hypervisor connection, in a worker thread
        (on the reactor thread when it cannot block, see L{inlineSafe}).
        """
        conn, session.conn = session.conn, None
        # Kept domain handles would hold the connection open in libvirt.
        session.domains = None
        if conn is None:
            return
        if self.inlinePriority and self._neverBlocks(session.uri):
            # Closing a test driver connection frees memory and never
            # waits: no hand-off to a worker and back.
            try:
                _closeConn(self.backend, conn, session.events)
            except Exception as e:
                self._released(session, False, e)
            return
        self.normal.submit(_closeConn, (self.backend, conn, session.events),
                           self._released, session)

    def _released(self, session: ClientSession, ok: bool, result: Any) -> None:
        if not ok:
            log.failure("closing the hypervisor connection of {identity} "
                        "failed", failure=_failure(result),
                        identity=session.identity)

    # -- calls ---------------------------------------------------------------

    def dispatch(self, session: ClientSession, header: Header,
                 payload: bytes) -> None:
        """
        Handle one incoming CALL (reactor thread).
        """
        session.calls += 1
        if header.prog != self.program or header.vers != self.version:
            return self.refuse(session, header, rpcError(
                f"Cannot find program {header.prog} version {header.vers}"))
        if header.status != VIR_NET_OK:
            return self.refuse(session, header, rpcError(
                f"Unexpected message status {header.status}"))
        entry = self._table.get(header.proc)
        if entry is None:
            return self.refuse(session, header, rpcError(
                f"unknown procedure: {header.proc}"))
        proc, kind, fn = entry
        if kind == _MISSING:
            return self._missing(session, header, proc, payload)
        if not session.authenticated and proc.name not in AUTH_PROCEDURES:
            return self.refuse(session, header, AUTH_REQUIRED, proc.name)
        if header.type == VIR_NET_CALL_WITH_FDS and proc.name in TAKES_FDS:
            # The framer dropped the descriptors; doing without them would
            # not be the call the client made.
            return self.refuse(session, header,
                               descriptorsRefused(proc.name), proc.name)
        if (kind == _HANDLER and session.conn is not None
                and not (session.readonly and proc.readonly != "yes")
                and not (proc.priority and self.inlinePriority
                         and self._neverBlocks(session.uri))):
            # Nothing left to check here needs the arguments: the worker
            # decodes them, which takes that off the reactor thread.
            return self._submit(session, header, proc, fn, payload)
        try:
            args = proc.args.decode(payload)
        except xdr.XDRError as e:
            return self._undecodable(session, header, proc, e.reason)
        if kind == _DAEMON:
            return fn(self, session, header, args)
        if session.conn is None:
            return self.refuse(session, header, NOT_OPEN, proc.name)
        if session.readonly and proc.readonly != "yes":
            err = readonlyDenial(proc, args)
            if err is not None:
                return self.refuse(session, header, err, proc.name)
        if proc.priority and self.inlinePriority and \
                self._neverBlocks(session.uri):
            return self._runInline(session, header, proc, fn, args)
        # A read-only client's permitted call: decoded again in the worker
        # (rare enough not to carry the decoded arguments over).
        self._submit(session, header, proc, fn, payload)

    def _submit(self, session: ClientSession, header: Header, proc: Any,
                fn: Callable, payload: bytes) -> None:
        """
        Hand a call to a worker thread, which decodes its arguments, runs
        its handler and, where it can, sends the reply.
        """
        pool = self.normal
        if proc.priority and pool.busy >= pool.size:
            pool = self.priority
        shared = session.peer.sharedSender()
        if shared is not None:
            pool.submit(_replyFromThread,
                        (fn, session, proc.args, payload, proc.ret,
                         self._libvirtError, shared.sendFromThread,
                         session.peer.encode, header),
                        self._handlerDone, (session, header, proc))
        else:
            pool.submit(_decodeAndRun, (fn, session, proc.args, payload,
                                        proc.ret, self._libvirtError),
                        self._handlerDone, (session, header, proc))
        session.callStarted(self.limit)

    def _undecodable(self, session: ClientSession, header: Header,
                     proc: Any, reason: str) -> None:
        log.info("cannot decode the arguments of {proc} from {identity}: "
                 "{reason}", proc=proc.name, identity=session.identity,
                 reason=reason)
        session.peer.sendError(header, UNDECODABLE)

    def catchUp(self) -> None:
        """
        Settle the calls whose replies workers sent without waking the
        reactor thread (see L{WorkerPool.urgent}). Called before anything
        that reads what they change: incoming data, a client leaving, a
        client's socket no longer being read, shutting down.
        """
        self.normal.catchUp()
        self.priority.catchUp()

    def _neverBlocks(self, uri: str | None) -> bool:
        """
        Whether calls on the hypervisor connection C{uri} cannot block:
        only libvirt's test driver, opened in this process, qualifies.
        """
        known = self._inlineURIs.get(uri)
        if known is None:
            known = self._inlineURIs[uri] = inlineSafe(uri)
        return known

    def _runInline(self, session: ClientSession, header: Header, proc: Any,
                   fn: Callable, args: Any) -> None:
        """
        Carry out a call that cannot block right here on the reactor
        thread: no thread hand-off either way.
        """
        session.callStarted(self.limit)
        try:
            result = _runHandler(fn, session, args, proc.ret,
                                 self._libvirtError)
        except Exception as e:
            self._answer((session, header, proc), False, e)
        else:
            self._answer((session, header, proc), True, result)

    def _missing(self, session: ClientSession, header: Header, proc: Any,
                 payload: bytes) -> None:
        """
        A libvirt procedure we have no handler for: "unknown procedure", so
        the client falls back as with an older libvirtd -- except that a
        read-only client gets libvirt's read-only refusal for a call it
        could never make anyway, as from libvirtd.
        """
        if session.readonly and session.conn is not None:
            try:
                args = proc.args.decode(payload)
            except xdr.XDRError:
                args = None
            err = readonlyDenial(proc, args) if args is not None else None
            if err is not None:
                return self.refuse(session, header, err, proc.name)
        self.refuse(session, header, rpcError(
            f"unknown procedure: {header.proc}"), proc.name)

    def usePools(self, normal: Any, priority: Any) -> None:
        """
        Run calls in these pools (anything with L{WorkerPool}'s C{submit},
        C{busy}, C{size}, C{idle}, C{catchUp}, C{stop}, C{afterDelivery}
        and C{urgent}); the seam
        L{virtd.testing} uses to run handlers without threads.
        """
        self.normal, self.priority = normal, priority
        normal.afterDelivery = priority.afterDelivery = self._flushReplies
        normal.urgent = priority.urgent = _urgent

    def _flushReplies(self) -> None:
        holding, self._holding = self._holding, []
        for peer in holding:
            peer.flushWrites()

    def _handlerDone(self, tag: tuple, ok: bool, result: Any) -> None:
        # A pool delivery: hold the reply until the batch is done.
        peer = tag[0].peer
        if peer.holdWrites():
            self._holding.append(peer)
        self._answer(tag, ok, result)

    def _answer(self, tag: tuple, ok: bool, result: Any) -> None:
        session, header, proc = tag
        if not session.lost:
            if ok and result.__class__ is bytes:
                session.peer.sendReply(header, result)
            elif result is SENT:
                pass
            elif result is CARRIED:
                session.peer.flushCarried()
            elif result.__class__ is _Undecodable:
                self._undecodable(session, header, proc, result.reason)
            elif ok:
                self.logError(session, proc.name, result)
                session.peer.sendError(header, result)
            else:
                log.failure("handler of {proc} failed for {identity}",
                            failure=_failure(result), proc=proc.name,
                            identity=session.identity)
                session.peer.sendError(header, internalError(
                    f"virtd could not carry out {proc.name}: "
                    f"{type(result).__name__}: {result}; the daemon log "
                    f"has the details"))
        session.callFinished(self.limit)
        if session.lost and session.inFlight == 0:
            self.release(session)

    def runJob(self, session: ClientSession, header: Header, fn: Callable,
               args: tuple, done: Callable[[ClientSession, Header, bool, Any],
                                           None],
               priority: bool = True) -> None:
        """
        Run a daemon-level job (e.g. opening the hypervisor connection) in a
        worker thread, counted against the client's in-flight limit; then
        C{done(session, header, ok, result)} on the reactor thread.
        """
        pool = self.normal
        if priority and pool.busy >= pool.size:
            pool = self.priority
        session.callStarted(self.limit)
        pool.submit(fn, args, self._jobDone, (session, header, done))

    def runJobInline(self, session: ClientSession, header: Header,
                     fn: Callable, args: tuple,
                     done: Callable[[ClientSession, Header, bool, Any], None]
                     ) -> None:
        """
        L{runJob} right here on the reactor thread, for a C{@priority high}
        job on a hypervisor connection that cannot block (see
        L{inlineSafe}); the caller checks that it qualifies.
        """
        session.callStarted(self.limit)
        try:
            result = fn(*args)
        except Exception as e:
            self._jobDone((session, header, done), False, e)
        else:
            self._jobDone((session, header, done), True, result)

    def _jobDone(self, tag: tuple, ok: bool, result: Any) -> None:
        session, header, done = tag
        try:
            done(session, header, ok, result)
        finally:
            session.callFinished(self.limit)
            if session.lost and session.inFlight == 0:
                self.release(session)

    def refuse(self, session: ClientSession, header: Header,
               err: LibvirtError, name: str | None = None) -> None:
        """
        Answer a call with an error, and log it.

        @param name: the procedure's name, when it has one.
        """
        self.logError(session, name or f"procedure {header.proc}", err)
        session.peer.sendError(header, err)

    def logError(self, session: ClientSession, what: str,
                 err: LibvirtError) -> None:
        code, domain = err.err[0], err.err[1]
        log.info("{what} from {identity} failed: {message} (code {code} "
                 "{codeName}, domain {domain})", what=what,
                 identity=session.identity, message=printable(err.err[2]),
                 code=code,
                 codeName=ERROR_NAMES.get(code, "?"), domain=domain)

    # -- shutting down -------------------------------------------------------

    def stop(self, grace: float) -> Deferred:
        """
        Drop every client, give in-flight calls up to C{grace} seconds to
        finish, then stop the pools (their threads are daemon threads: a
        hung libvirt call does not keep the process alive).

        @return: a Deferred that fires when done.
        """
        for session in list(self.sessions):
            transport = session.peer.transport
            if transport is not None:
                transport.loseConnection()
        d: Deferred = Deferred()
        deadline = self.reactor.seconds() + grace

        def check() -> None:
            # Wait for the clients to be gone (their hypervisor connections
            # are then being closed in the pools) and the pools to be idle.
            self.catchUp()
            busy = self.normal.busy + self.priority.busy
            if (busy or self.sessions) and self.reactor.seconds() < deadline:
                self.reactor.callLater(0.02, check)
                return
            if busy:
                log.warn("stopping with {busy} libvirt calls still running "
                         "after {grace} s", busy=busy, grace=grace)
            self.normal.stop()
            self.priority.stop()
            d.callback(None)

        check()
        return d


def _failure(exc: BaseException) -> Any:
    from twisted.python.failure import Failure

    return Failure(exc, type(exc), exc.__traceback__)
