"""
Tests for L{virtd.uri}: both name syntaxes, remote-name derivation, socket
paths and CONNECT_OPEN flags.
"""

from __future__ import annotations

import dataclasses
import operator
import warnings

from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from virtd.errors import VIR_ERR_INVALID_ARG, VIR_FROM_REMOTE, LibvirtError
from virtd.uri import (
    ConnectionName,
    UnknownVariableWarning,
    isUserSession,
    openFlags,
    parse,
    socketPath,
)

# name -> expected fields (only those listed are checked)
SEED_TABLE = [
    ("remote:tls:myxenserver",
     dict(transport="tls", host="myxenserver", port=16514, portGiven=False,
          remoteName="", syntax="remote")),
    ("remote:unix:/var/run/libvirtd/socket",
     dict(transport="unix", host=None, port=None, path="/var/run/libvirtd/socket",
          params={"socket": "/var/run/libvirtd/socket"}, remoteName="")),
    ("remote:ssh:myserver name=qemud",
     dict(transport="ssh", host="myserver", port=22, remoteName="qemud",
          params={"name": "qemud"})),
    ("remote:ext:/path/cmd",
     dict(transport="ext", path="/path/cmd", params={"command": "/path/cmd"})),
    ("remote:tcp:host:1234",
     dict(transport="tcp", host="host", port=1234, portGiven=True)),
    ("remote:tcp:host", dict(transport="tcp", host="host", port=16509)),
    ("remote:ssh:root@myserver:2222 command=/usr/bin/rsh",
     dict(transport="ssh", user="root", host="myserver", port=2222,
          params={"command": "/usr/bin/rsh"})),
    ("remote:tls:[::1]:9000", dict(transport="tls", host="::1", port=9000)),
    ("remote:tcp:::1", dict(transport="tcp", host="::1", port=16509)),
    ("remote:/path/sock",
     dict(transport="unix", path="/path/sock", params={"socket": "/path/sock"})),
    ("remote://server", dict(transport="tls", host="server", port=16514, remoteName="",
                             syntax="remote")),
    ("remote://server:9000", dict(transport="tls", host="server", port=9000)),
    ("remote://server/", dict(transport="tls", host="server", port=16514)),
    ("remote://server name=test:///default",
     dict(transport="tls", host="server", remoteName="test:///default")),
    ("remote:unix:", dict(transport="unix", path=None, params={})),
    # escapes: %20 and + are spaces, %2b a plus, %25 a percent
    ("remote:tls:h name=a%20b", dict(remoteName="a b")),
    ("remote:tls:h name=a+b", dict(remoteName="a b")),
    ("remote:tls:h name=a%2bb", dict(remoteName="a+b")),
    ("remote:tls:h name=100%25", dict(remoteName="100%")),
    ("remote:unix:/tmp/my%20dir/sock", dict(path="/tmp/my dir/sock")),
    ("remote:tls:h pkipath=/etc/pki/x no_verify=1",
     dict(params={"pkipath": "/etc/pki/x", "no_verify": "1"})),
    ("remote:tcp:h framing=record", dict(params={"framing": "record"})),
    ("remote:ssh:h socket=/s keyfile=/k no_tty=1 netcat=/bin/nc known_hosts=/kh "
     "known_hosts_verify=auto sshauth=privkey proxy=netcat mode=legacy",
     dict(params={"socket": "/s", "keyfile": "/k", "no_tty": "1", "netcat": "/bin/nc",
                  "known_hosts": "/kh", "known_hosts_verify": "auto",
                  "sshauth": "privkey", "proxy": "netcat", "mode": "legacy"})),
    ("remote:tls:h NAME=x", dict(remoteName="x")),
]

