"""
The handler registry as a whole: names, declarations, and every handler
run once against the real test driver.
"""

from __future__ import annotations

import libvirt
from twisted.trial.unittest import SynchronousTestCase

from tests.handlerhelpers import handles, invoke, openTestDriver
from virtd.errors import LibvirtError
from virtd.protocol.remote import BY_NAME
from virtd.server.handlers import HANDLERS, handler
from virtd.server.handlers.registry import call

#: Procedures the server core answers itself (COMMON.md contracts).
DAEMON_LEVEL = {
    "AUTH_LIST", "AUTH_SASL_INIT", "AUTH_SASL_START", "AUTH_SASL_STEP",
    "AUTH_POLKIT", "CONNECT_OPEN", "CONNECT_CLOSE", "CONNECT_SUPPORTS_FEATURE",
    "CONNECT_REGISTER_CLOSE_CALLBACK", "CONNECT_UNREGISTER_CLOSE_CALLBACK",
    "CONNECT_GET_URI", "CONNECT_IS_SECURE",
}

#: Every procedure real virsh 9.0 sends for issue 3's commands (captured
#: through a logging proxy in front of a real libvirtd), minus the
#: daemon-level ones.
VIRSH_PROCEDURES = """
CONNECT_GET_TYPE CONNECT_GET_VERSION CONNECT_GET_LIB_VERSION
CONNECT_GET_HOSTNAME CONNECT_GET_CAPABILITIES CONNECT_GET_SYSINFO
CONNECT_GET_MAX_VCPUS CONNECT_GET_DOMAIN_CAPABILITIES NODE_GET_INFO
NODE_GET_FREE_MEMORY NODE_GET_SECURITY_MODEL NODE_GET_CPU_MAP
CONNECT_LIST_ALL_DOMAINS DOMAIN_GET_STATE DOMAIN_LOOKUP_BY_NAME
DOMAIN_LOOKUP_BY_ID DOMAIN_LOOKUP_BY_UUID DOMAIN_GET_INFO DOMAIN_GET_OS_TYPE
DOMAIN_IS_PERSISTENT DOMAIN_IS_ACTIVE DOMAIN_GET_AUTOSTART
DOMAIN_HAS_MANAGED_SAVE_IMAGE DOMAIN_GET_SECURITY_LABEL DOMAIN_GET_MESSAGES
DOMAIN_GET_XML_DESC DOMAIN_DEFINE_XML DOMAIN_UNDEFINE_FLAGS
DOMAIN_SNAPSHOT_NUM DOMAIN_CREATE DOMAIN_DESTROY DOMAIN_SHUTDOWN
DOMAIN_REBOOT DOMAIN_SUSPEND DOMAIN_RESUME DOMAIN_SET_AUTOSTART
DOMAIN_SET_MEMORY_FLAGS DOMAIN_SET_VCPUS_FLAGS DOMAIN_GET_VCPUS_FLAGS
DOMAIN_GET_VCPUS DOMAIN_GET_SCHEDULER_TYPE DOMAIN_GET_SCHEDULER_PARAMETERS
DOMAIN_MEMORY_STATS DOMAIN_GET_HOSTNAME DOMAIN_SNAPSHOT_CREATE_XML
DOMAIN_LIST_ALL_SNAPSHOTS DOMAIN_SNAPSHOT_GET_XML_DESC
DOMAIN_SNAPSHOT_LOOKUP_BY_NAME DOMAIN_SNAPSHOT_DELETE
CONNECT_LIST_ALL_NETWORKS NETWORK_LOOKUP_BY_NAME NETWORK_GET_XML_DESC
NETWORK_IS_ACTIVE NETWORK_IS_PERSISTENT NETWORK_GET_AUTOSTART
NETWORK_GET_BRIDGE_NAME NETWORK_DEFINE_XML NETWORK_CREATE NETWORK_DESTROY
NETWORK_UNDEFINE NETWORK_SET_AUTOSTART CONNECT_LIST_ALL_STORAGE_POOLS
STORAGE_POOL_LOOKUP_BY_NAME STORAGE_POOL_GET_INFO STORAGE_POOL_GET_XML_DESC
STORAGE_POOL_GET_AUTOSTART STORAGE_POOL_IS_ACTIVE STORAGE_POOL_IS_PERSISTENT
STORAGE_POOL_DEFINE_XML STORAGE_POOL_CREATE STORAGE_POOL_DESTROY
STORAGE_POOL_UNDEFINE STORAGE_POOL_REFRESH STORAGE_POOL_LIST_ALL_VOLUMES
STORAGE_POOL_LOOKUP_BY_VOLUME STORAGE_VOL_CREATE_XML STORAGE_VOL_DELETE
STORAGE_VOL_LOOKUP_BY_NAME STORAGE_VOL_LOOKUP_BY_KEY STORAGE_VOL_LOOKUP_BY_PATH
STORAGE_VOL_GET_INFO STORAGE_VOL_GET_XML_DESC STORAGE_VOL_GET_PATH
CONNECT_LIST_ALL_INTERFACES INTERFACE_LOOKUP_BY_NAME INTERFACE_GET_XML_DESC
INTERFACE_IS_ACTIVE
""".split()


