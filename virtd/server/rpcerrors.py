"""
The errors libvirtd's RPC layer answers with, worded as libvirtd words
them (wire facts 1.9), and the one virtd adds: L{descriptorsRefused}.
"""

from __future__ import annotations

from virtd.errors import (
    VIR_ERR_INTERNAL_ERROR,
    VIR_ERR_OPERATION_UNSUPPORTED,
    VIR_ERR_RPC,
    VIR_FROM_RPC,
    LibvirtError,
)

__all__ = [
    "ALREADY_OPEN",
    "AUTH_REQUIRED",
    "NOT_OPEN",
    "UNDECODABLE",
    "descriptorsRefused",
    "internalError",
    "rpcError",
]


def rpcError(detail: str) -> LibvirtError:
    """
    A C{VIR_ERR_RPC} error from C{VIR_FROM_RPC}: the message is C{detail}.
    """
    return LibvirtError.fromCode(VIR_ERR_RPC, VIR_FROM_RPC, detail)


def internalError(detail: str) -> LibvirtError:
    """
    C{VIR_ERR_INTERNAL_ERROR} from C{VIR_FROM_RPC}: "internal error: ...".
    """
    return LibvirtError.fromCode(VIR_ERR_INTERNAL_ERROR, VIR_FROM_RPC, detail)


NOT_OPEN = internalError("hypervisor connection not open")
ALREADY_OPEN = internalError("connection already open")
AUTH_REQUIRED = rpcError("authentication required")
UNDECODABLE = rpcError("Unable to decode message payload")


def descriptorsRefused(procName: str) -> LibvirtError:
    """
    The answer to a call that passes file descriptors, which virtd cannot
    hand on to the hypervisor.
    """
    return LibvirtError.fromCode(
        VIR_ERR_OPERATION_UNSUPPORTED, VIR_FROM_RPC,
        f"virtd does not pass file descriptors on to the hypervisor "
        f"({procName}); make the call without files, or through libvirtd "
        f"on that host")
