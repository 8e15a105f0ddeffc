"""
C{twistd virtd}: the options and the service maker the plugin points at.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import IService

from virtd.server.options import Options
from virtd.server.reactor import installIfNoneChosen
from virtd.server.service import StartupError, VirtdService

__all__ = ["Options", "makeService"]


def makeService(options: Any) -> IService:
    """
    Build the daemon from parsed options. First, unless the options hold
    C{twisted-reactor}, install the daemon's reactor
    (L{virtd.server.reactor.installIfNoneChosen}: only where no reactor is
    installed yet, as under C{twistd} without C{--reactor}).

    @param options: an L{Options} (or any mapping-like object whose
        C{config} attribute or C{toConfig()} gives a L{ServerConfig}).
    @return: the L{VirtdService}.
    @raise SystemExit: with a message saying what to fix, when the
        configuration cannot work (a live socket in the way, unreadable TLS
        files).
    """
    if not options.get("twisted-reactor", False):
        # twistd imports no reactor before asking for the service, so
        # the daemon's own can still go in (unless --reactor chose one).
        installIfNoneChosen()
    config = getattr(options, "config", None)
    if config is None:
        config = options.toConfig()
    try:
        return VirtdService(config)
    except StartupError as e:
        raise SystemExit(f"virtd: {e}") from None
