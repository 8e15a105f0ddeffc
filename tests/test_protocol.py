"""
Tests for the procedure tables (L{virtd.protocol.remote},
L{virtd.protocol.keepalive}), L{virtd.protocol.procedures} and the constants.
"""

from __future__ import annotations

import libvirt
from twisted.trial.unittest import SynchronousTestCase

from virtd import xdr
from virtd.protocol import constants, keepalive, lxc, qemu, remote
from virtd.protocol.message import KEEPALIVE_PROGRAM, LXC_PROGRAM, QEMU_PROGRAM, REMOTE_PROGRAM
from virtd.protocol.procedures import Procedure, ProcedureTable
from virtd.protocol.types import Dom


class RemoteTableTests(SynchronousTestCase):
    """
    The REMOTE program's table as a whole.
    """

    def test_complete(self) -> None:
        """
        All 443 procedures of libvirt 9.0.0, numbered 1..443 with no gap.
        """
        self.assertEqual(sorted(remote.PROCEDURES), list(range(1, 444)))
        self.assertEqual(remote.PROGRAM, 0x20008086)
        self.assertEqual(remote.VERSION, 1)
        for n, p in remote.PROCEDURES.items():
            self.assertIsInstance(p, Procedure)
            self.assertEqual((p.program, p.version, p.number), (REMOTE_PROGRAM, 1, n))

    def test_namesUniqueAndConstants(self) -> None:
        names = [p.name for p in remote.PROCEDURES.values()]
        self.assertEqual(len(set(names)), 443)
        self.assertEqual(set(remote.BY_NAME), set(names))
        for p in remote.PROCEDURES.values():
            self.assertIs(remote.BY_NAME[p.name], p)
            self.assertEqual(getattr(remote, "REMOTE_PROC_" + p.name), p.number)

    def test_events(self) -> None:
        """
        51 procedures are events: never called, body in a C{*_msg} struct.
        """
        events = [p for p in remote.PROCEDURES.values() if p.event]
        self.assertEqual(len(events), 51)
        for p in events:
            self.assertIs(p.args, xdr.Void)
            self.assertEqual(p.ret.name, f"remote_{p.name.lower()}_msg")
            self.assertFalse(p.priority)
            self.assertEqual(p.readonly, "no")
            self.assertIsNone(p.stream)
            self.assertIn("EVENT", p.name)
        for n in (107, 169, 315, 318, 333, 362, 370, 376, 382, 423, 438):
            self.assertTrue(remote.PROCEDURES[n].event, n)
        for n in (105, 106, 167, 313, 316, 317, 360, 368):
            self.assertFalse(remote.PROCEDURES[n].event, n)

    def test_structNames(self) -> None:
        for p in remote.PROCEDURES.values():
            if p.event:
                continue
            for t, suffix in ((p.args, "args"), (p.ret, "ret")):
                if t is not xdr.Void:
                    self.assertEqual(t.name, f"remote_{p.name.lower()}_{suffix}")

    def test_priorities(self) -> None:
        """
        A sample of C{@priority} annotations, as in the sheet.
        """
        high = ["CONNECT_OPEN", "CONNECT_CLOSE", "AUTH_LIST", "CONNECT_SUPPORTS_FEATURE",
                "CONNECT_LIST_ALL_DOMAINS", "DOMAIN_GET_STATE", "DOMAIN_LOOKUP_BY_NAME",
                "DOMAIN_DESTROY", "CONNECT_REGISTER_CLOSE_CALLBACK",
                "CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY", "NODE_DEVICE_CREATE"]
        low = ["CONNECT_GET_CAPABILITIES", "DOMAIN_GET_INFO", "DOMAIN_CREATE",
               "DOMAIN_SHUTDOWN", "CONNECT_GET_ALL_DOMAIN_STATS", "DOMAIN_GET_XML_DESC",
               "STORAGE_VOL_UPLOAD", "DOMAIN_FD_ASSOCIATE"]
        for name in high:
            self.assertTrue(remote.BY_NAME[name].priority, name)
        for name in low:
            self.assertFalse(remote.BY_NAME[name].priority, name)
        counts = [p.priority for p in remote.PROCEDURES.values()]
        self.assertEqual(counts.count(True), 184)

    def test_readonlyClasses(self) -> None:
        sample = {
            "CONNECT_OPEN": "yes", "DOMAIN_GET_INFO": "yes",
            "CONNECT_LIST_ALL_DOMAINS": "yes", "CONNECT_SET_IDENTITY": "yes",
            "DOMAIN_GET_XML_DESC": "flag-dep", "DOMAIN_INTERFACE_ADDRESSES": "flag-dep",
            "DOMAIN_SNAPSHOT_GET_XML_DESC": "flag-dep", "DOMAIN_GET_VCPUS_FLAGS": "flag-dep",
            "DOMAIN_DEFINE_XML": "no", "DOMAIN_CREATE": "no", "SECRET_GET_VALUE": "no",
            "CONNECT_GET_DOMAIN_CAPABILITIES": "no", "NODE_DEVICE_GET_AUTOSTART": "no",
            "DOMAIN_GET_HOSTNAME": "no",
        }
        for name, ro in sample.items():
            self.assertEqual(remote.BY_NAME[name].readonly, ro, name)
        classes = [p.readonly for p in remote.PROCEDURES.values() if not p.event]
        self.assertEqual((classes.count("yes"), classes.count("no"),
                          classes.count("flag-dep")), (189, 197, 6))

    def test_streams(self) -> None:
        streams = {p.name: p.stream for p in remote.PROCEDURES.values() if p.stream}
        self.assertEqual(streams, {
            "DOMAIN_MIGRATE_PREPARE_TUNNEL": "write", "DOMAIN_OPEN_CONSOLE": "read",
            "STORAGE_VOL_UPLOAD": "write", "STORAGE_VOL_DOWNLOAD": "read",
            "DOMAIN_SCREENSHOT": "read", "DOMAIN_MIGRATE_PREPARE_TUNNEL3": "write",
            "DOMAIN_OPEN_CHANNEL": "read"})


