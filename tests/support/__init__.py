"""
Reusable fixtures for interop tests: real libvirtd, sshd and virsh.

    from tests.support import RealLibvirtd, PrivateSshd, runVirsh

    class Example(unittest.TestCase):
        def test_list(self):
            daemon = RealLibvirtd.forTest(self)          # started; stopped at cleanup
            rc, out, err = runVirsh(daemon.uri("unix"), "list --all")
            self.assertEqual(rc, 0, err)
            self.assertIn(" test ", out)

Everything runs as plain subprocesses, so the fixtures work in C{setUp},
in a test body, or outside trial. Each instance lives in its own short
directory under C{/tmp} (unix socket paths must stay under 108 bytes, which
trial's C{_trial_temp} paths can exceed) and on free 127.0.0.1 ports, so
several can run at once.

  - L{freePort}C{() -> int}
  - L{shortTempDir}C{(prefix="vd") -> str}; remove it with L{removeTree}.
  - L{RealLibvirtd}C{(directory=None, tcp=True, tls=False, serverPki=None,
    clientPki=None, allowedDNs=None, tcpPort=None, tlsPort=None,
    extraConfig=None)}: C{.start()}, C{.stop()}, C{.forTest(testCase, **kw)},
    C{.uri("unix" | "tcp" | "tls", readonly=False)}, C{.sock}, C{.sockRO},
    C{.tcpPort}, C{.tlsPort}, C{.serverPki}, C{.clientPki}, C{.caDir}.
  - L{PrivateSshd}C{(directory=None, port=None, user="root")}: C{.start()},
    C{.stop()}, C{.forTest(testCase)}, C{.port}, C{.keyfile},
    C{.knownHostsFile}, C{.sshWrapper}, C{.sshOptions()},
    C{.sshCommand(*remote)}, C{.libvirtURI(socketPath, noVerify=False)}.
  - L{runVirsh}C{(uri, commands, readonly=False, timeout=30) -> (rc, stdout,
    stderr)}; L{runVirshDeferred} (same, in a thread, returns a Deferred).
"""

from tests.support._util import freePort, removeTree, shortTempDir
from tests.support.libvirtd import LibvirtdError, RealLibvirtd
from tests.support.sshd import PrivateSshd, SshdError
from tests.support.virsh import VirshTimeout, runVirsh, runVirshDeferred, virshArgv

__all__ = [
    "LibvirtdError",
    "PrivateSshd",
    "RealLibvirtd",
    "SshdError",
    "VirshTimeout",
    "freePort",
    "removeTree",
    "runVirsh",
    "runVirshDeferred",
    "shortTempDir",
    "virshArgv",
]
