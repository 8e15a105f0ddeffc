"""
The daemon's settings as one value (L{ServerConfig}), built from the twistd
command line (L{virtd.server.options.Options}) or directly in a C{.tac}
file, plus the policy on which hypervisor URIs clients may open.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from urllib.parse import unquote_plus, urlsplit

from virtd.errors import VIR_ERR_OPERATION_DENIED, VIR_FROM_REMOTE, LibvirtError
from virtd.server.limits import DEFAULT_AUTH_TIMEOUT, DEFAULT_MAX_CLIENT_OUTPUT

__all__ = [
    "DEFAULT_URI",
    "ServerConfig",
    "defaultSocketDir",
    "uriRefusal",
]

DEFAULT_URI = "test:///default"

#: The system PKI layout libvirtd uses when no pkipath is given.
SYSTEM_CA = "/etc/pki/CA/cacert.pem"
SYSTEM_CRL = "/etc/pki/CA/cacrl.pem"
SYSTEM_CERT = "/etc/pki/libvirt/servercert.pem"
SYSTEM_KEY = "/etc/pki/libvirt/private/serverkey.pem"


def defaultSocketDir() -> str:
    """
    Where the unix sockets go when no listener is named: C{/run/virtd} for
    root, C{$XDG_RUNTIME_DIR/virtd} (or C{~/.cache/virtd}) otherwise.
    Never libvirt's own directory, so a running libvirtd is left alone.
    """
    if os.geteuid() == 0:
        return "/run/virtd"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "virtd")
    return os.path.join(os.path.expanduser("~"), ".cache", "virtd")


@dataclass
class ServerConfig:
    """
    Everything the daemon needs to know, with libvirtd's defaults.

    @ivar unix: read-write unix socket path, or C{None}.
    @ivar unixRO: read-only unix socket path, or C{None}.
    @ivar unixMode: permission bits of the read-write socket.
    @ivar unixROMode: permission bits of the read-only socket.
    @ivar tcpPort: plain TCP port, or C{None} for no TCP listener.
    @ivar tlsPort: TLS port, or C{None} for no TLS listener.
    @ivar listenAddr: the address the TCP/TLS listeners bind (C{""} = all).
    @ivar pkiPath: directory with C{cacert.pem}, C{servercert.pem},
        C{serverkey.pem} (optional C{cacrl.pem}); C{None} = libvirt's system
        layout.
    @ivar allowedDNs: glob patterns a TLS client's DN must match; C{None}
        allows any certificate signed by the CA.
    @ivar listen: extra read-write Twisted endpoint strings.
    @ivar listenRO: extra read-only Twisted endpoint strings.
    @ivar uri: the hypervisor a client gets when it names none.
    @ivar allowURIs: glob patterns restricting the URIs clients may open
        (empty = any local URI).
    @ivar workers: threads for ordinary calls (libvirtd C{max_workers}).
    @ivar prioWorkers: extra threads for C{@priority high} calls.
    @ivar awakeWorkers: ordinary-call threads woken at once (more only
        when those stall; see L{virtd.server.pool.WorkerPool}); C{None}
        for all of C{workers}.
    @ivar batchWorkers: run worker threads under Linux's C{SCHED_BATCH}, so
        that a worker woken for a call does not preempt the event loop (see
        L{virtd.server.pool}).
    @ivar followCPU: keep worker threads on the CPU the reactor thread runs
        on (see L{virtd.server.affinity}).
    @ivar maxClients: concurrent clients before accepting pauses.
    @ivar maxClientRequests: in-flight calls per client before its socket
        is no longer read.
    @ivar keepaliveInterval: seconds of silence before the daemon PINGs a
        client that asked for keepalive; <= 0 disables daemon PINGs.
    @ivar keepaliveCount: unanswered PINGs before the client is dropped.
    @ivar tlsHandshakeTimeout: seconds a TLS client has to complete the
        handshake and certificate checks.
    @ivar backlog: the listen() queue length (libvirtd
        C{max_queued_clients}).
    @ivar shutdownGrace: seconds to let in-flight calls finish at stop.
    @ivar frameTimeout: seconds within which a frame must arrive completely
        once its first byte is here (a slow drip does not extend it);
        C{None} for no limit.
    @ivar maxClientOutput: bytes of replies and events that may wait for a
        client to read them before it is dropped.
    @ivar authTimeout: seconds a client has from connecting to opening its
        hypervisor connection; C{None} for no limit.
    """

    unix: str | None = None
    unixRO: str | None = None
    unixMode: int = 0o770
    unixROMode: int = 0o777
    tcpPort: int | None = None
    tlsPort: int | None = None
    listenAddr: str = ""
    pkiPath: str | None = None
    allowedDNs: list[str] | None = None
    listen: list[str] = field(default_factory=list)
    listenRO: list[str] = field(default_factory=list)
    uri: str = DEFAULT_URI
    allowURIs: list[str] = field(default_factory=list)
    workers: int = 20
    prioWorkers: int = 5
    awakeWorkers: int | None = 2
    batchWorkers: bool = True
    followCPU: bool = True
    maxClients: int = 5000
    maxClientRequests: int = 5
    keepaliveInterval: float = 5
    keepaliveCount: int = 5
    tlsHandshakeTimeout: float = 10.0
    backlog: int = 1000
    shutdownGrace: float = 5.0
    frameTimeout: float | None = 60.0
    #: Run C{@priority high} calls on the reactor thread when the backend
    #: cannot block (the test driver); off here, on from the command line
    #: unless C{--no-inline-priority} (see docs/benchmarks.rst).
    inlinePriority: bool = False
    maxClientOutput: int = DEFAULT_MAX_CLIENT_OUTPUT
    authTimeout: float | None = DEFAULT_AUTH_TIMEOUT

    def anyListener(self) -> bool:
        """
        @return: whether some listener was named explicitly.
        """
        return bool(self.unix or self.unixRO or self.tcpPort is not None
                    or self.tlsPort is not None or self.listen
                    or self.listenRO)

    def withDefaults(self) -> ServerConfig:
        """
        @return: this configuration, with the default unix sockets filled in
            when no listener at all was named.
        """
        if self.anyListener():
            return self
        directory = defaultSocketDir()
        from dataclasses import replace

        return replace(self, unix=os.path.join(directory, "virtd-sock"),
                       unixRO=os.path.join(directory, "virtd-sock-ro"))

    def pkiFiles(self) -> tuple[str, str, str, str | None]:
        """
        @return: the paths of the CA certificate, server certificate,
            server key and CRL (C{None} when there is none).
        """
        if self.pkiPath:
            crl = os.path.join(self.pkiPath, "cacrl.pem")
            return (os.path.join(self.pkiPath, "cacert.pem"),
                    os.path.join(self.pkiPath, "servercert.pem"),
                    os.path.join(self.pkiPath, "serverkey.pem"),
                    crl if os.path.exists(crl) else None)
        return (SYSTEM_CA, SYSTEM_CERT, SYSTEM_KEY,
                SYSTEM_CRL if os.path.exists(SYSTEM_CRL) else None)


def _denied(detail: str) -> LibvirtError:
    return LibvirtError.fromCode(VIR_ERR_OPERATION_DENIED, VIR_FROM_REMOTE,
                                 detail)


#: Query parameters only libvirt's remote driver reads (wire facts 9.3):
#: on a local URI they make the daemon's own libvirt dial another socket
#: (C{socket}, C{mode}), ask that daemon for another URI (C{name}) or read
#: files the client names (C{pkipath}, C{keyfile}, C{authfile}).
REMOTE_DRIVER_PARAMETERS = frozenset({
    "name", "command", "socket", "netcat", "keyfile", "no_verify", "no_tty",
    "pkipath", "known_hosts", "known_hosts_verify", "sshauth", "mode",
    "proxy", "tls_priority", "auth", "authfile", "no_sanity",
})


def _parameterNames(query: str) -> set[str]:
    # Names unescaped and compared without regard to case, as libvirt does.
    # libvirt splits pairs at "&", and at ";" where no "&" follows;
    # splitting at both finds every name it could see, and a few more.
    return {unquote_plus(pair.partition("=")[0]).lower()
            for pair in re.split("[&;]", query) if pair}


def uriRefusal(uri: str, allowURIs: list[str]) -> LibvirtError | None:
    """
    Decide whether a client may open C{uri} through this daemon.

    A URI naming a host or a transport (C{qemu+ssh://h/system},
    C{test://host/default}), the C{remote} driver or a parameter of the
    remote driver (C{qemu:///system?socket=/elsewhere}) would make the
    daemon a relay to somewhere else, so it is always refused.

    @param uri: the name from CONNECT_OPEN (after the default is applied).
    @param allowURIs: glob patterns; empty allows every local URI.
    @return: the error to answer with, or C{None} if the URI may be opened.
    """
    try:
        parts = urlsplit(uri)
    except ValueError:
        parts = None
    if parts is None or not parts.scheme or "://" not in uri:
        return _denied(
            f"'{uri}' is not a hypervisor URI; virtd opens local URIs such "
            f"as test:///default or qemu:///system")
    scheme = parts.scheme.lower()
    if "+" in scheme or parts.netloc or scheme == "remote":
        return _denied(
            f"URI '{uri}' names a remote host or transport; virtd only opens "
            f"hypervisors on its own host, so connect to that host directly")
    relaying = sorted(_parameterNames(parts.query) & REMOTE_DRIVER_PARAMETERS)
    if relaying:
        return _denied(
            f"URI '{uri}' sets {', '.join(relaying)}, which only libvirt's "
            f"remote driver reads; virtd opens hypervisors on its own host "
            f"and relays to no other daemon, so leave "
            f"{'it' if len(relaying) == 1 else 'them'} out")
    if allowURIs and not any(fnmatch.fnmatchcase(uri, g) for g in allowURIs):
        return _denied(
            f"URI '{uri}' is not allowed by this daemon (allowed: "
            f"{', '.join(allowURIs)}); ask its administrator to add it with "
            f"--allow-uri")
    return None
