"""
A hypervisor that lives in a Python list: L{FakeBackend} and the handlers
that serve it (L{FAKE_HANDLERS}), for tests that must run where
libvirt-python is not installed.

It covers what most client code touches: the connection's identity
(hostname, type, versions, URI), listing and looking up domains, their info
and state, XML, and the lifecycle calls C{create}, C{destroy}, C{suspend},
C{resume}. Any other procedure answers as a daemon that lacks it does
(C{VIR_ERR_NO_SUPPORT} on the client), so a test finds out at once that it
needs the libvirt backend.
"""

from __future__ import annotations

import copy
import uuid as uuidlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from zope.interface import implementer

from virtd.errors import (
    VIR_ERR_NO_DOMAIN,
    VIR_ERR_OPERATION_INVALID,
    VIR_FROM_TEST,
    LibvirtError,
)
from virtd.server.backend import IBackend

__all__ = ["FAKE_HANDLERS", "FakeBackend", "FakeDomain", "FakeHypervisor",
           "cloneHypervisor", "defaultHypervisor"]

# virDomainState
VIR_DOMAIN_RUNNING = 1
VIR_DOMAIN_PAUSED = 3
VIR_DOMAIN_SHUTOFF = 5

# The reason codes libvirt's test driver gives for each state.
_REASON = {VIR_DOMAIN_RUNNING: 1, VIR_DOMAIN_PAUSED: 1, VIR_DOMAIN_SHUTOFF: 1}

# virConnectListAllDomains flags understood here
_LIST_ACTIVE = 1
_LIST_INACTIVE = 2


@dataclass
class FakeDomain:
    """
    One domain of a L{FakeHypervisor}.

    @ivar id: its ID while active; set by the hypervisor.
    @ivar state: a C{virDomainState} (1 running, 3 paused, 5 shut off).
    @ivar maxMem: KiB. @ivar memory: KiB. @ivar vcpus: virtual CPUs.
    @ivar cpuTime: nanoseconds (reported as is).
    """

    name: str
    uuid: str = field(default_factory=lambda: str(uuidlib.uuid4()))
    state: int = VIR_DOMAIN_RUNNING
    maxMem: int = 1048576
    memory: int = 1048576
    vcpus: int = 1
    cpuTime: int = 0
    id: int = -1

    @property
    def active(self) -> bool:
        return self.state != VIR_DOMAIN_SHUTOFF

    def rawUUID(self) -> bytes:
        return uuidlib.UUID(self.uuid).bytes

    def xml(self) -> str:
        return (f"<domain type='test'{f' id={self.id!r}' if self.active else ''}>\n"
                f"  <name>{self.name}</name>\n"
                f"  <uuid>{self.uuid}</uuid>\n"
                f"  <memory unit='KiB'>{self.maxMem}</memory>\n"
                f"  <currentMemory unit='KiB'>{self.memory}</currentMemory>\n"
                f"  <vcpu placement='static'>{self.vcpus}</vcpu>\n"
                f"  <os>\n    <type arch='x86_64'>hvm</type>\n  </os>\n"
                f"</domain>\n")


class FakeHypervisor:
    """
    The state every connection of one L{FakeBackend} shares, like one host.

    @ivar hostname: what C{getHostname()} answers.
    @ivar type: what C{getType()} answers.
    @ivar version: what C{getVersion()} answers.
    @ivar libVersion: what C{getLibVersion()} answers.
    @ivar domains: the L{FakeDomain}s, in definition order.
    @ivar calls: every handler call, as C{(procedure name, args)}, for tests
        to assert on.
    """

    def __init__(self, domains: Iterable[FakeDomain] = (), hostname: str = "fake",
                 type: str = "TEST", version: int = 2,
                 libVersion: int = 9000000) -> None:
        self.hostname = hostname
        self.type = type
        self.version = version
        self.libVersion = libVersion
        self.domains: list[FakeDomain] = []
        self.calls: list[tuple[str, Any]] = []
        self._nextID = 1
        for dom in domains:
            self.add(dom)

    def add(self, dom: FakeDomain) -> FakeDomain:
        """
        Define a domain (active ones get the next ID).

        @return: C{dom}.
        """
        if dom.active and dom.id < 0:
            dom.id = self._nextID
            self._nextID += 1
        self.domains.append(dom)
        return dom

    def start(self, dom: FakeDomain) -> None:
        dom.state = VIR_DOMAIN_RUNNING
        dom.id = self._nextID
        self._nextID += 1

    def find(self, *, name: str | None = None, uuid: bytes | None = None,
             id: int | None = None) -> FakeDomain:
        """
        @raise LibvirtError: C{VIR_ERR_NO_DOMAIN}, worded as libvirt's test
            driver words it.
        """
        for dom in self.domains:
            if ((name is not None and dom.name == name)
                    or (uuid is not None and dom.rawUUID() == uuid)
                    or (id is not None and dom.active and dom.id == id)):
                return dom
        raise LibvirtError.fromCode(VIR_ERR_NO_DOMAIN, VIR_FROM_TEST)