class RegistryTests(SynchronousTestCase):

    def test_namesAreProcedures(self) -> None:
        """
        Every registered name is a REMOTE procedure that a client can call.
        """
        for name in HANDLERS:
            self.assertIn(name, BY_NAME)
            self.assertFalse(BY_NAME[name].event, name)

    def test_daemonLevelLeftToCore(self) -> None:
        """
        Procedures the daemon answers itself have no handler here.
        """
        self.assertEqual(DAEMON_LEVEL & set(HANDLERS), set())

    def test_virshProceduresCovered(self) -> None:
        """
        Every procedure virsh sends for the issue's commands has a handler.
        """
        self.assertEqual([n for n in VIRSH_PROCEDURES if n not in HANDLERS],
                         [])

    def test_duplicateRefused(self) -> None:
        """
        Registering a second handler for a procedure is a programming error.
        """
        self.assertRaises(ValueError, handler("DOMAIN_GET_INFO"),
                          lambda ctx, args: None)
        self.assertRaises(ValueError, call, "DOMAIN_GET_INFO", "info",
                          on="dom")

    def test_declarationDocumentsItself(self) -> None:
        """
        A one-line declaration yields a named, documented handler.
        """
        f = HANDLERS["DOMAIN_GET_OS_TYPE"]
        self.assertEqual(f.__name__, "handle_DOMAIN_GET_OS_TYPE")
        self.assertIn("OSType", f.__doc__)


class EveryHandlerTests(SynchronousTestCase):
    """
    Run each handler once with plausible arguments against a fresh test
    driver: it must answer something its ret type encodes, or fail with a
    libvirt error -- never with a Python error (a wrong field or method
    name, a result of the wrong shape).
    """

    def test_everyHandler(self) -> None:
        problems = []
        for name in sorted(HANDLERS):
            conn = openTestDriver(None)
            try:
                self.tryHandler(conn, name, problems)
            finally:
                # Even when handles() fails: an open connection keeps the
                # driver's state for every later test in this process.
                conn.close()
        self.maxDiff = None
        self.assertEqual(problems, [])

    def tryHandler(self, conn: libvirt.virConnect, name: str,
                   problems: list[str]) -> None:
        """
        Run handler C{name} once on C{conn}; note a Python error in
        C{problems}.
        """
        objects = handles(conn)
        proc = BY_NAME[name]
        kw = {}
        for field, _ in getattr(proc.args, "fields", ()):
            if field in objects:
                kw[field] = objects[field]
            elif field in ("snapshot",):
                kw[field] = objects["snap"]
            elif field in ("network",):
                kw[field] = objects["net"]
            elif field in ("clonevol",):
                kw[field] = objects["vol"]
            elif field == "name" and name.startswith("NODE_DEVICE"):
                kw[field] = objects["dev"]
            elif field in ("nparams", "maxnames", "maxids", "maxuuids",
                           "maxinfo", "ncpumaps", "maxStats",
                           "maxerrors", "need_results", "maxcells"):
                kw[field] = 1
            elif field == "maplen":
                kw[field] = 1
        try:
            invoke(conn, name, **kw)
        except (libvirt.libvirtError, LibvirtError):
            pass
        except Exception as e:  # noqa: BLE001 - collect them all
            problems.append("%s: %s: %s" % (name, type(e).__name__, e))
