"""
L{DomainSnapshot}: a domain snapshot handle (libvirt-python's
C{virDomainSnapshot}).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred

from virtd.client.calls import counted, rpc
from virtd.client.handle import Handle

if TYPE_CHECKING:
    from virtd.client.connection import Connection
    from virtd.client.domain import Domain

__all__ = ["DomainSnapshot"]


def _snapshot(owner: Any, value: Any) -> DomainSnapshot:
    """
    The snapshot in a C{snap} reply, belonging to C{owner}'s domain.
    """
    domain = owner if not isinstance(owner, DomainSnapshot) else owner._domain
    return DomainSnapshot(domain, value.snap.name)


def _snapshots(owner: Any, value: Any) -> list[DomainSnapshot]:
    domain = owner if not isinstance(owner, DomainSnapshot) else owner._domain
    return [DomainSnapshot(domain, s.name) for s in value.snapshots]


class DomainSnapshot(Handle):
    """
    A snapshot of a domain. C{getName()}, C{getDomain()} and
    C{getConnect()} are local; the rest return Deferreds.
    """

    __slots__ = ("_domain",)

    def __init__(self, domain: Domain, name: str) -> None:
        super().__init__(domain.connect(), name)
        self._domain = domain

    def _wireRef(self) -> tuple:
        # The domain part is the domain handle's current identity.
        from virtd.protocol.types import Snap

        return (Snap.cls(self._ref, self._domain._ref),)

    def getName(self) -> str:
        """
        The snapshot's name (local).
        """
        return self._ref

    def getDomain(self) -> Domain:
        """
        The domain this snapshot belongs to (local).
        """
        return self._domain

    def getConnect(self) -> Connection:
        """
        The connection (local).
        """
        return self._conn

    getXMLDesc = rpc("DOMAIN_SNAPSHOT_GET_XML_DESC", "flags=0")
    delete = rpc("DOMAIN_SNAPSHOT_DELETE", "flags=0")
    getParent = rpc("DOMAIN_SNAPSHOT_GET_PARENT", "flags=0", ret=_snapshot)
    isCurrent = rpc("DOMAIN_SNAPSHOT_IS_CURRENT", "flags=0")
    hasMetadata = rpc("DOMAIN_SNAPSHOT_HAS_METADATA", "flags=0")
    numChildren = rpc("DOMAIN_SNAPSHOT_NUM_CHILDREN", "flags=0")
    listAllChildren = rpc("DOMAIN_SNAPSHOT_LIST_ALL_CHILDREN", 1, "flags=0",
                          ret=_snapshots)

    listChildrenNames = counted("DOMAIN_SNAPSHOT_NUM_CHILDREN",
                                "DOMAIN_SNAPSHOT_LIST_CHILDREN_NAMES",
                                "flags=0")

    def revertToSnapshot(self, flags: int = 0, *,
                         timeout: float | None = None) -> Deferred:
        """
        Same as C{getDomain().revertToSnapshot(self, flags)}.
        """
        return self._domain.revertToSnapshot(self, flags, timeout=timeout)

    def __repr__(self) -> str:
        return (f"<DomainSnapshot {self._ref!r} of domain "
                f"{self._domain.name()!r}>")