def defaultHypervisor() -> FakeHypervisor:
    """
    A host shaped like libvirt's C{test:///default}: one running domain
    called C{test} with the test driver's UUID, memory and CPUs.
    """
    return FakeHypervisor([FakeDomain(
        "test", uuid="6695eb01-f6a4-8304-79aa-97f2502e193f", maxMem=8388608,
        memory=2097152, vcpus=2)])


@implementer(IBackend)
class FakeBackend:
    """
    An L{IBackend} without libvirt: every session gets the same
    L{FakeHypervisor} (so one client sees another's changes, as with one
    host). Use it with L{FAKE_HANDLERS}; L{virtd.testing.MemoryVirtd} does.

    @ivar hypervisor: the shared L{FakeHypervisor}.
    @ivar opened: the URIs opened so far, with their read-only flag.
    """

    def __init__(self, hypervisor: FakeHypervisor | None = None) -> None:
        self.hypervisor = hypervisor if hypervisor is not None else \
            defaultHypervisor()
        self.opened: list[tuple[str, bool]] = []

    def open(self, uri: str, readonly: bool) -> Any:
        self.opened.append((uri, readonly))
        return _FakeConn(self.hypervisor, uri, readonly)

    def getURI(self, conn: Any) -> str:
        return conn.uri

    def close(self, conn: Any) -> None:
        conn.closed = True

    def supportsFeature(self, conn: Any, feature: int) -> int:
        return 0


class _FakeConn:
    def __init__(self, hypervisor: FakeHypervisor, uri: str,
                 readonly: bool) -> None:
        self.hypervisor = hypervisor
        self.uri = uri
        self.readonly = readonly
        self.closed = False


# -- handlers -------------------------------------------------------------------

#: Procedure name -> C{handler(ctx, args)} for L{FakeBackend} sessions.
FAKE_HANDLERS: dict[str, Callable[[Any, Any], Any]] = {}


def _handler(name: str) -> Callable:
    def register(fn: Callable) -> Callable:
        def logged(ctx: Any, args: Any) -> Any:
            hv = ctx.conn.hypervisor
            hv.calls.append((name, args))
            return fn(hv, args)
        logged.__name__ = fn.__name__
        logged.__doc__ = fn.__doc__
        FAKE_HANDLERS[name] = logged
        return fn
    return register


def _wire(dom: FakeDomain) -> tuple:
    return (dom.name, dom.rawUUID(), dom.id if dom.active else -1)


def _dom(hv: FakeHypervisor, args: Any) -> FakeDomain:
    return hv.find(uuid=args.dom.uuid)


def _attribute(procedure: str, attribute: str) -> None:
    # Getters that return one hypervisor attribute: one declaration each.
    _handler(procedure)(lambda hv, args: (getattr(hv, attribute),))


_attribute("CONNECT_GET_HOSTNAME", "hostname")
_attribute("CONNECT_GET_TYPE", "type")
_attribute("CONNECT_GET_VERSION", "version")
_attribute("CONNECT_GET_LIB_VERSION", "libVersion")


