"""
Connection names: the original design's C{remote:} strings and libvirt URIs.

Both syntaxes parse (L{parse}) to one immutable L{ConnectionName} that
L{virtd.transports.endpointFor} turns into a Twisted endpoint.

1. C{remote:<protocol>:<path> var=value var=value ...}

   - C{protocol} is one of C{tls}, C{unix}, C{ssh}, C{ext}, C{tcp};
   - C{path} is C{[user@]hostname[:port]} for tls, ssh and tcp (IPv6
     literals in brackets: C{[::1]:16514}), the socket path for unix (empty
     means the default socket), the program to run for ext;
   - variables are separated by white space; values (and the path) are
     %-escaped like URL form data: C{%20} or C{+} is a space, C{%2b} a plus
     sign, C{%25} a percent sign;
   - C{name=} is the name sent in CONNECT_OPEN (default: the empty string,
     which lets the daemon pick its default driver); C{command=} (ssh) is the
     program run instead of C{ssh}; every libvirt URI parameter (C{socket},
     C{keyfile}, C{pkipath}, C{no_verify}, ...) and C{framing} is accepted
     too; anything else is ignored with an L{UnknownVariableWarning} and a
     log message;
   - shorthands: C{remote:/path} (unix socket C{/path}), C{remote://server}
     (tls), C{remote://server:9000} (tls on port 9000).

2. libvirt URIs C{driver[+transport]://[user@][host][:port]/[path][?params]},
   as libvirt 9.0's remote driver reads them: transport tls when a host is
   given and unix when not; C{remote} as driver asks the daemon to pick;
   parameters matched case-insensitively; the CONNECT_OPEN name derived by
   dropping transport, user, host, port and the parameters the client
   consumes (wire facts section 4.4). C{None} or C{""} means
   C{$LIBVIRT_DEFAULT_URI}, or the local daemon's default when unset.

Default ports: tls 16514, tcp 16509, ssh 22 (ssh's own default: the port
is passed to C{ssh} only when given).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, unquote_plus, urlsplit

from twisted.logger import Logger

from virtd.errors import VIR_ERR_INVALID_ARG, VIR_FROM_REMOTE, LibvirtError

__all__ = [
    "ConnectionName",
    "UnknownVariableWarning",
    "parse",
    "socketPath",
    "openFlags",
    "isUserSession",
    "TRANSPORTS",
    "CONSUMED_PARAMS",
    "DEFAULT_PORTS",
    "REMOTE_DRIVER_OPEN_RO",
    "REMOTE_DRIVER_OPEN_USER",
    "REMOTE_DRIVER_OPEN_AUTOSTART",
]

_log = Logger()

TRANSPORTS = ("unix", "tls", "tcp", "ssh", "libssh", "libssh2", "ext")
SEED_PROTOCOLS = ("tls", "unix", "ssh", "ext", "tcp")
DEFAULT_PORTS = {"tls": 16514, "tcp": 16509, "ssh": 22, "libssh": 22, "libssh2": 22}

# Parameters the client consumes (never forwarded in the CONNECT_OPEN name).
# The first group is libvirt 9.0's; "framing" is virtd's own.
CONSUMED_PARAMS = (
    "name", "command", "socket", "auth", "sshauth", "netcat", "keyfile",
    "pkipath", "known_hosts", "known_hosts_verify", "tls_priority", "mode",
    "proxy", "no_sanity", "no_verify", "no_tty", "authfile", "framing",
)
_INT_PARAMS = ("no_sanity", "no_verify", "no_tty")
_CHOICES = {
    "mode": ("auto", "direct", "legacy"),
    "proxy": ("auto", "netcat", "native"),
    "known_hosts_verify": ("normal", "auto", "ignore"),
    "framing": ("libvirt", "record"),
}

# The client's CONNECT_OPEN flag bits (remote_sockets.h).
REMOTE_DRIVER_OPEN_RO = 1
REMOTE_DRIVER_OPEN_USER = 2
REMOTE_DRIVER_OPEN_AUTOSTART = 4

SYSTEM_SOCKET_DIR = "/var/run/libvirt"


class UnknownVariableWarning(UserWarning):
    """
    A C{remote:} name carried a variable virtd does not know; it was ignored.
    """


class Params(Mapping[str, str]):
    """
    A read-only, hashable mapping of the transport parameters a name set
    (keys in lower case).
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items = dict(items or {})

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self._items) == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"Params({self._items!r})"


