"""
L{ConnectionName}, what both name syntaxes parse to, with the transports it
can name and their default ports.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

__all__ = ["ConnectionName", "Params", "TRANSPORTS", "DEFAULT_PORTS"]

TRANSPORTS = ("unix", "tls", "tcp", "ssh", "libssh", "libssh2", "ext")
DEFAULT_PORTS = {"tls": 16514, "tcp": 16509, "ssh": 22, "libssh": 22, "libssh2": 22}


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
