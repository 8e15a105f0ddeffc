"""
Twisted endpoint-string plugin: C{clientFromString(reactor, "virtd:<name>")}
gives the endpoint for a virtd connection name (a libvirt URI or a
C{remote:} name), as L{virtd.transports.endpointFor} builds it.

Grammar (Twisted's endpoint strings split on C{:} and treat C{key=value}
segments as keywords, with C{\\} escaping the next character)::

    virtd:<name>[:key=value]...

  - the colon-separated segments without C{=} are joined back with C{:}, so
    colons inside the name need no escaping;
  - C{=} and C{\\} inside the name must be escaped (C{\\=}, C{\\\\}); write
    URI parameters and C{remote:} variables as trailing C{key=value}
    segments instead, which are added to the name (as C{?key=value} /
    C{&key=value} for URIs, as C{ key=value} variables for C{remote:}
    names); a colon inside such a value is written C{\\:};
  - the keywords C{readonly=1} (use the read-only socket) and
    C{timeout=<seconds>} are for the endpoint itself.

Examples::

    virtd:test+tcp://127.0.0.1:16509/default
    virtd:test+unix:///default:socket=/run/libvirt/libvirt-sock:readonly=1
    virtd:qemu+tls://host/system:pkipath=/etc/pki/me
    virtd:remote:ssh:myserver:name=qemud
    virtd:remote\\:tls\\:host

The parser imports virtd lazily, so plugin discovery stays cheap.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from twisted.internet.interfaces import IStreamClientEndpointStringParserWithReactor
from twisted.plugin import IPlugin
from zope.interface import implementer

_ENDPOINT_KEYS = ("readonly", "timeout")


def _nameFromDescription(args: tuple[str, ...], kwargs: dict[str, str]) -> str:
    name = ":".join(args)
    params = [(k, v) for k, v in kwargs.items() if k not in _ENDPOINT_KEYS]
    if not params:
        return name
    if name.startswith("remote:") and not name.startswith("remote:///"):
        return name + "".join(f" {k}={quote(v, safe='/:@,')}" for k, v in params)
    base, hashMark, fragment = name.partition("#")
    query = "&".join(f"{k}={quote(v, safe='/:@,')}" for k, v in params)
    base += ("&" if "?" in base else "?") + query
    return base + hashMark + fragment


@implementer(IPlugin, IStreamClientEndpointStringParserWithReactor)
class VirtdEndpointParser:
    """
    The C{virtd:} client endpoint prefix.
    """

    prefix = "virtd"

    def parseStreamClient(self, reactor: Any, *args: str, **kwargs: str) -> Any:
        """
        @return: the endpoint for the described name.
        @raise LibvirtError: for a malformed name.
        """
        from virtd.transports import endpointFor
        from virtd.uri import parse

        readonly = kwargs.get("readonly", "0").lower() in ("1", "yes", "true")
        timeout = float(kwargs.get("timeout", "30"))
        name = parse(_nameFromDescription(args, kwargs))
        return endpointFor(reactor, name, readonly, timeout=timeout)


virtdEndpointParser = VirtdEndpointParser()
