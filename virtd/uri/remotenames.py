"""
The original design's C{remote:<protocol>:<path> var=value ...} names
(syntax 1 in the L{virtd.uri} docstring), and how to tell one from a
libvirt URI.
"""

from __future__ import annotations

import re
import warnings
from urllib.parse import unquote_plus

from twisted.logger import Logger

from virtd.uri.connectionname import DEFAULT_PORTS, ConnectionName, Params
from virtd.uri.options import CONSUMED_PARAMS, _checkParams, _invalid

__all__ = ["UnknownVariableWarning"]

# The namespace these messages had before virtd.uri was split into modules.
_log = Logger(namespace="virtd.uri")

SEED_PROTOCOLS = ("tls", "unix", "ssh", "ext", "tcp")


class UnknownVariableWarning(UserWarning):
    """
    A C{remote:} name carried a variable virtd does not know; it was ignored.
    """


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _unescapeSeed(text: str, what: str, original: str) -> str:
    if _BAD_ESCAPE.search(text):
        raise _invalid(
            f"bad %-escape in {what} {text!r} of {original!r}: write a percent "
            f"sign as %25 and other characters as %XX (two hex digits)"
        )
    return unquote_plus(text)


def _parsePort(text: str, original: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise _invalid(
            f"port {text!r} in {original!r} is not a number between 1 and 65535"
        )
    return int(text)


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
