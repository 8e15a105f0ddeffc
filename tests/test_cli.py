"""
The virsh-like CLI (C{python -m virtd}, L{virtd.cli}).

Layout and error formatting are checked offline; the commands run against a
real libvirtd 9.0.0 (test driver) and their text output is compared with
real virsh's where virsh prints the same thing (list, dominfo, net-list,
pool-list, vol-list, hostname).

The test driver forgets its state when the last connection to it closes,
so each test keeps one libvirt-python connection open while it runs: the
extra domain, network, pool and volumes made in C{setUp} are seen by
virsh, by the CLI and by the checks alike.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol
from twisted.trial import unittest

from tests.support import RealLibvirtd, runVirshDeferred
from virtd.cli.events import EVENT_NAMES, describeLifecycle
from virtd.cli.main import buildParser, formatError, run
from virtd.cli.output import Fields, Table, Text, formatTable, render
from virtd.errors import (
    VIR_ERR_NO_DOMAIN,
    VIR_ERR_OPERATION_TIMEOUT,
    VIR_FROM_TEST,
    LibvirtError,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

EXTRA_DOMAIN = """<domain type='test'>
  <name>cli-extra</name>
  <uuid>7b1c2d3e-4f50-4a5e-9f3a-0b1c2d3e4f51</uuid>
  <memory unit='KiB'>131072</memory>
  <vcpu>1</vcpu>
  <os><type arch='i686'>hvm</type></os>
</domain>"""

LIFECYCLE_DOMAIN = """<domain type='test'>
  <name>cli-life</name>
  <memory unit='KiB'>65536</memory>
  <vcpu>1</vcpu>
  <os><type arch='i686'>hvm</type></os>
</domain>"""

EXTRA_NETWORK = """<network>
  <name>cli-net</name>
  <bridge name='virbr7'/>
  <ip address='192.168.77.1' netmask='255.255.255.0'/>
</network>"""

EXTRA_POOL = """<pool type='dir'>
  <name>cli-pool</name>
  <target><path>/cli-pool</path></target>
</pool>"""

VOLUME = """<volume>
  <name>{name}</name>
  <capacity unit='bytes'>1048576</capacity>
