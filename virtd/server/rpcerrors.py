"""
The errors libvirtd's RPC layer answers with, worded as libvirtd words
them (wire facts 1.9).
"""

from __future__ import annotations

from virtd.errors import (
    VIR_ERR_INTERNAL_ERROR,
    VIR_ERR_RPC,
    VIR_FROM_RPC,
    LibvirtError,
)

__all__ = [
    "ALREADY_OPEN",
    "AUTH_REQUIRED",
    "NOT_OPEN",
    "UNDECODABLE",
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