URI_TABLE = [
    # transports
    ("test+unix:///default", dict(transport="unix", host=None, port=None,
                                  path="/default", remoteName="test:///default",
                                  driver="test", scheme="test+unix", syntax="uri")),
    ("qemu:///system", dict(transport="unix", remoteName="qemu:///system")),
    ("test+tcp://h/default", dict(transport="tcp", host="h", port=16509,
                                  remoteName="test:///default")),
    ("test+tcp://h:1234/default", dict(port=1234, portGiven=True,
                                       remoteName="test:///default")),
    ("test+tls://h/default", dict(transport="tls", port=16514)),
    ("xen://h/", dict(transport="tls", host="h", remoteName="xen:///")),
    ("test+tls:///default", dict(transport="tls", host="localhost")),
    ("qemu+ssh://root@h:2222/system?foo=1",
     dict(transport="ssh", user="root", host="h", port=2222,
          remoteName="qemu:///system?foo=1", forwarded=(("foo", "1"),))),
    ("qemu+ssh://h/system", dict(port=22, portGiven=False)),
    ("qemu+libssh://h/system", dict(transport="libssh")),
    ("qemu+LIBSSH2://h/system", dict(transport="libssh2")),
    ("test+ext:///default?command=/bin/bridge",
     dict(transport="ext", host=None, params={"command": "/bin/bridge"},
          remoteName="test:///default")),
    ("test+tcp://[::1]:1234/default", dict(host="::1", port=1234)),
    ("test+tcp://[fe80::1]/default", dict(host="fe80::1", port=16509)),
    # remote name derivation (wire facts 4.4)
    ("remote://h/", dict(transport="tls", remoteName="")),
    ("remote+tcp://h/", dict(transport="tcp", remoteName="")),
    ("remote+unix:///", dict(transport="unix", remoteName="")),
    ("test+tcp://h/default?name=qemu:///session",
     dict(remoteName="qemu:///session")),
    ("remote+tcp://h/?name=test:///default", dict(remoteName="test:///default")),
    ("test+tcp://h/default#frag", dict(remoteName="test:///default#frag")),
    ("test+tcp://h/default?a=x%20y&b=1%2b1",
     dict(remoteName="test:///default?a=x%20y&b=1%2B1",
          forwarded=(("a", "x y"), ("b", "1+1")))),
    ("test+tcp://h/default?a=1;b=2", dict(forwarded=(("a", "1"), ("b", "2")))),
    ("test+tcp://h/default?flag&=x&&c=", dict(forwarded=(("flag", ""), ("c", "")),
                                              remoteName="test:///default?flag=&c=")),
    ("test+ssh://u@h:9/default?name=n&command=c&socket=s&auth=sasl&sshauth=agent&"
     "netcat=nc&keyfile=k&pkipath=p&known_hosts=kh&known_hosts_verify=ignore&"
     "tls_priority=NORMAL&mode=direct&proxy=netcat&no_sanity=1&no_verify=1&no_tty=1&"
     "authfile=af&framing=record&keep=me",
     dict(remoteName="n", forwarded=(("keep", "me"),),
          params={"name": "n", "command": "c", "socket": "s", "auth": "sasl",
                  "sshauth": "agent", "netcat": "nc", "keyfile": "k", "pkipath": "p",
                  "known_hosts": "kh", "known_hosts_verify": "ignore",
                  "tls_priority": "NORMAL", "mode": "direct", "proxy": "netcat",
                  "no_sanity": "1", "no_verify": "1", "no_tty": "1", "authfile": "af",
                  "framing": "record"})),
    ("test+tcp://h/default?SOCKET=/x&Foo=Bar",
     dict(params={"socket": "/x"}, remoteName="test:///default?Foo=Bar")),
    ("test+tcp://h/default?pkipath=/a%20b", dict(params={"pkipath": "/a b"})),
]

