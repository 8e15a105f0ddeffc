"""
Handlers that carry out REMOTE procedures through libvirt-python.

Importing this package registers every handler; L{HANDLERS} maps procedure
names (e.g. C{'DOMAIN_GET_INFO'}) to C{handler(ctx, args) -> ret}.
"""

from virtd.server.handlers import (  # noqa: F401  (imported to register)
    connect,
    domain,
    domainstats,
    interface,
    network,
    nodedev,
    secret,
    snapshot,
    storage,
)
from virtd.server.handlers.convert import fromLibvirtError
from virtd.server.handlers.registry import HANDLERS, handler

__all__ = ["HANDLERS", "handler", "fromLibvirtError"]