</volume>"""


class LayoutTests(unittest.SynchronousTestCase):
    """
    Text and JSON rendering, offline.
    """

    def test_tableLikeVirsh(self) -> None:
        """
        Columns three spaces apart after one leading space, no padding
        after the last column, a rule two longer than the widest line, and
        a blank line at the end (virsh 9.0's C{list} output).
        """
        self.assertEqual(
            formatTable(["Id", "Name", "State"], [["1", "test", "running"]]),
            " Id   Name   State\n"
            "----------------------\n"
            " 1    test   running\n"
            "\n")

    def test_emptyTable(self) -> None:
        """
        An empty table still has its header and rule.
        """
        self.assertEqual(formatTable(["Name", "Path"], []),
                         " Name   Path\n--------------\n\n")

    def test_tableValues(self) -> None:
        """
        C{None} shows as C{-} and booleans as C{yes}/C{no}; JSON keeps the
        typed values.
        """
        table = Table([("Id", "id"), ("Name", "name"), ("Persistent", "p")],
                      [{"id": None, "name": "a", "p": True}])
        self.assertIn(" -    a      yes\n", render(table, False))
        self.assertEqual(json.loads(render(table, True)),
                         [{"id": None, "name": "a", "p": True}])

    def test_fields(self) -> None:
        """
        Labels are padded to 15 columns, as virsh's C{dominfo}.
        """
        fields = Fields()
        fields.add("Id", "id", 1)
        fields.add("Autostart", "autostart", False, "disable")
        self.assertEqual(render(fields, False),
                         "Id:             1\nAutostart:      disable\n\n")
        self.assertEqual(json.loads(render(fields, True)),
                         {"id": 1, "autostart": False})

    def test_text(self) -> None:
        """
        Text gets one blank line after it; JSON prints its data.
        """
        self.assertEqual(render(Text("vm", {"hostname": "vm"}), False), "vm\n\n")
        self.assertEqual(json.loads(render(Text("vm", {"hostname": "vm"}), True)),
                         {"hostname": "vm"})

    def test_errorLine(self) -> None:
        """
        A L{LibvirtError} prints as one line with libvirt's code name and
        number, even when its message spans lines.
        """
        error = LibvirtError("Domain not found:\n  no such", VIR_ERR_NO_DOMAIN,
                             VIR_FROM_TEST)
        self.assertEqual(
            formatError(error),
            "error: Domain not found: no such (VIR_ERR_NO_DOMAIN, code 42)\n")
        self.assertEqual(
            json.loads(formatError(error, asJSON=True)),
            {"error": {"message": "Domain not found: no such", "code": 42,
                       "code_name": "VIR_ERR_NO_DOMAIN", "domain": VIR_FROM_TEST,
                       "domain_name": "VIR_FROM_TEST"}})

    def test_optionsAfterCommand(self) -> None:
        """
        Common options work before or after the command.
        """
        parser = buildParser()
        before = parser.parse_args(["--json", "-c", "x", "list", "--all"])
        after = parser.parse_args(["list", "--all", "--json", "-c", "x"])
        for args in (before, after):
            self.assertEqual((args.json, args.connect, args.all, args.command),
                             (True, "x", True, "list"))
        self.assertEqual(parser.parse_args(["--timeout", "3", "hostname"]).timeout, 3.0)

    def test_eventNames(self) -> None:
        """
        Lifecycle events are described in virsh's words.
        """
        self.assertEqual(EVENT_NAMES[0], "lifecycle")
        self.assertEqual(len(EVENT_NAMES), 27)
        self.assertEqual(describeLifecycle(3, 0), ("Suspended", "Paused"))
        self.assertEqual(describeLifecycle(5, 1), ("Stopped", "Destroyed"))
        self.assertEqual(describeLifecycle(99, 0), ("unknown", "unknown"))


class _Silent(Protocol):
    """
    Accepts a connection and never answers.
    """


class AgainstLibvirtdTests(unittest.TestCase):
    """
    The commands against a real libvirtd, compared with real virsh.
    """

    timeout = 120

    def setUp(self) -> None:
        import libvirt

        self.daemon = RealLibvirtd.forTest(self, tcp=False)
        self.uri = self.daemon.uri("unix")
        self.keeper = libvirt.open(self.uri)
        self.addCleanup(self.keeper.close)
        self.keeper.defineXML(EXTRA_DOMAIN)
        self.keeper.networkDefineXML(EXTRA_NETWORK)
        self.keeper.storagePoolDefineXML(EXTRA_POOL, 0)
        pool = self.keeper.storagePoolLookupByName("default-pool")
        for name in ("b.img", "a.img"):
            pool.createXML(VOLUME.format(name=name), 0)

    def cli(self, *argv: str, uri: str | None = None) -> Deferred:
        """
        Run the CLI in this process.

        @return: a Deferred firing with C{(status, stdout, stderr)}.
        """
        args = buildParser().parse_args(["-c", uri or self.uri, *argv])
        out, err = io.StringIO(), io.StringIO()
        d = Deferred.fromCoroutine(run(reactor, args, out, err))
        return d.addCallback(lambda status: (status, out.getvalue(), err.getvalue()))

    async def compareWithVirsh(self, *argv: str) -> str:
        rc, expected, virshErr = await runVirshDeferred(self.uri, list(argv))
        self.assertEqual(rc, 0, virshErr)
        status, out, err = await self.cli(*argv)
        self.assertEqual((status, err), (0, ""))
        self.assertEqual(out, expected)
        return out

    def test_list(self) -> Deferred:
        """
        C{list} prints what virsh prints: the running domain only.
        """
        async def check() -> None:
            out = await self.compareWithVirsh("list")
            self.assertNotIn("cli-extra", out)

        return Deferred.fromCoroutine(check())

    def test_listAll(self) -> Deferred:
        """
        C{list --all} adds inactive domains (id C{-}, state C{shut off})
        after the running ones, as virsh does.
        """
        async def check() -> None:
            out = await self.compareWithVirsh("list", "--all")
            self.assertRegex(out, r"\n -    cli-extra   shut off\n")

        return Deferred.fromCoroutine(check())

    def test_dominfo(self) -> Deferred:
        """
        C{dominfo} prints virsh's lines up to C{Managed save} (virsh then
        adds the security model, which the client does not fetch yet); CPU
        time moves on between the two runs, so only its format is compared.
        """
        async def check() -> None:
            rc, expected, _ = await runVirshDeferred(self.uri, ["dominfo", "test"])
            status, out, err = await self.cli("dominfo", "test")
            self.assertEqual((rc, status, err), (0, 0, ""))
            cpu = re.compile(r"^CPU time:       \d+\.\ds$", re.M)
            self.assertRegex(out, cpu)
            expected = cpu.sub("CPU time", expected)
            out = cpu.sub("CPU time", out)
            cut = expected.index("Security model:")
            self.assertEqual(out, expected[:cut] + "\n")

        return Deferred.fromCoroutine(check())

    def test_dominfoInactiveById(self) -> Deferred:
        """
        An inactive domain shows id C{-}, like virsh; a
        running one can be named by id or UUID.
        """
        async def check() -> None:
            rc, expected, _ = await runVirshDeferred(self.uri, ["dominfo", "cli-extra"])
            status, out, _ = await self.cli("dominfo", "cli-extra")
            self.assertEqual((rc, status), (0, 0))
            # The test driver's CPU time moves with the clock between runs.
            cpu = re.compile(r"(CPU time:\s+)\S+")
            self.assertEqual(cpu.sub(r"\1X", out),
                             cpu.sub(r"\1X", expected[:expected.index("Security model:")]
                                     + "\n"))
            self.assertIn("Id:             -\n", out)
            for ref in ("1", "6695eb01-f6a4-8304-79aa-97f2502e193f"):
                status, out, _ = await self.cli("--json", "dominfo", ref)
                self.assertEqual(json.loads(out)["name"], "test")

        return Deferred.fromCoroutine(check())

    def test_netList(self) -> Deferred:
        """
        C{net-list} and C{net-list --all} print what virsh prints.
        """
        async def check() -> None:
            self.assertNotIn("cli-net", await self.compareWithVirsh("net-list"))
            out = await self.compareWithVirsh("net-list", "--all")
            self.assertIn(" cli-net   inactive   no          yes\n", out)

        return Deferred.fromCoroutine(check())

    def test_poolList(self) -> Deferred:
        """
        C{pool-list} and C{pool-list --all} print what virsh prints.
        """
        async def check() -> None:
            self.assertNotIn("cli-pool", await self.compareWithVirsh("pool-list"))
            self.assertIn("cli-pool", await self.compareWithVirsh("pool-list", "--all"))

        return Deferred.fromCoroutine(check())

    def test_volList(self) -> Deferred:
        """
        C{vol-list POOL} prints what virsh prints, sorted by name.
        """
        async def check() -> None:
            out = await self.compareWithVirsh("vol-list", "default-pool")
            self.assertLess(out.index("a.img"), out.index("b.img"))

        return Deferred.fromCoroutine(check())

    def test_hostname(self) -> Deferred:
        """
        C{hostname} prints what virsh prints.
        """
        return Deferred.fromCoroutine(self.compareWithVirsh("hostname"))

    def test_jsonList(self) -> Deferred:
        """
        C{--json list --all} gives typed records matching libvirt-python.
        """
        async def check() -> None:
            status, out, _ = await self.cli("--json", "list", "--all")
            self.assertEqual(status, 0)
            records = {r["name"]: r for r in json.loads(out)}
            self.assertEqual(records["test"], {
                "id": 1, "name": "test", "state": "running",
                "uuid": self.keeper.lookupByName("test").UUIDString()})
            self.assertEqual(records["cli-extra"]["id"], None)
            self.assertEqual(records["cli-extra"]["state"], "shut off")

        return Deferred.fromCoroutine(check())

    def test_jsonVolList(self) -> Deferred:
        """
        C{--json vol-list} includes each volume's path and key.
        """
        async def check() -> None:
            status, out, _ = await self.cli("vol-list", "default-pool", "--json")
            vol = self.keeper.storageVolLookupByPath(
                self.keeper.storagePoolLookupByName("default-pool")
                .storageVolLookupByName("a.img").path())
            self.assertIn({"name": "a.img", "path": vol.path(), "key": vol.key()},
                          json.loads(out))

        return Deferred.fromCoroutine(check())

    def test_capabilitiesAndDumpxml(self) -> Deferred:
        """
        C{capabilities} and C{dumpxml} print the documents libvirt-python
        returns.
        """
        async def check() -> None:
            status, out, _ = await self.cli("capabilities")
            self.assertEqual(out, self.keeper.getCapabilities() + "\n")
            status, out, _ = await self.cli("dumpxml", "cli-extra", "--inactive")
            self.assertEqual(
                out, self.keeper.lookupByName("cli-extra").XMLDesc(2) + "\n")

        return Deferred.fromCoroutine(check())

    def test_versionAndURI(self) -> Deferred:
        """
        C{version} reports the daemon's libvirt and the hypervisor; C{uri}
        the connection's URI.
        """
        async def check() -> None:
            status, out, _ = await self.cli("version")
            self.assertIn("Daemon library: libvirt 9.0.0\n", out)
            self.assertIn("Hypervisor:     TEST 0.0.2\n", out)
            status, out, _ = await self.cli("--json", "version")
            self.assertEqual(json.loads(out)["hypervisor"],
                             {"type": "TEST", "version": "0.0.2"})
            status, out, _ = await self.cli("uri")
            self.assertEqual(out, self.uri + "\n\n")

        return Deferred.fromCoroutine(check())

    def test_lifecycle(self) -> Deferred:
        """
        define, start, shutdown, start, destroy and undefine change the
        daemon's state (checked through libvirt-python) and say so.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(LIFECYCLE_DOMAIN)

        def state() -> int:
            return self.keeper.lookupByName("cli-life").state()[0]

        async def check() -> None:
            status, out, _ = await self.cli("define", path)
            self.assertEqual(out, f"Domain 'cli-life' defined from {path}\n\n")
            self.assertEqual(state(), 5)
            status, out, _ = await self.cli("start", "cli-life")
            self.assertEqual((status, out), (0, "Domain 'cli-life' started\n\n"))
            self.assertEqual(state(), 1)
            status, out, _ = await self.cli("shutdown", "cli-life")
            self.assertEqual(out, "Domain 'cli-life' is being shutdown\n\n")
            self.assertEqual(state(), 5)
            await self.cli("start", "cli-life")
            status, out, _ = await self.cli("--json", "destroy", "cli-life")
            self.assertEqual(json.loads(out)["result"], "destroyed")
            self.assertEqual(state(), 5)
            status, out, _ = await self.cli("undefine", "cli-life")
            self.assertEqual(out, "Domain 'cli-life' has been undefined\n\n")
            self.assertNotIn("cli-life", self.keeper.listDefinedDomains())

        return Deferred.fromCoroutine(check())

    def test_errors(self) -> Deferred:
        """
        Failures print one C{error:} line with libvirt's code on stderr,
        nothing on stdout, and return status 1.
        """
        async def check() -> None:
            self.assertEqual(
                await self.cli("dominfo", "nosuch"),
                (1, "", "error: Domain not found (VIR_ERR_NO_DOMAIN, code 42)\n"))
            status, out, err = await self.cli("vol-list", "nosuch")
            self.assertEqual((status, out), (1, ""))
            self.assertEqual(
                err, "error: Storage pool not found: no storage pool with "
                "matching name 'nosuch' (VIR_ERR_NO_STORAGE_POOL, code 49)\n")
            status, out, err = await self.cli("define", "/nonexistent.xml")
            self.assertEqual(
                (status, err),
                (1, "error: cannot read /nonexistent.xml: No such file or directory\n"))
            status, out, err = await self.cli("--json", "start", "test")
            self.assertEqual(json.loads(err)["error"], {
                "message": "internal error: Domain 'test' is already running",
                "code": 1, "code_name": "VIR_ERR_INTERNAL_ERROR",
                "domain": VIR_FROM_TEST, "domain_name": "VIR_FROM_TEST"})

        return Deferred.fromCoroutine(check())

    def test_readonly(self) -> Deferred:
        """
        C{-r} on the read-only socket may look but not touch.
        """
        async def check() -> None:
            ro = self.daemon.uri("unix", readonly=True)
            status, out, _ = await self.cli("-r", "list", uri=ro)
            self.assertEqual(status, 0)
            self.assertIn(" test ", out)
            status, out, err = await self.cli("-r", "destroy", "test", uri=ro)
            self.assertEqual(status, 1)
            self.assertIn("(VIR_ERR_OPERATION_DENIED, code 29)", err)

        return Deferred.fromCoroutine(check())

    def test_connectFailure(self) -> Deferred:
        """
        A daemon that is not there: one line naming the socket.
        """
        async def check() -> None:
            status, out, err = await self.cli(
                "list", uri="test+unix:///default?socket=/nonexistent/sock")
            self.assertEqual(status, 1)
            self.assertRegex(err, r"^error: .*'/nonexistent/sock'.*"
                                  r"\(VIR_ERR_SYSTEM_ERROR, code 38\)\n$")

        return Deferred.fromCoroutine(check())

    def test_timeout(self) -> Deferred:
        """
        C{--timeout}: a server that accepts and never answers gives up
        with C{VIR_ERR_OPERATION_TIMEOUT} instead of hanging.
        """
        port = reactor.listenTCP(0, Factory.forProtocol(_Silent),
                                 interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        uri = f"test+tcp://127.0.0.1:{port.getHost().port}/default"

        async def check() -> None:
            start = reactor.seconds()
            status, out, err = await self.cli("--timeout", "0.5", "list", uri=uri)
            self.assertLess(reactor.seconds() - start, 10)
            self.assertEqual(status, 1)
            self.assertIn(f"(VIR_ERR_OPERATION_TIMEOUT, code "
                          f"{VIR_ERR_OPERATION_TIMEOUT})", err)

        return Deferred.fromCoroutine(check())

    def test_eventList(self) -> Deferred:
        """
        C{event --list} prints the event names virsh uses (receiving them:
        C{test_eventReceives}).
        """
        async def check() -> None:
            status, out, _ = await self.cli("event", "--list")
            self.assertEqual(out, "\n".join(EVENT_NAMES) + "\n\n")

        return Deferred.fromCoroutine(check())


    def test_eventReceives(self) -> Deferred:
        """
        C{event --loop --count 2} prints the lifecycle events another
        session causes, from libvirtd and from our daemon alike.
        """
        from twisted.internet import task

        from tests.test_server_fixture import InProcessVirtd, inThread

        async def events(uri: str) -> tuple:
            import libvirt

            keeper = await inThread(libvirt.open, uri)
            try:
                running = self.cli("event", "--loop", "--count", "2",
                                   "--timeout", "20", uri=uri)
                await task.deferLater(reactor, 1.0, lambda: None)

                def act() -> None:
                    # libvirt objects die in this thread, not on the
                    # reactor (freeing the last one closes the connection).
                    dom = keeper.lookupByName("test")
                    dom.suspend()
                    dom.resume()

                await inThread(act)
                return await running
            finally:
                await inThread(keeper.close)

        async def check() -> None:
            ours = await InProcessVirtd.forTest(self)
            theirs = await events(self.uri)
            mine = await events(ours.uri("unix"))
            self.assertEqual(mine, theirs)
            self.assertEqual(mine, (
                0, "event 'lifecycle' for domain 'test': Suspended Paused\n"
                "event 'lifecycle' for domain 'test': Resumed Unpaused\n"
                "events received: 2\n\n", ""))

        return Deferred.fromCoroutine(check())


class ProcessTests(unittest.TestCase):
    """
    C{python -m virtd} as a process: exit statuses and streams.
    """

    timeout = 120

    def setUp(self) -> None:
        self.daemon = RealLibvirtd.forTest(self, tcp=False)

    def runModule(self, *argv: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, PYTHONPATH=ROOT)
        env.pop("LIBVIRT_DEFAULT_URI", None)
        return subprocess.run([sys.executable, "-m", "virtd", *argv],
                              capture_output=True, text=True, env=env,
                              timeout=60, cwd=ROOT)

    def test_process(self) -> None:
        """
        Success exits 0 with the table on stdout; a libvirt error exits 1
        with one line on stderr; a bad command line exits 2 with usage.
        """
        uri = self.daemon.uri("unix")
        done = self.runModule("-c", uri, "list")
        self.assertEqual((done.returncode, done.stderr), (0, ""))
        self.assertEqual(done.stdout.splitlines()[0], " Id   Name   State")
        done = self.runModule("-c", uri, "dominfo", "nosuch")
        self.assertEqual(
            (done.returncode, done.stdout, done.stderr),
            (1, "", "error: Domain not found (VIR_ERR_NO_DOMAIN, code 42)\n"))
        done = self.runModule("-c", uri)
        self.assertEqual(done.returncode, 2)
        self.assertIn("usage: virtd", done.stderr)

    def test_warningsOneLine(self) -> None:
        """
        An unknown C{remote:} variable is reported as one C{warning:} line.
        """
        name = f"remote:unix:{self.daemon.sock} name=test:///default colour=blue"
        done = self.runModule("-c", name, "hostname")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(
            done.stderr,
            f"warning: ignoring unknown variable 'colour' in connection name '{name}'\n")