class ShapeTests(SynchronousTestCase):
    """
    Args and ret of the procedures virsh and libvirt-python use in the
    captured traces, and a few with unusual types.
    """

    def fields(self, t: xdr.Type) -> list[tuple[str, str]]:
        if t is xdr.Void:
            return []
        return [(n, ft.name) for n, ft in t.fields]

    def test_handshake(self) -> None:
        p = remote.BY_NAME
        self.assertIs(p["AUTH_LIST"].args, xdr.Void)
        self.assertEqual(self.fields(p["AUTH_LIST"].ret), [("types", "int<20>")])
        self.assertEqual(self.fields(p["CONNECT_SUPPORTS_FEATURE"].args),
                         [("feature", "int")])
        self.assertEqual(self.fields(p["CONNECT_SUPPORTS_FEATURE"].ret),
                         [("supported", "int")])
        self.assertEqual(self.fields(p["CONNECT_OPEN"].args),
                         [("name", "string<4194304>*"), ("flags", "unsigned int")])
        self.assertIs(p["CONNECT_OPEN"].ret, xdr.Void)
        for name in ("CONNECT_CLOSE", "CONNECT_REGISTER_CLOSE_CALLBACK",
                     "CONNECT_UNREGISTER_CLOSE_CALLBACK"):
            self.assertIs(p[name].args, xdr.Void)
            self.assertIs(p[name].ret, xdr.Void)

    def test_domainCalls(self) -> None:
        p = remote.BY_NAME
        self.assertEqual(self.fields(p["CONNECT_LIST_ALL_DOMAINS"].args),
                         [("need_results", "int"), ("flags", "unsigned int")])
        self.assertEqual(self.fields(p["CONNECT_LIST_ALL_DOMAINS"].ret),
                         [("domains", "remote_nonnull_domain<16384>"),
                          ("ret", "unsigned int")])
        self.assertEqual(self.fields(p["DOMAIN_GET_STATE"].args),
                         [("dom", "remote_nonnull_domain"), ("flags", "unsigned int")])
        self.assertEqual(self.fields(p["DOMAIN_GET_STATE"].ret),
                         [("state", "int"), ("reason", "int")])
        self.assertEqual(self.fields(p["DOMAIN_LOOKUP_BY_NAME"].ret),
                         [("dom", "remote_nonnull_domain")])
        info = p["DOMAIN_GET_INFO"]
        self.assertEqual(info.args.cls._fields, ("dom",))
        self.assertEqual(self.fields(info.ret), [
            ("state", "unsigned char"), ("maxMem", "unsigned hyper"),
            ("memory", "unsigned hyper"), ("nrVirtCpu", "unsigned short"),
            ("cpuTime", "unsigned hyper")])
        d = Dom(name="test", uuid=b"\x66" * 16, id=1)
        self.assertEqual(info.args(dom=d).dom, d)

    def test_fourByteChars(self) -> None:
        p = remote.BY_NAME
        model = p["NODE_GET_INFO"].ret.fields[0][1]
        self.assertEqual(model.name, "char[32]")
        self.assertEqual(len(model.pack([0] * 32)), 128)
        self.assertEqual(self.fields(p["AUTH_SASL_STEP"].args),
                         [("nil", "int"), ("data", "char<65536>")])
        self.assertEqual(p["STORAGE_VOL_GET_INFO"].ret.fields[0][1].name, "char")

    def test_embeddedStructs(self) -> None:
        p = remote.BY_NAME
        cb = p["DOMAIN_EVENT_CALLBACK_LIFECYCLE"].ret
        self.assertIs(cb.fields[1][1], p["DOMAIN_EVENT_LIFECYCLE"].ret)
        labels = p["DOMAIN_GET_SECURITY_LABEL_LIST"].ret.fields[0][1]
        self.assertIs(labels.elem, p["DOMAIN_GET_SECURITY_LABEL"].ret)
        stats = p["CONNECT_GET_ALL_DOMAIN_STATS"].ret.fields[0][1]
        self.assertEqual(stats.elem.name, "remote_domain_stats_record")
        self.assertEqual(p["DOMAIN_RESTORE"].args.cls._fields, ("from_",))

    def test_eventRoundTrip(self) -> None:
        body = remote.BY_NAME["DOMAIN_EVENT_CALLBACK_LIFECYCLE"].ret
        d = Dom(name="test", uuid=bytes(16), id=1)
        msg = remote.BY_NAME["DOMAIN_EVENT_LIFECYCLE"].ret(dom=d, event=3, detail=0)
        v = body(callbackID=7, msg=msg)
        self.assertEqual(body.decode(body.pack(v)), v)


