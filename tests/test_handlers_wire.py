"""
Our handlers' replies against a real libvirtd's, procedure by procedure:
the same call goes to a private libvirtd 9.0 (test driver) over its unix
socket and to our handler on a fresh in-process test driver; the decoded
replies must be equal (values that change by themselves, like CPU time,
are normalised). This is what proves typed parameters keep libvirt's types
and results keep libvirt's shapes.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.endpoints import UNIXClientEndpoint, connectProtocol
from twisted.trial.unittest import TestCase

from tests.handlerhelpers import defaultValue, invoke, openTestDriver
from tests.support.libvirtd import RealLibvirtd
from virtd.errors import LibvirtError
from virtd.protocol import types
from virtd.protocol.remote import BY_NAME
from virtd.rpc.peer import RPCPeer

TEST_UUID = bytes.fromhex("6695eb01f6a4830479aa97f2502e193f")
DOM = types.Dom.cls("test", TEST_UUID, 1)
NET = types.Net.cls("default",
                    bytes.fromhex("dd8fe8846c02601e7551cca97df1c5df"))
POOL = types.Pool.cls("default-pool",
                      bytes.fromhex("dfe224cb28fb8dd0c4b264eb3f0f4566"))
IFACE = types.Iface.cls("eth1", "aa:bb:cc:dd:ee:ff")
STRING_OKAY = 4

#: (procedure, args) pairs compared one by one, read-only calls first.
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("CONNECT_GET_TYPE", {}),
    ("CONNECT_GET_VERSION", {}),
    ("CONNECT_GET_LIB_VERSION", {}),
    ("CONNECT_GET_HOSTNAME", {}),
    ("CONNECT_GET_CAPABILITIES", {}),
    ("CONNECT_GET_SYSINFO", {}),
    ("CONNECT_GET_MAX_VCPUS", {}),
    ("CONNECT_GET_DOMAIN_CAPABILITIES", {}),
    ("NODE_GET_INFO", {}),
    ("NODE_GET_FREE_MEMORY", {}),
    ("NODE_GET_CELLS_FREE_MEMORY", {"startCell": 0, "maxcells": 8}),
    ("NODE_GET_SECURITY_MODEL", {}),
    ("NODE_GET_CPU_MAP", {"need_map": 1, "need_online": 1}),
    ("NODE_GET_CPU_STATS", {"cpuNum": -1, "nparams": 0}),
    ("NODE_GET_CPU_STATS", {"cpuNum": -1, "nparams": 16}),
    ("NODE_GET_MEMORY_STATS", {"cellNum": -1, "nparams": 0}),
    ("CONNECT_LIST_ALL_DOMAINS", {"need_results": 1, "flags": 3}),
    ("CONNECT_LIST_ALL_DOMAINS", {"need_results": 0}),
    ("CONNECT_NUM_OF_DOMAINS", {}),
    ("CONNECT_LIST_DOMAINS", {"maxids": 10}),
    ("CONNECT_NUM_OF_DEFINED_DOMAINS", {}),
    ("CONNECT_LIST_DEFINED_DOMAINS", {"maxnames": 10}),
    ("CONNECT_LIST_DOMAINS", {"maxids": 20000}),
    ("DOMAIN_LOOKUP_BY_NAME", {"name": "test"}),
    ("DOMAIN_LOOKUP_BY_NAME", {"name": "nosuch"}),
    ("DOMAIN_LOOKUP_BY_ID", {"id": 1}),
    ("DOMAIN_LOOKUP_BY_UUID", {"uuid": TEST_UUID}),
    ("DOMAIN_GET_INFO", {"dom": DOM}),
    ("DOMAIN_GET_INFO", {"dom": types.Dom.cls("gone", bytes(16), -1)}),
    ("DOMAIN_GET_STATE", {"dom": DOM}),
    ("DOMAIN_GET_XML_DESC", {"dom": DOM}),
    ("DOMAIN_GET_AUTOSTART", {"dom": DOM}),
    ("DOMAIN_GET_OS_TYPE", {"dom": DOM}),
    ("DOMAIN_GET_MAX_MEMORY", {"dom": DOM}),
    ("DOMAIN_GET_MAX_VCPUS", {"dom": DOM}),
    ("DOMAIN_IS_ACTIVE", {"dom": DOM}),
    ("DOMAIN_IS_PERSISTENT", {"dom": DOM}),
    ("DOMAIN_IS_UPDATED", {"dom": DOM}),
    ("DOMAIN_HAS_MANAGED_SAVE_IMAGE", {"dom": DOM}),
    ("DOMAIN_GET_SECURITY_LABEL", {"dom": DOM}),
    ("DOMAIN_GET_SECURITY_LABEL_LIST", {"dom": DOM}),
    ("DOMAIN_GET_MESSAGES", {"dom": DOM}),
    ("DOMAIN_GET_HOSTNAME", {"dom": DOM}),
    ("DOMAIN_GET_VCPUS_FLAGS", {"dom": DOM, "flags": 1}),
    ("DOMAIN_GET_VCPUS", {"dom": DOM, "maxinfo": 2, "maplen": 1}),
    ("DOMAIN_GET_VCPU_PIN_INFO", {"dom": DOM, "ncpumaps": 2, "maplen": 1}),
    ("DOMAIN_GET_EMULATOR_PIN_INFO", {"dom": DOM, "maplen": 1}),
    ("DOMAIN_GET_SCHEDULER_TYPE", {"dom": DOM}),
    ("DOMAIN_GET_SCHEDULER_PARAMETERS", {"dom": DOM, "nparams": 1}),
    ("DOMAIN_GET_SCHEDULER_PARAMETERS_FLAGS", {"dom": DOM, "nparams": 1}),
    ("DOMAIN_GET_MEMORY_PARAMETERS", {"dom": DOM, "nparams": 0}),
    ("DOMAIN_GET_MEMORY_PARAMETERS", {"dom": DOM, "nparams": 3}),
    ("DOMAIN_GET_BLKIO_PARAMETERS", {"dom": DOM, "nparams": 6}),
    ("DOMAIN_GET_BLKIO_PARAMETERS", {"dom": DOM, "nparams": 6,
                                     "flags": STRING_OKAY}),
    ("DOMAIN_GET_NUMA_PARAMETERS", {"dom": DOM, "nparams": 2,
                                    "flags": STRING_OKAY}),
    ("DOMAIN_GET_INTERFACE_PARAMETERS", {"dom": DOM, "device": "testnet0",
                                         "nparams": 7}),
    ("DOMAIN_GET_BLOCK_IO_TUNE", {"dom": DOM, "disk": "vda", "nparams": 32,
                                  "flags": STRING_OKAY}),
    ("DOMAIN_GET_PERF_EVENTS", {"dom": DOM}),
    ("DOMAIN_GET_CPU_STATS", {"dom": DOM, "nparams": 0, "start_cpu": -1,
                              "ncpus": 1}),
    ("DOMAIN_MEMORY_STATS", {"dom": DOM, "maxStats": 13}),
    ("DOMAIN_BLOCK_STATS_FLAGS", {"dom": DOM, "path": "vda", "nparams": 0}),
    ("DOMAIN_GET_BLOCK_INFO", {"dom": DOM, "path": "vda"}),
    ("DOMAIN_GET_DISK_ERRORS", {"dom": DOM, "maxerrors": 4}),
    ("DOMAIN_GET_CONTROL_INFO", {"dom": DOM}),
    ("DOMAIN_GET_TIME", {"dom": DOM}),
    ("DOMAIN_GET_FSINFO", {"dom": DOM}),
    ("DOMAIN_INTERFACE_ADDRESSES", {"dom": DOM}),
    ("DOMAIN_GET_IOTHREAD_INFO", {"dom": DOM}),
    ("DOMAIN_GET_JOB_INFO", {"dom": DOM}),
    ("DOMAIN_GET_METADATA", {"dom": DOM, "type": 0}),
    ("DOMAIN_SNAPSHOT_NUM", {"dom": DOM}),
    ("DOMAIN_LIST_ALL_SNAPSHOTS", {"dom": DOM, "need_results": 1}),
    ("DOMAIN_SNAPSHOT_LOOKUP_BY_NAME", {"dom": DOM, "name": "nosuch"}),
    ("DOMAIN_HAS_CURRENT_SNAPSHOT", {"dom": DOM}),
    ("CONNECT_GET_ALL_DOMAIN_STATS", {"stats": 0}),
    ("CONNECT_LIST_ALL_NETWORKS", {"need_results": 1}),
    ("CONNECT_NUM_OF_NETWORKS", {}),
    ("CONNECT_LIST_NETWORKS", {"maxnames": 5}),
    ("NETWORK_LOOKUP_BY_NAME", {"name": "default"}),
    ("NETWORK_LOOKUP_BY_NAME", {"name": "nosuch"}),
    ("NETWORK_GET_XML_DESC", {"net": NET}),
    ("NETWORK_GET_BRIDGE_NAME", {"net": NET}),
    ("NETWORK_GET_AUTOSTART", {"net": NET}),
    ("NETWORK_IS_ACTIVE", {"net": NET}),
    ("NETWORK_GET_DHCP_LEASES", {"net": NET, "need_results": 1}),
    ("CONNECT_LIST_ALL_STORAGE_POOLS", {"need_results": 1}),
    ("CONNECT_LIST_STORAGE_POOLS", {"maxnames": 5}),
    ("STORAGE_POOL_LOOKUP_BY_NAME", {"name": "default-pool"}),
    ("STORAGE_POOL_GET_INFO", {"pool": POOL}),
    ("STORAGE_POOL_GET_XML_DESC", {"pool": POOL}),
    ("STORAGE_POOL_LIST_ALL_VOLUMES", {"pool": POOL, "need_results": 1}),
    ("STORAGE_VOL_LOOKUP_BY_NAME", {"pool": POOL, "name": "nosuch"}),
    ("STORAGE_VOL_LOOKUP_BY_PATH", {"path": "nosuch"}),
    ("CONNECT_LIST_ALL_INTERFACES", {"need_results": 1}),
    ("CONNECT_NUM_OF_INTERFACES", {}),
    ("INTERFACE_LOOKUP_BY_NAME", {"name": "eth1"}),
    ("INTERFACE_LOOKUP_BY_MAC_STRING", {"mac": "aa:bb:cc:dd:ee:ff"}),
    ("INTERFACE_GET_XML_DESC", {"iface": IFACE}),
    ("INTERFACE_IS_ACTIVE", {"iface": IFACE}),
    ("CONNECT_LIST_ALL_NODE_DEVICES", {"need_results": 1}),
    ("NODE_NUM_OF_DEVICES", {}),
    ("NODE_DEVICE_GET_XML_DESC", {"name": "computer"}),
    ("NODE_DEVICE_GET_PARENT", {"name": "scsi_host1"}),
    ("CONNECT_LIST_ALL_SECRETS", {"need_results": 1}),
    ("CONNECT_NUM_OF_NWFILTERS", {}),
    # write calls, in an order that leaves the driver as it was
    ("DOMAIN_SUSPEND", {"dom": DOM}),
    ("DOMAIN_GET_STATE", {"dom": DOM}),
    ("DOMAIN_RESUME", {"dom": DOM}),
    ("DOMAIN_SET_AUTOSTART", {"dom": DOM, "autostart": 1}),
    ("DOMAIN_GET_AUTOSTART", {"dom": DOM}),
    ("DOMAIN_SET_MEMORY_FLAGS", {"dom": DOM, "memory": 1048576}),
    ("DOMAIN_SET_SCHEDULER_PARAMETERS", {
        "dom": DOM, "params": [("weight", (types.VIR_TYPED_PARAM_UINT, 7))]}),
    ("DOMAIN_GET_SCHEDULER_PARAMETERS", {"dom": DOM, "nparams": 1}),
    ("DOMAIN_DESTROY", {"dom": DOM}),
    ("DOMAIN_GET_INFO", {"dom": DOM}),
    ("DOMAIN_CREATE_WITH_FLAGS", {"dom": types.Dom.cls("test", TEST_UUID,
                                                       -1)}),
    ("NETWORK_SET_AUTOSTART", {"net": NET, "autostart": 1}),
    ("STORAGE_POOL_REFRESH", {"pool": POOL}),
]


def normalise(name: str, value: Any) -> Any:
    """
    Blank out what the test driver derives from the clock.
    """
    if value is None or isinstance(value, LibvirtError):
        return value
    if name == "DOMAIN_GET_INFO":
        return value._replace(cpuTime=0)
    if name == "DOMAIN_GET_VCPUS":
        return value._replace(info=[i._replace(cpu_time=0)
                                    for i in value.info])
    if name == "NODE_GET_CPU_STATS":
        return value._replace(params=[p._replace(value=0)
                                      for p in value.params])
    if name == "DOMAIN_GET_CPU_STATS":
        return value._replace(params=[])
    if name == "CONNECT_LIST_ALL_NODE_DEVICES":
        # The test driver keeps devices in a hash table: its order differs
        # from process to process.
        return value._replace(devices=sorted(value.devices))
    if name == "DOMAIN_GET_CONTROL_INFO":
        return value._replace(stateTime=0)
    return value


class HandlersMatchLibvirtdTests(TestCase):

    timeout = 120

    @inlineCallbacks
    def test_sameReplies(self) -> Any:
        daemon = RealLibvirtd.forTest(self, tcp=False)
        peer = yield connectProtocol(UNIXClientEndpoint(reactor, daemon.sock),
                                     RPCPeer(reactor))
        self.addCleanup(peer.transport.loseConnection)
        yield peer.call(BY_NAME["CONNECT_OPEN"],
                        BY_NAME["CONNECT_OPEN"].args.cls("test:///default", 0))
        conn = openTestDriver(self)
        mismatches = []
        for name, kw in CALLS:
            proc = BY_NAME[name]
            args = None
            if getattr(proc.args, "fields", None):
                fields = {f: defaultValue(t) for f, t in proc.args.fields}
                fields.update(kw)
                args = proc.args.cls(**fields)
            try:
                theirs = yield peer.call(proc, args)
            except LibvirtError as e:
                theirs = e
            try:
                ours = invoke(conn, name, **kw)
            except LibvirtError as e:
                ours = e
            except Exception as e:  # libvirt.libvirtError, as the core does
                from virtd.server.handlers import fromLibvirtError
                ours = fromLibvirtError(e)
            theirs, ours = normalise(name, theirs), normalise(name, ours)
            if theirs != ours:
                mismatches.append((name, kw, theirs, ours))
        self.maxDiff = None
        self.assertEqual(mismatches, [])