@dataclass(frozen=True)
class ConnectionName:
    """
    A parsed connection name.

    @ivar transport: one of L{TRANSPORTS}.
    @ivar user: the user to log in as (ssh family), or C{None}.
    @ivar host: the server (IPv6 without brackets), or C{None} for unix and
        ext; C{"localhost"} when a network transport got no host.
    @ivar port: the TCP port; the transport's default when none was given
        (see C{portGiven}); C{None} for unix and ext.
    @ivar portGiven: whether the name spelled out the port.
    @ivar path: the URI path (e.g. C{"/system"}) for libvirt URIs; for
        C{remote:} names the socket path (unix) or program (ext), else
        C{None}.
    @ivar remoteName: the name to send in CONNECT_OPEN, exactly as libvirt
        derives it (C{""} lets the daemon choose).
    @ivar params: the consumed transport parameters (see L{CONSUMED_PARAMS});
        for C{remote:unix:/p} and C{remote:ext:/p} the path is also
        C{params["socket"]} / C{params["command"]}.
    @ivar forwarded: URI query parameters not consumed, as C{(name, value)}
        pairs, in order (they travel inside C{remoteName}).
    @ivar syntax: C{"remote"} or C{"uri"}.
    @ivar scheme: the full URI scheme (C{"qemu+ssh"}), C{None} for
        C{remote:} names and for "no name given".
    @ivar driver: the scheme without its transport (C{"qemu"}), or C{None}.
    @ivar original: the string that was parsed (after C{LIBVIRT_DEFAULT_URI}
        substitution; C{""} when none was given at all).
    """

    transport: str
    user: str | None = None
    host: str | None = None
    port: int | None = None
    path: str | None = None
    remoteName: str | None = ""
    params: Params = field(default_factory=Params)
    forwarded: tuple[tuple[str, str], ...] = ()
    syntax: str = "uri"
    scheme: str | None = None
    driver: str | None = None
    original: str = ""
    portGiven: bool = False

    @property
    def isSecure(self) -> bool:
        """
        Whether libvirt counts this transport as secure (C{isSecure()}):
        everything except plain tcp and ext.
        """
        return self.transport not in ("tcp", "ext")

    @property
    def isEncrypted(self) -> bool:
        """
        Whether the bytes are encrypted on the wire (tls and the ssh family).
        """
        return self.transport in ("tls", "ssh", "libssh", "libssh2")

    @property
    def recordMarking(self) -> bool:
        """
        Whether C{framing=record} asked for RFC 5531 record marking.
        """
        return self.params.get("framing") == "record"

    def flag(self, key: str) -> bool:
        """
        @param key: an integer parameter such as C{"no_verify"}.
        @return: whether it was given and is non-zero.
        """
        value = self.params.get(key)
        return value is not None and int(value) != 0


def _invalid(message: str) -> LibvirtError:
    return LibvirtError(message, code=VIR_ERR_INVALID_ARG, domain=VIR_FROM_REMOTE)


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _unescapeSeed(text: str, what: str, original: str) -> str:
    if _BAD_ESCAPE.search(text):
        raise _invalid(
            f"bad %-escape in {what} {text!r} of {original!r}: write a percent "
            f"sign as %25 and other characters as %XX (two hex digits)"
        )
    return unquote_plus(text)


def _checkParams(params: dict[str, str], original: str) -> None:
    for key in _INT_PARAMS:
        if key in params:
            try:
                int(params[key], 10)
            except ValueError:
                raise _invalid(
                    f"{key} in {original!r} must be an integer (0 or 1), "
                    f"not {params[key]!r}"
                ) from None
    for key, choices in _CHOICES.items():
        if key in params and params[key].lower() not in choices:
            raise _invalid(
                f"{key}={params[key]!r} in {original!r} is not one of "
                f"{', '.join(choices)}"
            )
        if key in params:
            params[key] = params[key].lower()
    if params.get("proxy") == "native" and "netcat" in params:
        raise _invalid(
            f"netcat= cannot be used with proxy=native in {original!r}: "
            f"virt-ssh-helper needs no netcat"
        )