class BigListTests(SynchronousTestCase):
    """
    The largest domain list the protocol allows.
    """

    def test_16384Domains(self) -> None:
        ret = remote.BY_NAME["CONNECT_LIST_ALL_DOMAINS"].ret
        doms = [Dom(name=f"dom-{i}", uuid=i.to_bytes(16, "big"), id=i if i % 2 else -1)
                for i in range(16384)]
        raw = ret.pack(ret(domains=doms, ret=len(doms)))
        out = ret.decode(raw)
        self.assertEqual(out.ret, 16384)
        self.assertEqual(out.domains, doms)
        self.assertEqual(out.domains[16383].name, "dom-16383")
        self.assertEqual(ret.pack(out), raw)
        self.assertRaises(xdr.XDRError, ret.pack, ret(domains=doms + doms[:1], ret=0))


class KeepaliveTableTests(SynchronousTestCase):

    def test_pingPong(self) -> None:
        self.assertEqual((keepalive.PROGRAM, keepalive.VERSION), (KEEPALIVE_PROGRAM, 1))
        self.assertEqual((keepalive.PROC_PING, keepalive.PROC_PONG), (1, 2))
        self.assertEqual(sorted(keepalive.PROCEDURES), [1, 2])
        for p in keepalive.PROCEDURES.values():
            self.assertTrue(p.event)
            self.assertIs(p.args, xdr.Void)
            self.assertIs(p.ret, xdr.Void)
            self.assertIs(keepalive.BY_NAME[p.name], p)


