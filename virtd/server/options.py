"""
The C{twistd virtd} command line.

Every option has libvirtd's default (see C{libvirtd.conf}); C{twistd -n
virtd --help} explains each. L{Options.toConfig} turns the parsed options
into a L{ServerConfig}.
"""

from __future__ import annotations

from twisted.python import usage

from virtd.server.config import DEFAULT_URI, ServerConfig, defaultSocketDir
from virtd.server.limits import (
    DEFAULT_AUTH_TIMEOUT,
    DEFAULT_MAX_CLIENT_OUTPUT,
    MIN_CLIENT_OUTPUT,
)

__all__ = ["Options"]


def _mode(value: str) -> int:
    try:
        mode = int(value, 8)
    except ValueError:
        raise usage.UsageError(
            f"socket mode {value!r} is not an octal number such as 0770"
        ) from None
    if not 0 <= mode <= 0o777:
        raise usage.UsageError(f"socket mode {value!r} is outside 0000-0777")
    return mode


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise usage.UsageError(f"port {value!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise usage.UsageError(f"port {port} is outside 0-65535")
    return port


def _count(name: str, minimum: int):
    def check(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise usage.UsageError(
                f"--{name} wants a whole number, got {value!r}") from None
        if n < minimum:
            raise usage.UsageError(f"--{name} must be at least {minimum}")
        return n

    check.coerceDoc = f"(a whole number, at least {minimum})"  # type: ignore[attr-defined]
    return check


def _seconds(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise usage.UsageError(f"{value!r} is not a number of seconds") from None


_mode.coerceDoc = "(octal)"  # type: ignore[attr-defined]


class Options(usage.Options):
    """
    Options of C{twistd virtd}.
    """

    synopsis = "[options]"
    longdesc = (
        "virtd serves libvirt's RPC protocol (libvirt 9.x) so that virsh, "
        "libvirt-python and virt-manager can manage this host's hypervisor "
        "through it; every call is carried out through libvirt-python. "
        "With no listener option it listens on the unix sockets "
        f"{defaultSocketDir()}/virtd-sock (read-write) and virtd-sock-ro "
        "(read-only), which do not collide with a running libvirtd. "
        "Example: twistd -n virtd --unix /tmp/v/sock --unix-ro /tmp/v/sock-ro, "
        "then virsh -c 'test+unix:///default?socket=/tmp/v/sock' list --all")

    optParameters = [
        ["unix", None, None,
         "Read-write unix socket PATH (clients: "
         "'test+unix:///default?socket=PATH'). A stale socket left by a "
         "dead daemon is replaced; a live one is an error."],
        ["unix-ro", None, None,
         "Read-only unix socket PATH: every client on it is read-only, "
         "whatever it asks for."],
        ["unix-mode", None, "0770",
         "Permission bits of the read-write socket (libvirtd: "
         "unix_sock_rw_perms).", _mode],
        ["unix-ro-mode", None, "0777",
         "Permission bits of the read-only socket (libvirtd: "
         "unix_sock_ro_perms).", _mode],
        ["tls-port", None, None,
         "Listen for TLS on this TCP port (conventionally 16514); off "
         "unless given. Needs --pki-path or libvirt's system PKI files.",
         _port],
        ["tcp-port", None, None,
         "Listen for plain, unauthenticated TCP on this port "
         "(conventionally 16509); off unless given. Anyone who can reach "
         "it controls the hypervisor: bind it to loopback.", _port],
        ["listen-addr", None, "",
         "Address the TCP and TLS listeners bind (default: all "
         "interfaces)."],
        ["pki-path", None, None,
         "Directory with cacert.pem, servercert.pem, serverkey.pem and "
         "optionally cacrl.pem. Default: libvirt's layout, "
         "/etc/pki/CA/cacert.pem, /etc/pki/libvirt/servercert.pem, "
         "/etc/pki/libvirt/private/serverkey.pem."],
        ["uri", None, DEFAULT_URI,
         "The hypervisor a client gets when it names none (a client "
         "connecting with 'remote:///' or no URI)."],
        ["workers", None, 20,
         "Worker threads for libvirt calls (libvirtd: max_workers).",
         _count("workers", 1)],
        ["prio-workers", None, 5,
         "Extra worker threads that run only high-priority calls (lookups, "
         "lists, open/close) when the normal workers are all busy "
         "(libvirtd: prio_workers).", _count("prio-workers", 1)],
        ["awake-workers", None, 2,
         "Worker threads woken for calls at once; further calls wait for "
         "one of them to finish, and one more thread is woken whenever they "
         "all make no progress for 2 ms (a slow hypervisor call), up to "
         "--workers. Only one thread runs Python at a time, so waking more "
         "for quick calls only adds thread hand-offs (see "
         "docs/benchmarks.rst).", _count("awake-workers", 1)],
        ["max-clients", None, 5000,
         "Concurrent clients; at the limit the daemon stops accepting until "
         "one leaves (libvirtd: max_clients).", _count("max-clients", 1)],
        ["max-client-requests", None, 5,
         "Calls one client may have in flight; beyond that its socket is "
         "not read until one finishes (libvirtd: max_client_requests).",
         _count("max-client-requests", 1)],
        ["keepalive-interval", None, 5,
         "Seconds of silence from a client that asked for keepalive before "
         "the daemon sends it a PING; -1 disables daemon PINGs "
         "(libvirtd: keepalive_interval).", _count("keepalive-interval", -1)],
        ["keepalive-count", None, 5,
         "Unanswered PINGs before such a client is dropped, i.e. after "
         "interval * (count + 1) seconds of silence (libvirtd: "
         "keepalive_count).", _count("keepalive-count", 0)],
        ["tls-handshake-timeout", None, 10.0,
         "Seconds a TLS client has to finish the handshake and the "
         "certificate checks (libvirtd has no such limit).", _seconds],
        ["backlog", None, 1000,
         "Length of the kernel's queue of connections not yet accepted "
         "(libvirtd: max_queued_clients).", _count("backlog", 1)],
        ["frame-timeout", None, 60.0,
         "Seconds a client has to send the rest of a frame once it has "
         "started one; a slow drip of bytes does not extend it; 0 disables "
         "(libvirtd has no such limit).", _seconds],
        ["max-client-output", None, DEFAULT_MAX_CLIENT_OUTPUT,
         "Bytes of replies and events that may wait for one client to read "
         "them; a client that lets more pile up is dropped, with a log line "
         "(libvirtd has no such limit).",
         _count("max-client-output", MIN_CLIENT_OUTPUT)],
        ["auth-timeout", None, DEFAULT_AUTH_TIMEOUT,
         "Seconds a client has from connecting to opening its hypervisor "
         "connection (authentication, then CONNECT_OPEN); one that has not "
         "by then is dropped; 0 disables (libvirtd has no such limit).",
         _seconds],
        ["shutdown-grace", None, 5.0,
         "Seconds to let in-flight calls finish when the daemon stops.",
         _seconds],
    ]

    optFlags = [
        ["no-batch-workers", None,
         "Run worker threads under the default scheduling policy. By default "
         "they run as SCHED_BATCH (Linux), so that a worker woken for a call "
         "does not preempt the event loop that woke it (see "
         "docs/benchmarks.rst)."],
        ["no-follow-cpu", None,
         "Let worker threads run on any CPU. By default they are kept on the "
         "CPU the event loop runs on (Linux), as handing the interpreter "
         "lock across CPUs costs more than the CPUs gain (see "
         "docs/benchmarks.rst)."],
        ["twisted-reactor", None,
         "Run on twistd's default reactor. By default, when twistd is not "
         "given --reactor, virtd installs its own subclass of Twisted's "
         "epoll reactor, which skips the legacy log context Twisted sets "
         "up around every event (see docs/benchmarks.rst)."],
        ["no-inline-priority", None,
         "Run every call in a worker thread. By default high-priority calls "
         "(lookups, lists) run on the event loop when the hypervisor cannot "
         "block: only libvirt's test driver (test:///...), never another."],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []
        self["listen-ro"] = []
        self["allowed-dn"] = None
        self["allow-uri"] = []

    def opt_listen(self, endpoint: str) -> None:
        """
        Also serve read-write clients on this Twisted server endpoint string
        (repeatable), e.g. tcp:16509:interface=127.0.0.1,
        unix:/run/x.sock:mode=660, or systemd:domain=UNIX:index=0 for
        systemd socket activation.
        """
        self["listen"].append(endpoint)

    def opt_listen_ro(self, endpoint: str) -> None:
        """
        Like --listen, but every client on it is read-only (repeatable).
        """
        self["listen-ro"].append(endpoint)

    def opt_allowed_dn(self, pattern: str) -> None:
        """
        Accept only TLS clients whose certificate DN matches this glob
        (repeatable; libvirtd: tls_allowed_dn_list), e.g.
        'C=GB,O=virtd,CN=*'. Without it any certificate signed by the CA
        is accepted.
        """
        if self["allowed-dn"] is None:
            self["allowed-dn"] = []
        self["allowed-dn"].append(pattern)

    def opt_allow_uri(self, pattern: str) -> None:
        """
        Let clients open only hypervisor URIs matching this glob
        (repeatable), e.g. 'test:///*'. A URI naming a remote host or
        transport is always refused.
        """
        self["allow-uri"].append(pattern)

    def postOptions(self) -> None:
        # usage.Options does not coerce defaults; the modes' defaults are
        # written in octal for --help.
        for key in ("unix-mode", "unix-ro-mode"):
            if isinstance(self[key], str):
                self[key] = _mode(self[key])
        if self["tls-handshake-timeout"] <= 0:
            raise usage.UsageError("--tls-handshake-timeout must be positive")
        if self["frame-timeout"] < 0:
            raise usage.UsageError("--frame-timeout must not be negative")
        if self["auth-timeout"] < 0:
            raise usage.UsageError("--auth-timeout must not be negative")
        if self["shutdown-grace"] < 0:
            raise usage.UsageError("--shutdown-grace must not be negative")
        self.config = self.toConfig()

    def toConfig(self) -> ServerConfig:
        """
        @return: the parsed options as a L{ServerConfig}, with the default
            sockets when no listener was named.
        """
        return ServerConfig(
            unix=self["unix"],
            unixRO=self["unix-ro"],
            unixMode=self["unix-mode"],
            unixROMode=self["unix-ro-mode"],
            tcpPort=self["tcp-port"],
            tlsPort=self["tls-port"],
            listenAddr=self["listen-addr"],
            pkiPath=self["pki-path"],
            allowedDNs=self["allowed-dn"],
            listen=list(self["listen"]),
            listenRO=list(self["listen-ro"]),
            uri=self["uri"],
            allowURIs=list(self["allow-uri"]),
            workers=self["workers"],
            prioWorkers=self["prio-workers"],
            awakeWorkers=self["awake-workers"],
            batchWorkers=not self["no-batch-workers"],
            followCPU=not self["no-follow-cpu"],
            maxClients=self["max-clients"],
            maxClientRequests=self["max-client-requests"],
            keepaliveInterval=self["keepalive-interval"],
            keepaliveCount=self["keepalive-count"],
            tlsHandshakeTimeout=self["tls-handshake-timeout"],
            backlog=self["backlog"],
            shutdownGrace=self["shutdown-grace"],
            inlinePriority=not self["no-inline-priority"],
            frameTimeout=self["frame-timeout"] or None,
            maxClientOutput=self["max-client-output"],
            authTimeout=self["auth-timeout"] or None,
        ).withDefaults()


# twistd prints docstrings verbatim: fold their line breaks and indentation.
for _name in dir(Options):
    if _name.startswith("opt_") and getattr(Options, _name).__doc__:
        _method = getattr(Options, _name)
        _method.__doc__ = " ".join(_method.__doc__.split())
