"""
Real virsh against our daemon and against a real libvirtd 9.0.0 (test
driver), one scenario at a time, over every transport: unix, the read-only
unix socket (C{virsh -r}), tcp, tls (certificates made by the test,
C{?pkipath=}) and ssh (a private sshd on loopback running C{nc -U}).

A scenario is one virsh invocation (commands separated by C{;}, so they
share one connection and the test driver's state). Exit status, stdout and
stderr must match once normalised (L{normalise}: CPU time, the URIs).

To cover another command, add a line to L{SCENARIOS}:
C{"name": "command; command"}; every transport then checks it. A scenario
that creates files or objects must clean them up in the same invocation
(the test driver's state resets when the last connection closes).

L{IssueScenarios} also runs every scenario of L{tests.scenarios} (the
per-command list kept with the handlers, checked over unix and unix-ro by
tests/test_virsh_commands.py) over tcp, tls and ssh.
"""

from __future__ import annotations

import re

from twisted.internet import defer, task
from twisted.trial import unittest

from tests import scenarios
from tests.support import (
    PrivateSshd,
    RealLibvirtd,
    removeTree,
    runVirshDeferred,
    shortTempDir,
)
from tests.test_server_fixture import InProcessVirtd, normalise

UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"

#: name -> virsh commands run in one session. Add yours here.
SCENARIOS: dict[str, str] = {
    "host": "hostname; version; uri; nodeinfo; maxvcpus; sysinfo",
    "capabilities": "capabilities",
    "list": "list --all; list; list --inactive",
    "dominfo": f"dominfo test; domstate test; domid test; domname 1; "
               f"domuuid test; dominfo {UUID}",
    "dumpxml": "dumpxml test; dumpxml --inactive test",
    "lifecycle": "suspend test; domstate test; resume test; domstate test; "
                 "destroy test; domstate test; start test; domstate test",
    "missing": "dominfo nosuchdomain",
    "networks": "net-list --all; net-info default; net-dumpxml default",
    "pools": "pool-list --all; pool-info default-pool; "
             "pool-dumpxml default-pool; vol-list default-pool",
    "interfaces": "iface-list --all; iface-dumpxml eth1",
}

TRANSPORTS = ("unix", "unix-ro", "tcp", "tls", "ssh")


class _Harness(unittest.TestCase):
    """
    A real libvirtd, our daemon and a private sshd; L{compare} runs virsh
    against both daemons.
    """

    timeout = 240

    @defer.inlineCallbacks
    def setUp(self):
        self.real = RealLibvirtd.forTest(self, tcp=True, tls=True)
        self.ours = yield InProcessVirtd.forTest(self, tcp=True, tls=True)
        self.sshd = PrivateSshd.forTest(self)

    def uris(self, transport: str) -> tuple[str, str, bool]:
        """
        @return: our URI, libvirtd's URI, and whether virsh needs C{-r}.
        """
        if transport == "unix-ro":
            return (self.ours.uri("unix", True), self.real.uri("unix", True),
                    True)
        if transport == "ssh":
            return (self.sshd.libvirtURI(self.ours.sock),
                    self.sshd.libvirtURI(self.real.sock), False)
        return self.ours.uri(transport), self.real.uri(transport), False

    @defer.inlineCallbacks
    def settle(self):
        """
        Wait until our daemon has closed every client's hypervisor
        connection, so the next run starts from fresh test-driver state
        (libvirtd resets it when its last connection closes).
        """
        from twisted.internet import reactor

        dispatcher = self.ours.service.dispatcher
        for _ in range(250):
            if (not dispatcher.sessions and not dispatcher.normal.busy
                    and not dispatcher.priority.busy):
                return
            yield task.deferLater(reactor, 0.02, lambda: None)

    @defer.inlineCallbacks
    def compare(self, commands: str, transports=TRANSPORTS,
                extra: list | None = None, fail: bool = True):
        problems = []
        for transport in transports:
            ourURI, realURI, readonly = self.uris(transport)
            yield self.settle()
            mine = yield runVirshDeferred(ourURI, commands, readonly=readonly)
            theirs = yield runVirshDeferred(realURI, commands,
                                            readonly=readonly)
            a = _clean(mine, ourURI, extra)
            b = _clean(theirs, realURI, extra)
            for who, result in (("ours", mine), ("libvirtd", theirs)):
                if "failed to connect to the hypervisor" in result[2]:
                    problems.append(f"--- {transport}: virsh could not "
                                    f"connect to {who}: {result[2]!r}")
            if a != b:
                problems.append(f"--- {transport}: virsh {commands!r}\n"
                                f"ours:   {a!r}\nlibvirtd: {b!r}")
        if problems and fail:
            self.fail("\n".join(problems))
        return problems


class VirshCompare(_Harness):
    """
    One test per scenario of L{SCENARIOS}; each checks every transport.
    """


class IssueScenarios(_Harness):
    """
    The scenarios of L{tests.scenarios}, over the network transports.
    """

    def _scenarios(self, transport: str):
        files = shortTempDir("vsc")
        self.addCleanup(removeTree, files)
        scenarios.writeFiles(files)
        problems = []

        @defer.inlineCallbacks
        def run():
            for title, text, _readOnly in scenarios.SCENARIOS:
                found = yield self.compare(
                    scenarios.command(text, files), (transport,),
                    extra=scenarios.NORMALISERS, fail=False)
                problems.extend(f"[{title}] {p}" for p in found)
            if problems:
                self.fail("\n".join(problems))

        return run()

    def test_tcp(self):
        return self._scenarios("tcp")

    def test_tls(self):
        return self._scenarios("tls")

    def test_ssh(self):
        return self._scenarios("ssh")


def _clean(result: tuple, uri: str, extra: list | None = None) -> tuple:
    rc, out, err = result
    rules = [(re.escape(uri), "<uri>")] + list(extra or [])
    return rc, normalise(out, rules), normalise(err, rules)


def _makeTest(name: str, commands: str):
    def test(self):
        return self.compare(commands)

    test.__name__ = f"test_{name}"
    test.__doc__ = f"virsh {commands!r} over {', '.join(TRANSPORTS)}"
    return test


for _name, _commands in SCENARIOS.items():
    setattr(VirshCompare, f"test_{_name}", _makeTest(_name, _commands))