class QemuLxcTableTests(SynchronousTestCase):
    """
    The QEMU and LXC programs' procedures (wire facts section 2).
    """

    def test_qemu(self) -> None:
        self.assertEqual((qemu.PROGRAM, qemu.VERSION), (QEMU_PROGRAM, 1))
        names = {n: p.name for n, p in qemu.PROCEDURES.items()}
        self.assertEqual(names, {
            1: "DOMAIN_MONITOR_COMMAND", 2: "DOMAIN_ATTACH", 3: "DOMAIN_AGENT_COMMAND",
            4: "CONNECT_DOMAIN_MONITOR_EVENT_REGISTER",
            5: "CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER", 6: "DOMAIN_MONITOR_EVENT",
            7: "DOMAIN_MONITOR_COMMAND_WITH_FILES"})
        event = qemu.PROCEDURES[6]
        self.assertTrue(event.event)
        self.assertEqual(event.ret.name, "qemu_domain_monitor_event_msg")
        v = event.ret(callbackID=1, dom=Dom("d", bytes(16), 1), event="STOP",
                      seconds=-1, micros=5, details=None)
        self.assertEqual(event.ret.decode(event.ret.pack(v)), v)

    def test_lxc(self) -> None:
        self.assertEqual((lxc.PROGRAM, lxc.VERSION), (LXC_PROGRAM, 1))
        p = lxc.BY_NAME["DOMAIN_OPEN_NAMESPACE"]
        self.assertEqual((p.number, p.args.cls._fields), (1, ("dom", "flags")))
        self.assertIs(p.ret, xdr.Void)


class ProcedureTableTests(SynchronousTestCase):
    """
    L{ProcedureTable}: one declaration per procedure, checked.
    """

    def test_declare(self) -> None:
        t = ProcedureTable("demo", 0x1234, 1)
        n = t.call(3, "THING_GET", args=[("id", xdr.Int)], ret=[("v", xdr.Hyper)],
                   priority="high", readonly="flag-dep", stream="read")
        self.assertEqual(n, 3)
        p = t.procedures[3]
        self.assertEqual((p.program, p.version, p.name, p.priority, p.readonly, p.stream,
                          p.event), (0x1234, 1, "THING_GET", True, "flag-dep", "read",
                                     False))
        self.assertEqual(p.args.name, "demo_thing_get_args")
        self.assertEqual(p.ret.name, "demo_thing_get_ret")
        self.assertIs(t.byName["THING_GET"], p)
        t.event(4, "THING_EVENT", [("x", xdr.Int)])
        self.assertEqual(t.retOf(4).name, "demo_thing_event_msg")
        self.assertIs(t.procedures[4].args, xdr.Void)

    def test_refuseDuplicatesAndBadAnnotations(self) -> None:
        t = ProcedureTable("demo", 1, 1)
        t.call(1, "A")
        self.assertRaises(ValueError, t.call, 1, "B")
        self.assertRaises(ValueError, t.call, 2, "A")
        self.assertRaises(ValueError, t.call, 3, "C", priority="urgent")
        self.assertRaises(ValueError, t.call, 3, "C", readonly="maybe")
        self.assertRaises(ValueError, t.call, 3, "C", stream="both")


class ConstantsTests(SynchronousTestCase):
    """
    The constants agree with libvirt-python's where it has them.
    """

    def test_samples(self) -> None:
        c = constants
        self.assertEqual(c.VIR_DRV_FEATURE_PROGRAM_KEEPALIVE, 10)
        self.assertEqual(c.VIR_DRV_FEATURE_REMOTE_EVENT_CALLBACK, 14)
        self.assertEqual(c.VIR_DRV_FEATURE_REMOTE_CLOSE_CALLBACK, 15)
        self.assertEqual(c.VIR_DRV_FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER, 16)
        self.assertEqual((c.REMOTE_AUTH_NONE, c.REMOTE_AUTH_SASL, c.REMOTE_AUTH_POLKIT),
                         (0, 1, 2))
        self.assertEqual(c.VIR_CONNECT_RO, 1)
        self.assertEqual(c.VIR_DOMAIN_EVENT_ID_LAST, 27)
        self.assertEqual(c.VIR_CONNECT_LIST_NODE_DEVICES_ACTIVE, 1 << 31)
        self.assertEqual(c.REMOTE_DOMAIN_LIST_MAX, 16384)
        self.assertEqual(c.REMOTE_STRING_MAX, 4194304)
        self.assertEqual(c.VIR_TYPED_PARAM_STRING, 7)

    def test_matchLibvirtPython(self) -> None:
        checked = 0
        for name in dir(constants):
            if not name.startswith("VIR_") or name.startswith("VIR_DRV_"):
                continue
            if hasattr(libvirt, name):
                self.assertEqual(getattr(constants, name), getattr(libvirt, name), name)
                checked += 1
            else:
                self.assertTrue(name.endswith("_LAST") or name == "VIR_UUID_BUFLEN"
                                or name == "VIR_TYPED_PARAM_FIELD_LENGTH", name)
        self.assertGreater(checked, 300)
