"""
C{twistd -n virtd} as a separate process: hostile frames leave its file
descriptors where they were, and SIGTERM stops it -- listeners closed,
clients dropped, exit within the grace period -- even while a libvirt call
hangs (a test-only handler table selected by a .tac file).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from twisted.trial import unittest

from tests.hostile.health import fdCount
from tests.hostile.peer import (
    PROC_AUTH_LIST,
    PROC_LOOKUP_BY_NAME,
    Closed,
    RawPeer,
    frame,
    secondClient,
    xstring,
)
from tests.support import removeTree, shortTempDir
from tests.test_server_fixture import inThread

TAC = """
import time
from twisted.application import service
from virtd.server.config import ServerConfig
from virtd.server.handlers import HANDLERS
from virtd.server.service import VirtdService

handlers = dict(HANDLERS)

def hang(ctx, args):
    time.sleep(3600)  # a hypervisor call that never returns

handlers["DOMAIN_GET_INFO"] = hang
config = ServerConfig(unix={sock!r}, shutdownGrace=1.0)
application = service.Application("virtd")
VirtdService(config, handlers=handlers).setServiceParent(application)
"""

TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")


class SigtermTests(unittest.TestCase):

    timeout = 60

    def scenario(self) -> dict:
        directory = shortTempDir("vds")
        self.addCleanup(removeTree, directory)
        sock = os.path.join(directory, "sock")
        tac = os.path.join(directory, "hang.tac")
        with open(tac, "w") as f:
            f.write(TAC.format(sock=sock))
        log = os.path.join(directory, "twistd.log")
        proc = subprocess.Popen(
            [TWISTD, "-n", "-y", tac, "--pidfile", "", "-l", log],
            cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        deadline = time.monotonic() + 20
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.05)
        secondClient(sock, 5.0)
        time.sleep(0.2)
        out = {"baseFds": fdCount(proc.pid)}
        # Hostile frames, then the fds of the daemon process.
        for data in (frame(PROC_AUTH_LIST, length=3),
                     frame(PROC_AUTH_LIST, length=0xFFFFFFFF),
                     b"GET / HTTP/1.1\r\n\r\n"):
            with RawPeer(sock) as peer:
                peer.send(data)
                peer.expectClosed(3)
        secondClient(sock, 1.0)
        for _ in range(40):
            if fdCount(proc.pid) <= out["baseFds"]:
                break
            time.sleep(0.05)
        out["afterFds"] = fdCount(proc.pid)
        # One client with a hung call, one idle.
        hung = RawPeer(sock, 10)
        hung.handshake()
        dom = hung.roundtrip(PROC_LOOKUP_BY_NAME, xstring("test"))[1]
        hung.call(16, dom)
        idle = RawPeer(sock, 10)
        time.sleep(0.3)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        for peer in (hung, idle):
            try:
                peer.reply(5)
                out.setdefault("answered", 0)
            except Closed:
                pass
            peer.close()
        out["closedAfter"] = time.monotonic() - start
        time.sleep(0.2)
        try:
            RawPeer(sock, 1).close()
            out["listening"] = True
        except OSError:
            out["listening"] = False
        out["rc"] = proc.wait(10)
        out["exitAfter"] = time.monotonic() - start
        with open(log) as f:
            out["log"] = f.read()
        return out

    def test_sigtermWithHungCall(self):
        d = inThread(self.scenario)

        def check(out):
            self.assertLessEqual(out["afterFds"], out["baseFds"])
            self.assertNotIn("answered", out)
            self.assertLess(out["closedAfter"], 1.0)
            self.assertFalse(out["listening"])
            # twistd re-raises the signal it stopped for, once stopped.
            self.assertIn(out["rc"], (0, -signal.SIGTERM), out["log"][-3000:])
            self.assertIn("Server Shut Down", out["log"])
            # Grace 1 s, plus twistd's own start-to-exit overhead.
            self.assertLess(out["exitAfter"], 3.0, out["log"][-2000:])
            self.assertIn("libvirt calls still running", out["log"])
            self.assertIn("virtd stopped", out["log"])

        return d.addCallback(check)
