"""
L{Handle}: what every object handle (domain, network, pool, ...) shares,
and L{deferred}, which makes an C{async def} method return a L{Deferred}.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred

if TYPE_CHECKING:
    from virtd.client.connection import Connection

__all__ = ["Handle", "deferred"]


def deferred(function: Callable[..., Coroutine[Any, Any, Any]]
             ) -> Callable[..., Deferred]:
    """
    Decorate an C{async def} method so that calling it returns a
    L{Deferred} (cancelling it cancels the call being awaited).
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Deferred:
        return Deferred.fromCoroutine(function(*args, **kwargs))

    return wrapper


class Handle:
    """
    A reference to one object on the server, as libvirt-python's C{vir*}
    classes: it holds the wire identity the server sent and the connection
    it came from. Accessors of that identity (C{name()}, C{UUID()}, ...)
    are local and return plain values; everything else returns a
    L{Deferred}.

    @ivar _conn: the owning connection.
    @ivar _ref: the C{remote_nonnull_*} value identifying the object.
    """

    __slots__ = ("_conn", "_ref", "_payloads")

    def __init__(self, conn: Connection, ref: Any) -> None:
        self._conn = conn
        self._ref = ref
        # Encoded arguments of this handle's argument-less calls, by
        # procedure (see virtd.client.calls.rpc).
        self._payloads: dict[str, tuple[Any, bytes]] | None = None

    def _connection(self) -> Connection:
        return self._conn

    def _wireRef(self) -> tuple:
        """
        The wire arguments that name this object, leading every call on it.
        """
        return (self._ref,)

    def connect(self) -> Connection:
        """
        The connection this handle belongs to (libvirt-python's
        C{connect()}; local).
        """
        return self._conn

    def __eq__(self, other: object) -> bool:
        return (type(other) is type(self)
                and other._conn is self._conn  # type: ignore[attr-defined]
                and other._ref == self._ref)  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), id(self._conn), self._ref))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._ref!r}>"
