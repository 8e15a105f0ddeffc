"""
virtd: libvirt's remote access rebuilt natively on Twisted.

C{virtd.connect(name)} opens a client connection (see L{virtd.client});
C{virtd.LibvirtError} is the error every failure carries. The client is
imported on first use, so C{import virtd} stays light.
"""

from typing import Any

from virtd.errors import LibvirtError

__all__ = ["LibvirtError", "connect"]


def connect(name: str | None = None, readonly: bool = False,
            reactor: Any = None, keepalive: Any = (5, 6),
            timeout: float | None = None) -> Any:
    """
    Open a connection; see L{virtd.client.connect.connect}.

    @return: a Deferred firing with a L{virtd.client.Connection}.
    """
    from virtd.client.connect import connect as _connect

    return _connect(name, readonly=readonly, reactor=reactor,
                    keepalive=keepalive, timeout=timeout)
