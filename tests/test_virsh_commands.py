"""
Issue 3's virsh commands against a real libvirtd and against virtd (both
on unix sockets, read-write and read-only): the outputs must be the same.
The scenarios are data in L{tests.scenarios}.
"""

from __future__ import annotations

import re
from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from tests.scenarios import NORMALISERS, SCENARIOS, command, writeFiles
from tests.support import removeTree, shortTempDir
from tests.support.libvirtd import RealLibvirtd
from tests.support.virsh import runVirshDeferred
from tests.test_server_fixture import InProcessVirtd


def _normal(text: str) -> str:
    for pattern, repl in NORMALISERS:
        text = re.sub(pattern, repl, text)
    return text


class VirshCommandsTests(TestCase):

    timeout = 300

    @inlineCallbacks
    def test_sameOutput(self) -> Any:
        files = shortTempDir("vsc")
        self.addCleanup(removeTree, files)
        writeFiles(files)
        real = RealLibvirtd.forTest(self, tcp=False)
        ours = yield InProcessVirtd.forTest(self)
        differences = []
        for title, text, _readOnly in SCENARIOS:
            cmd = command(text, files)
            modes = [False, True]
            for ro in modes:
                theirs = yield runVirshDeferred(real.uri("unix", ro), cmd,
                                                readonly=ro)
                mine = yield runVirshDeferred(ours.uri("unix", ro), cmd,
                                              readonly=ro)
                theirs = tuple(_normal(str(x)) for x in theirs)
                mine = tuple(_normal(str(x)) for x in mine)
                if theirs != mine:
                    differences.append((title, "ro" if ro else "rw",
                                        theirs, mine))
        self.maxDiff = None
        self.assertEqual(differences, [])
