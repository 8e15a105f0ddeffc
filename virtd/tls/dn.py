"""
Client DNs as libvirt writes and matches them: L{certificateDN} writes a
certificate's subject the way C{tls_allowed_dn_list} entries are written,
and L{dnMatches} checks a DN against such a list of GLib-style globs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["certificateDN", "dnMatches"]


def certificateDN(cert: Any) -> str:
    """
    A certificate's subject as libvirt writes DNs for C{tls_allowed_dn_list}:
    C{KEY=value} pairs in certificate order, joined by commas
    (e.g. C{"C=GB,O=virtd,CN=client1"}).

    @param cert: a pyOpenSSL C{X509} or a cryptography certificate.
    @return: the DN string.
    """
    from virtd.pki import formatDN

    if hasattr(cert, "to_cryptography"):
        cert = cert.to_cryptography()
    return formatDN(cert.subject)


_globCache: dict[str, re.Pattern[str]] = {}


def _glob(pattern: str) -> re.Pattern[str]:
    compiled = _globCache.get(pattern)
    if compiled is None:
        # GLib's simple patterns: '*' any run, '?' one character, nothing else.
        parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
        compiled = re.compile("".join(parts), re.DOTALL)
        _globCache[pattern] = compiled
    return compiled


def dnMatches(dn: str, globs: Iterable[str] | None) -> bool:
    """
    Whether a client DN is allowed by a C{tls_allowed_dn_list}-style list.

    Patterns use libvirt's (GLib's) simple globs: C{*} matches any run of
    characters, C{?} exactly one, everything else itself (case-sensitive,
    no C{[...]} classes). C{None} allows everyone; an empty list denies
    everyone, as in libvirtd.

    @param dn: the DN from L{certificateDN}.
    @param globs: the patterns, or C{None}.
    @return: whether one pattern matches the whole DN.
    """
    if globs is None:
        return True
    return any(_glob(p).fullmatch(dn) for p in globs)