ERRORS = [
    ("remote:foo:bar", "unknown protocol 'foo'"),
    ("remote:tls:", "no host name"),
    ("remote:tcp:host:port", "port 'port'"),
    ("remote:tcp:host:99999", "port '99999'"),
    ("remote:ext:", "no program"),
    ("remote:tls:h novalue", "'novalue'"),
    ("remote:tls:h name=%zz", "bad %-escape"),
    ("remote:tls:h no_verify=yes", "no_verify"),
    ("remote:unix:/a socket=/b", "socket"),
    ("test+bogus://h/", "transport 'bogus'"),
    ("test+unix://h/default", "unix transport"),
    ("test+ext:///default", "command="),
    ("test+tcp://h:notaport/", "port"),
    ("test+tcp://h/a b", "white space"),
    ("localhost:1234", "neither a libvirt URI"),
    ("justaword", "neither a libvirt URI"),
    ("test+tcp://h/?mode=weird", "mode='weird'"),
    ("test+ssh://h/?proxy=native&netcat=nc", "proxy=native"),
    ("test+tcp://h/?framing=xdr", "framing"),
]


class TableTests(SynchronousTestCase):
    def check(self, table: list) -> None:
        for name, expected in table:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                parsed = parse(name)
            self.assertIsInstance(parsed, ConnectionName)
            self.assertEqual(parsed.original, name)
            for key, value in expected.items():
                got = getattr(parsed, key)
                if key == "params":
                    got = dict(got)
                self.assertEqual(got, value, f"{name!r}: {key}")

    def test_seedNames(self) -> None:
        """
        The original design's names, shorthands and escapes parse as
        documented.
        """
        self.check(SEED_TABLE)

    def test_libvirtURIs(self) -> None:
        """
        libvirt URIs for every transport and parameter, and the CONNECT_OPEN
        name libvirt derives from them.
        """
        self.check(URI_TABLE)

    def test_errors(self) -> None:
        """
        Malformed names raise LibvirtError (INVALID_ARG, REMOTE) saying
        which part is wrong.
        """
        for name, fragment in ERRORS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                e = self.assertRaises(LibvirtError, parse, name)
            self.assertEqual(e.get_error_code(), VIR_ERR_INVALID_ARG, name)
            self.assertEqual(e.get_error_domain(), VIR_FROM_REMOTE, name)
            self.assertIn(fragment, e.get_error_message(), name)

    def test_unknownVariable(self) -> None:
        """
        An unknown variable is ignored with an UnknownVariableWarning and a
        twisted.logger warning.
        """
        events: list[dict] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            parsed = parse("remote:tls:h colour=blue name=x")
        self.assertEqual(dict(parsed.params), {"name": "x"})
        self.assertEqual([w.category for w in caught], [UnknownVariableWarning])
        self.assertIn("colour", str(caught[0].message))
        self.assertTrue(any(e.get("log_level") == LogLevel.warn
                            and "colour" in formatEvent(e) for e in events))

    def test_defaultURI(self) -> None:
        """
        No name means LIBVIRT_DEFAULT_URI, or the local default (unix,
        empty remote name) when it is unset.
        """
        parsed = parse(None, environ={"LIBVIRT_DEFAULT_URI": "test+tcp://h/default"})
        self.assertEqual((parsed.transport, parsed.host, parsed.remoteName),
                         ("tcp", "h", "test:///default"))
        parsed = parse("", environ={})
        self.assertEqual((parsed.transport, parsed.remoteName, parsed.original),
                         ("unix", "", ""))

    def test_immutable(self) -> None:
        """
        The parsed value is frozen, hashable and compares by value.
        """
        a = parse("test+tcp://h/default?socket=/x")
        self.assertEqual(a, parse("test+tcp://h/default?socket=/x"))
        self.assertEqual(hash(a), hash(parse("test+tcp://h/default?socket=/x")))
        self.assertRaises(dataclasses.FrozenInstanceError, setattr, a, "host", "other")
        self.assertRaises(TypeError, lambda: operator.setitem(a.params, "socket", "/y"))

    def test_properties(self) -> None:
        self.assertTrue(parse("test+tcp://h/?framing=record").recordMarking)
        self.assertFalse(parse("test+tcp://h/").recordMarking)
        self.assertFalse(parse("test+tcp://h/").isSecure)
        self.assertFalse(parse("test+ext:///?command=x").isSecure)
        self.assertTrue(parse("test+tls://h/").isSecure)
        self.assertTrue(parse("test+tls://h/?no_verify=1").flag("no_verify"))
        self.assertFalse(parse("test+tls://h/?no_verify=0").flag("no_verify"))


