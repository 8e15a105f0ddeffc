"""
How a client session reaches the hypervisor: L{IBackend} and the default
implementation on top of libvirt-python.

Only this module (and the handlers) import C{libvirt}; the rest of the
server core stays importable where libvirt-python is absent, and tests can
plug in another backend.
"""

from __future__ import annotations

import threading
from typing import Any

from zope.interface import Interface, implementer

from virtd.errors import LibvirtError

__all__ = ["IBackend", "LibvirtBackend", "convertError"]


class IBackend(Interface):
    """
    Opens and closes the hypervisor connection behind one client session.

    Every method is called in a worker thread and may block.
    """

    def open(uri: str, readonly: bool) -> Any:  # noqa: N805
        """
        Open a hypervisor connection.

        @param uri: a local hypervisor URI such as C{test:///default}.
        @param readonly: open it read-only (C{VIR_CONNECT_RO}).
        @return: the connection handlers receive as C{ctx.conn}.
        @raise LibvirtError: the hypervisor refused.
        """

    def getURI(conn: Any) -> str:  # noqa: N805
        """
        @return: the canonical URI of an open connection.
        """

    def close(conn: Any) -> None:  # noqa: N805
        """
        Close a connection returned by L{open}; errors are swallowed.
        """

    def supportsFeature(conn: Any, feature: int) -> int:  # noqa: N805
        """
        Answer a C{CONNECT_SUPPORTS_FEATURE} question that the daemon does
        not answer itself (the driver-specific migration features).

        @return: 1 or 0.
        """


def convertError(e: Exception) -> LibvirtError:
    """
    The L{LibvirtError} carrying the same code, domain, message, level,
    strings and integers as a C{libvirt.libvirtError}.

    @param e: the exception libvirt-python raised.
    """
    err = getattr(e, "err", None)
    if not err or len(err) < 9:
        return LibvirtError.fromCode(1, 7, str(e) or type(e).__name__)
    code, domain, message, level, str1, str2, str3, int1, int2 = err[:9]
    if code == 0:
        # libvirt returned an error without setting one: libvirtd's words.
        return LibvirtError(
            "Library function returned error but did not set virError", 1, 7,
            str1="%s",
            str2="Library function returned error but did not set virError")
    return LibvirtError(message, code, domain, level, str1, str2, str3,
                        int1 if int1 is not None else -1,
                        int2 if int2 is not None else -1)


_quietLock = threading.Lock()
_quiet = False


def _silenceLibvirt(libvirt: Any) -> None:
    """
    libvirt's default error callback prints every error to stderr; a
    daemon reports them to its clients instead, so replace it once.
    """
    global _quiet
    with _quietLock:
        if not _quiet:
            libvirt.registerErrorHandler(lambda ctx, err: None, None)
            _quiet = True


@implementer(IBackend)
class LibvirtBackend:
    """
    The default backend: one libvirt-python connection per client session.
    """

    def __init__(self) -> None:
        import libvirt

        self._libvirt = libvirt
        _silenceLibvirt(libvirt)

    def open(self, uri: str, readonly: bool) -> Any:
        libvirt = self._libvirt
        try:
            if readonly:
                return libvirt.openReadOnly(uri)
            return libvirt.open(uri)
        except libvirt.libvirtError as e:
            raise convertError(e) from None

    def getURI(self, conn: Any) -> str:
        try:
            return conn.getURI()
        except self._libvirt.libvirtError as e:
            raise convertError(e) from None

    def close(self, conn: Any) -> None:
        try:
            conn.close()
        except self._libvirt.libvirtError:
            pass

    def supportsFeature(self, conn: Any, feature: int) -> int:
        # libvirt-python does not expose virConnectSupportsFeature; the
        # remaining features are about migration, which the test driver
        # (and any backend we can reach this way) reports as unsupported.
        return 0