@_handler("CONNECT_LIST_ALL_DOMAINS")
def _listAll(hv: FakeHypervisor, args: Any) -> tuple:
    doms = hv.domains
    if args.flags & (_LIST_ACTIVE | _LIST_INACTIVE) == _LIST_ACTIVE:
        doms = [d for d in doms if d.active]
    elif args.flags & (_LIST_ACTIVE | _LIST_INACTIVE) == _LIST_INACTIVE:
        doms = [d for d in doms if not d.active]
    return ([_wire(d) for d in doms] if args.need_results else [], len(doms))


@_handler("CONNECT_NUM_OF_DOMAINS")
def _numOfDomains(hv: FakeHypervisor, args: Any) -> tuple:
    return (sum(1 for d in hv.domains if d.active),)


@_handler("CONNECT_LIST_DOMAINS")
def _listIDs(hv: FakeHypervisor, args: Any) -> tuple:
    return ([d.id for d in hv.domains if d.active][:args.maxids],)


@_handler("CONNECT_NUM_OF_DEFINED_DOMAINS")
def _numOfDefined(hv: FakeHypervisor, args: Any) -> tuple:
    return (sum(1 for d in hv.domains if not d.active),)


@_handler("CONNECT_LIST_DEFINED_DOMAINS")
def _listDefined(hv: FakeHypervisor, args: Any) -> tuple:
    return ([d.name for d in hv.domains if not d.active][:args.maxnames],)


@_handler("DOMAIN_LOOKUP_BY_NAME")
def _byName(hv: FakeHypervisor, args: Any) -> tuple:
    return (_wire(hv.find(name=args.name)),)


@_handler("DOMAIN_LOOKUP_BY_UUID")
def _byUUID(hv: FakeHypervisor, args: Any) -> tuple:
    return (_wire(hv.find(uuid=args.uuid)),)


@_handler("DOMAIN_LOOKUP_BY_ID")
def _byID(hv: FakeHypervisor, args: Any) -> tuple:
    return (_wire(hv.find(id=args.id)),)


@_handler("DOMAIN_GET_INFO")
def _info(hv: FakeHypervisor, args: Any) -> tuple:
    d = _dom(hv, args)
    return (d.state, d.maxMem, d.memory, d.vcpus, d.cpuTime)


@_handler("DOMAIN_GET_STATE")
def _state(hv: FakeHypervisor, args: Any) -> tuple:
    d = _dom(hv, args)
    return (d.state, _REASON.get(d.state, 0))


@_handler("DOMAIN_IS_ACTIVE")
def _isActive(hv: FakeHypervisor, args: Any) -> tuple:
    return (int(_dom(hv, args).active),)


@_handler("DOMAIN_GET_XML_DESC")
def _xml(hv: FakeHypervisor, args: Any) -> tuple:
    return (_dom(hv, args).xml(),)


def _invalid(detail: str) -> LibvirtError:
    return LibvirtError.fromCode(VIR_ERR_OPERATION_INVALID, VIR_FROM_TEST,
                                 detail)


@_handler("DOMAIN_SUSPEND")
def _suspend(hv: FakeHypervisor, args: Any) -> None:
    d = _dom(hv, args)
    if d.state != VIR_DOMAIN_RUNNING:
        raise _invalid("domain is not running")
    d.state = VIR_DOMAIN_PAUSED


@_handler("DOMAIN_RESUME")
def _resume(hv: FakeHypervisor, args: Any) -> None:
    d = _dom(hv, args)
    if d.state != VIR_DOMAIN_PAUSED:
        raise _invalid("domain is not paused")
    d.state = VIR_DOMAIN_RUNNING


@_handler("DOMAIN_CREATE")
def _create(hv: FakeHypervisor, args: Any) -> None:
    d = _dom(hv, args)
    if d.active:
        raise _invalid("domain is already running")
    hv.start(d)


@_handler("DOMAIN_DESTROY")
def _destroy(hv: FakeHypervisor, args: Any) -> None:
    d = _dom(hv, args)
    if not d.active:
        raise _invalid("domain is not running")
    d.state = VIR_DOMAIN_SHUTOFF
    d.id = -1


def cloneHypervisor(hv: FakeHypervisor) -> FakeHypervisor:
    """
    @return: an independent copy of C{hv} (domains and counters), e.g. to
        give each test the same starting host.
    """
    clone = copy.deepcopy(hv)
    clone.calls = []
    return clone