class SocketPathTests(SynchronousTestCase):
    env = {"XDG_RUNTIME_DIR": "/run/user/1000", "HOME": "/home/u"}

    def path(self, name: str, readonly: bool = False, euid: int = 0,
             existing: tuple = ()) -> str:
        return socketPath(parse(name), readonly, euid=euid, environ=self.env,
                          exists=lambda p: p in existing)

    def test_system(self) -> None:
        self.assertEqual(self.path("qemu:///system"), "/var/run/libvirt/libvirt-sock")
        self.assertEqual(self.path("qemu:///system", True),
                         "/var/run/libvirt/libvirt-sock-ro")
        self.assertEqual(self.path("remote:unix:"), "/var/run/libvirt/libvirt-sock")
        self.assertEqual(self.path("qemu+ssh://h/system", True),
                         "/var/run/libvirt/libvirt-sock-ro")

    def test_explicit(self) -> None:
        self.assertEqual(self.path("qemu:///system?socket=/x", True), "/x")
        self.assertEqual(self.path("remote:/y", True), "/y")

    def test_session(self) -> None:
        """
        Non-root /session paths and test+ schemes use the session socket
        (there is no read-only one).
        """
        self.assertEqual(self.path("qemu:///session", True, euid=1000),
                         "/run/user/1000/libvirt/libvirt-sock")
        self.assertEqual(self.path("test+unix:///default", euid=1000),
                         "/run/user/1000/libvirt/libvirt-sock")
        self.assertEqual(self.path("qemu:///system", euid=1000),
                         "/var/run/libvirt/libvirt-sock")
        self.assertEqual(self.path("qemu:///session", euid=0),
                         "/var/run/libvirt/libvirt-sock")

    def test_modes(self) -> None:
        self.assertEqual(self.path("qemu:///system?mode=direct", True),
                         "/var/run/libvirt/virtqemud-sock-ro")
        self.assertEqual(self.path("remote:///?mode=direct"),
                         "/var/run/libvirt/virtproxyd-sock")
        self.assertEqual(
            self.path("qemu:///system", existing=("/var/run/libvirt/virtqemud-sock",)),
            "/var/run/libvirt/virtqemud-sock")
        self.assertEqual(
            self.path("qemu:///system?mode=legacy",
                      existing=("/var/run/libvirt/virtqemud-sock",)),
            "/var/run/libvirt/libvirt-sock")
        # over ssh auto means legacy
        self.assertEqual(
            self.path("qemu+ssh://h/system", existing=("/var/run/libvirt/virtqemud-sock",)),
            "/var/run/libvirt/libvirt-sock")


class OpenFlagsTests(SynchronousTestCase):
    def test_flags(self) -> None:
        """
        CONNECT_OPEN flags as libvirt's client computes them.
        """
        env: dict[str, str] = {}
        self.assertEqual(openFlags(parse("test+tcp://h/default"), euid=0, environ=env), 0)
        self.assertEqual(openFlags(parse("test+tcp://h/default"), euid=1000, environ=env), 2)
        self.assertEqual(openFlags(parse("qemu+tcp://h/system"), True, euid=1000,
                                   environ=env), 1)
        self.assertEqual(openFlags(parse("qemu:///session"), euid=1000, environ=env), 6)
        self.assertEqual(openFlags(parse("qemu:///session"), euid=1000,
                                   environ={"LIBVIRT_AUTOSTART": "0"}), 2)
        self.assertEqual(openFlags(parse("remote:tcp:h"), True, euid=1000, environ=env), 1)
        self.assertTrue(isUserSession(parse("qemu:///session"), 1000))
        self.assertFalse(isUserSession(parse("qemu:///session"), 0))