def _parsePort(text: str, original: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise _invalid(
            f"port {text!r} in {original!r} is not a number between 1 and 65535"
        )
    return int(text)


# ---------------------------------------------------------------------------
# The original design's remote: names


def _splitHostPort(text: str, original: str) -> tuple[str | None, str, int | None]:
    """
    Split C{[user@]host[:port]} (IPv6 in brackets, or bare when it has more
    than one colon and therefore cannot carry a port).
    """
    user = None
    if "@" in text:
        user, _, text = text.rpartition("@")
        if not user:
            raise _invalid(f"empty user name before '@' in {original!r}")
    port: int | None = None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise _invalid(f"unbalanced '[' in host of {original!r}: write [IPv6]:port")
        host, rest = text[1:end], text[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise _invalid(
                    f"unexpected {rest!r} after ']' in {original!r}: write [IPv6]:port"
                )
            port = _parsePort(rest[1:], original)
    elif text.count(":") == 1:
        host, _, portText = text.partition(":")
        port = _parsePort(portText, original)
    else:
        host = text
    if not host:
        raise _invalid(f"no host name in {original!r}: write remote:<protocol>:host[:port]")
    return user, host, port


def _parseSeed(original: str) -> ConnectionName:
    tokens = original.split()
    head, variables = tokens[0], tokens[1:]
    rest = head[len("remote:"):]
    if rest.startswith("//"):
        protocol = "tls"
        hostPart = rest[2:]
        if hostPart.endswith("/"):
            hostPart = hostPart[:-1]
        location = hostPart
    elif rest.startswith("/"):
        protocol, location = "unix", rest
    else:
        protocol, sep, location = rest.partition(":")
        protocol = protocol.lower()
        if not sep or protocol not in SEED_PROTOCOLS:
            raise _invalid(
                f"unknown protocol {protocol!r} in {original!r}: write "
                f"remote:<protocol>:<path> with protocol one of "
                f"{'|'.join(SEED_PROTOCOLS)}"
            )

    params: dict[str, str] = {}
    for token in variables:
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise _invalid(
                f"{token!r} in {original!r} is not a var=value variable "
                f"(escape spaces inside values as + or %20)"
            )
        key = key.lower()
        value = _unescapeSeed(value, f"variable {key}", original)
        if key not in CONSUMED_PARAMS:
            message = (
                f"ignoring unknown variable {key!r} in connection name "
                f"{original!r}"
            )
            warnings.warn(message, UnknownVariableWarning, stacklevel=3)
            _log.warn("ignoring unknown variable {variable!r} in connection name "
                      "{name!r}", variable=key, name=original)
            continue
        params[key] = value

    user = host = None
    port: int | None = None
    path: str | None = None
    if protocol in ("tls", "tcp", "ssh"):
        user, host, port = _splitHostPort(_unescapeSeed(location, "host", original), original)
    elif protocol == "unix":
        path = _unescapeSeed(location, "socket path", original) or None
        if path is not None:
            if "socket" in params and params["socket"] != path:
                raise _invalid(
                    f"{original!r} gives the socket both as path and as socket=; "
                    f"use one"
                )
            params["socket"] = path
    else:  # ext
        path = _unescapeSeed(location, "program", original) or params.get("command")
        if not path:
            raise _invalid(
                f"no program in {original!r}: write remote:ext:/path/to/program"
            )
        if "command" in params and params["command"] != path:
            raise _invalid(
                f"{original!r} gives the program both as path and as command=; use one"
            )
        params["command"] = path

    _checkParams(params, original)
    portGiven = port is not None
    if port is None:
        port = DEFAULT_PORTS.get(protocol)
    return ConnectionName(
        transport=protocol,
        user=user,
        host=host,
        port=port,
        portGiven=portGiven,
        path=path,
        remoteName=params.get("name", ""),
        params=Params(params),
        syntax="remote",
        original=original,
    )


# The seed's tls shorthand: remote://[user@]host[:port][/] and nothing else.
_SEED_TLS = re.compile(r"^remote://[^/?#\s]+/?$")


def _isSeed(name: str) -> bool:
    if not name.startswith("remote:"):
        return False
    head = name.split()[0]
    if head.startswith("remote://"):
        return bool(_SEED_TLS.match(head)) or head != name.strip()
    return True


# ---------------------------------------------------------------------------
# libvirt URIs


def _splitQuery(query: str) -> list[tuple[str, str]]:
    """
    Split a query string the way libvirt 9.0 does: sections end at C{&}, or
    at C{;} when no C{&} follows; names and values are %-unescaped (C{+}
    stays a plus sign); a section without C{=} has an empty value; one
    starting with C{=} is ignored.
    """
    out: list[tuple[str, str]] = []
    while query:
        end = query.find("&")
        if end < 0:
            end = query.find(";")
        if end < 0:
            end = len(query)
        section, query = query[:end], query[end + 1:]
        if not section or section.startswith("="):
            continue
        key, _, value = section.partition("=")
        out.append((unquote(key), unquote(value)))
    return out


def _formatQuery(pairs: tuple[tuple[str, str], ...]) -> str:
    # libvirt writes names as they are and escapes every value character but
    # the unreserved ones.
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in pairs)


def _parseURI(original: str) -> ConnectionName:
    if any(c.isspace() for c in original):
        raise _invalid(
            f"unexpected white space in URI {original!r}: escape spaces as %20"
        )
    parts = urlsplit(original)
    scheme = parts.scheme
    if not scheme or "://" not in original and not original.startswith(scheme + ":/"):
        raise _invalid(
            f"{original!r} is neither a libvirt URI "
            f"(driver[+transport]://[user@][host][:port]/[path][?params]) nor a "
            f"remote:<protocol>:<path> name"
        )
    driver, plus, transport = scheme.partition("+")
    transport = transport.lower()
    try:
        rawHost = parts.hostname
        port = parts.port
    except ValueError as e:
        raise _invalid(f"bad host or port in URI {original!r}: {e}") from None
    host = unquote(rawHost) if rawHost else None
    if port == 0:
        port = None
    user = unquote(parts.username) if parts.username else None
    if user is not None and not host:
        raise _invalid(f"user name without a host in URI {original!r}")

    if plus:
        if transport not in TRANSPORTS:
            raise _invalid(
                f"transport {transport!r} in URI {original!r} not recognised "
                f"(should be {'|'.join(TRANSPORTS)})"
            )
    else:
        transport = "tls" if host else "unix"
    if transport == "unix" and host:
        raise _invalid(
            f"URI {original!r} names host {host!r} but the unix transport "
            f"only reaches the local machine; drop the host or pick "
            f"+tls, +tcp or +ssh"
        )

    params: dict[str, str] = {}
    forwarded: list[tuple[str, str]] = []
    for key, value in _splitQuery(parts.query):
        lowered = key.lower()
        if lowered in CONSUMED_PARAMS:
            params[lowered] = value
        else:
            forwarded.append((key, value))
    _checkParams(params, original)
    if transport == "ext" and not params.get("command"):
        raise _invalid(
            f"the ext transport needs the program to run: add ?command=/path "
            f"to {original!r}"
        )

    if "name" in params:
        remoteName = params["name"]
    elif scheme == "remote" or scheme.startswith("remote+"):
        remoteName = ""
    else:
        remoteName = f"{driver}://{parts.path}"
        if forwarded:
            remoteName += "?" + _formatQuery(tuple(forwarded))
        if parts.fragment:
            remoteName += "#" + parts.fragment

    portGiven = port is not None
    if transport in ("unix", "ext"):
        host = None
        port = None
    else:
        host = host or "localhost"
        if port is None:
            port = DEFAULT_PORTS[transport]
    return ConnectionName(
        transport=transport,
        user=user,
        host=host,
        port=port,
        portGiven=portGiven,
        path=unquote(parts.path) if parts.path else None,
        remoteName=remoteName,
        params=Params(params),
        forwarded=tuple(forwarded),
        syntax="uri",
        scheme=scheme,
        driver=driver,
        original=original,
    )


def parse(name: str | None, environ: Mapping[str, str] | None = None) -> ConnectionName:
    """
    Parse a connection name in either syntax (see the module docstring).

    @param name: a C{remote:} name, a libvirt URI, or C{None}/C{""} for
        C{$LIBVIRT_DEFAULT_URI} (or, when unset, the local daemon's default:
        unix transport, empty CONNECT_OPEN name).
    @param environ: the environment to read C{LIBVIRT_DEFAULT_URI} from
        (default: C{os.environ}).
    @return: the parsed name.
    @raise LibvirtError: (code C{VIR_ERR_INVALID_ARG}, domain
        C{VIR_FROM_REMOTE}) naming the part that is wrong.
    """
    if not name:
        env = os.environ if environ is None else environ
        name = env.get("LIBVIRT_DEFAULT_URI") or None
        if not name:
            return ConnectionName(transport="unix", remoteName="", syntax="uri")
    if not isinstance(name, str):
        raise _invalid(f"a connection name must be a string, not {type(name).__name__}")
    name = name.strip()
    if _isSeed(name):
        return _parseSeed(name)
    return _parseURI(name)


# ---------------------------------------------------------------------------
# Socket paths and CONNECT_OPEN flags


def _euid(euid: int | None) -> int:
    return os.geteuid() if euid is None else euid


def isUserSession(name: ConnectionName, euid: int | None = None) -> bool:
    """
    Whether libvirt treats this name as a user-session connection: a
    non-root caller with a C{/session} path, a C{test+...} scheme, or no
    name at all.

    @param name: the parsed name.
    @param euid: the effective uid to assume (default: ours).
    """
    euid = _euid(euid)
    if euid == 0:
        return False
    if name.syntax == "uri" and name.scheme is None:
        return True  # no URI at all: a normal user probes its session daemon
    return name.path == "/session" or (name.scheme or "").startswith("test+")


def openFlags(name: ConnectionName, readonly: bool = False, *,
              euid: int | None = None,
              environ: Mapping[str, str] | None = None) -> int:
    """
    The C{flags} libvirt's client sends in CONNECT_OPEN for this name
    (wire facts section 4.4): bit 1 read-only, bit 2 user session (non-root
    and a C{/session} path or a C{test+...} scheme), bit 4 autostart.

    @param name: the parsed name.
    @param readonly: whether the connection is read-only.
    @param euid: the effective uid to assume (default: the process's).
    @param environ: where to read C{LIBVIRT_AUTOSTART} (default: C{os.environ}).
    @return: the flags word.
    """
    env = os.environ if environ is None else environ
    flags = REMOTE_DRIVER_OPEN_RO if readonly else 0
    if isUserSession(name, _euid(euid)):
        flags |= REMOTE_DRIVER_OPEN_USER
        if name.transport == "unix" and env.get("LIBVIRT_AUTOSTART", "1") != "0":
            flags |= REMOTE_DRIVER_OPEN_AUTOSTART
    return flags


def _runtimeDir(env: Mapping[str, str]) -> str:
    base = env.get("XDG_RUNTIME_DIR")
    if not base:
        base = os.path.join(env.get("HOME") or os.path.expanduser("~"), ".cache")
    return os.path.join(base, "libvirt")


def socketPath(name: ConnectionName, readonly: bool = False, *,
               euid: int | None = None,
               environ: Mapping[str, str] | None = None,
               exists: Any = os.path.exists) -> str:
    """
    The unix socket a name leads to: the local socket for unix, the socket
    on the far host for the ssh family (what C{nc -U} opens there).

    As libvirt 9.0: C{socket=} wins; otherwise user sessions (see
    L{openFlags}) use C{$XDG_RUNTIME_DIR/libvirt/libvirt-sock} (no read-only
    socket); the system daemon listens on C{/var/run/libvirt/libvirt-sock}
    and C{libvirt-sock-ro}. C{mode=direct} picks the per-driver daemon
    (C{virtqemud-sock}, ...); C{mode=auto} (the default) does so for unix
    when that socket exists, and otherwise uses libvirtd's socket (Debian's
    build default is legacy; over ssh auto always means legacy).

    @param name: the parsed name.
    @param readonly: whether to use the read-only socket.
    @param euid: the effective uid to assume (default: the process's).
    @param environ: the environment (default: C{os.environ}).
    @param exists: the file-existence test (for tests).
    @return: the socket path.
    """
    if "socket" in name.params:
        return name.params["socket"]
    env = os.environ if environ is None else environ
    session = isUserSession(name, _euid(euid))
    directory = _runtimeDir(env) if session else SYSTEM_SOCKET_DIR
    suffix = "-sock" if session or not readonly else "-sock-ro"
    driver = name.driver if name.driver and name.driver != "remote" else "proxy"
    direct = os.path.join(directory, f"virt{driver}d{suffix}")
    legacy = os.path.join(directory, f"libvirt{suffix}")
    mode = name.params.get("mode", "auto")
    if mode == "direct":
        return direct
    if mode == "auto" and name.transport == "unix" and exists(direct):
        return direct
    return legacy
