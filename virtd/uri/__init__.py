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

Import every name from here (C{from virtd.uri import parse}); the code
lives in:

  - L{virtd.uri.connectionname}: L{ConnectionName}, L{TRANSPORTS},
    L{DEFAULT_PORTS};
  - L{virtd.uri.remotenames}: syntax 1 and L{UnknownVariableWarning};
  - L{virtd.uri.libvirturis}: syntax 2;
  - L{virtd.uri.options}: the parameters both share (L{CONSUMED_PARAMS});
  - L{virtd.uri.sockets}: L{socketPath}, L{isUserSession}, L{openFlags}.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from virtd.uri.connectionname import DEFAULT_PORTS, TRANSPORTS, ConnectionName
from virtd.uri.connectionname import Params as Params
from virtd.uri.libvirturis import _parseURI
from virtd.uri.options import CONSUMED_PARAMS, _invalid
from virtd.uri.remotenames import SEED_PROTOCOLS as SEED_PROTOCOLS
from virtd.uri.remotenames import UnknownVariableWarning, _isSeed, _parseSeed
from virtd.uri.sockets import (
    REMOTE_DRIVER_OPEN_AUTOSTART,
    REMOTE_DRIVER_OPEN_RO,
    REMOTE_DRIVER_OPEN_USER,
    isUserSession,
    openFlags,
    socketPath,
)
from virtd.uri.sockets import SYSTEM_SOCKET_DIR as SYSTEM_SOCKET_DIR

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
