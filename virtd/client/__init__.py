"""
virtd's client: a Deferred-based API with libvirt-python's names.

    conn = await virtd.connect("test+unix:///default?socket=/run/libvirt/libvirt-sock")
    dom = await conn.lookupByName("test")
    state, maxMem, memory, nrVirtCpu, cpuTime = await dom.info()
    await conn.close()

L{connect} fires with a L{Connection}; object handles are L{Domain},
L{Network}, L{StoragePool}, L{StorageVol}, L{Interface}, L{NodeDevice} and
L{DomainSnapshot}. Accessors of an object's identity (C{name()}, C{UUID()},
C{UUIDString()}, C{ID()}, ...) and C{Connection.isAlive()} return plain
values; every other method returns a L{Deferred} firing with what
libvirt-python's method of the same name returns, or failing with
L{virtd.errors.LibvirtError}. Every remote method accepts a keyword-only
C{timeout} in seconds, and its Deferred can be cancelled.
"""

from virtd.client.connect import connect
from virtd.client.connection import Connection
from virtd.client.domain import Domain
from virtd.client.interface import Interface
from virtd.client.network import Network
from virtd.client.nodedev import NodeDevice
from virtd.client.snapshot import DomainSnapshot
from virtd.client.storage import StoragePool, StorageVol

__all__ = [
    "connect", "Connection", "Domain", "DomainSnapshot", "Interface",
    "Network", "NodeDevice", "StoragePool", "StorageVol",
]
