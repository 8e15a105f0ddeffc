"""
libvirt URIs, C{driver[+transport]://[user@][host][:port]/[path][?params]}
(syntax 2 in the L{virtd.uri} docstring), read as libvirt 9.0's remote
driver reads them.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

from virtd.uri.connectionname import DEFAULT_PORTS, TRANSPORTS, ConnectionName, Params
from virtd.uri.options import CONSUMED_PARAMS, _checkParams, _invalid

__all__: list[str] = []



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
