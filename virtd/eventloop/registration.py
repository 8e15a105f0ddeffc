"""
Registering the one libvirt event loop a process may have: L{install},
L{installed} and L{EventLoopError}.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import libvirt
from twisted.internet.interfaces import IReactorCore
from twisted.logger import LogLevel
from twisted.python.failure import Failure

from virtd.eventloop.loop import TwistedEventLoop, log

__all__ = ["EventLoopError", "install", "installed"]


class EventLoopError(RuntimeError):
    """
    The libvirt event loop cannot be installed as asked.
    """


def _register(loop: TwistedEventLoop) -> None:
    """
    Hand C{loop}'s six functions to libvirt, route exceptions that
    libvirt-python reports while the loop dispatches to the log, and tell
    the loop when the reactor shuts down.
    """
    libvirt.virEventRegisterImpl(
        loop.addHandle,
        loop.updateHandle,
        loop.removeHandle,
        loop.addTimeout,
        loop.updateTimeout,
        loop.removeTimeout,
    )
    previous = sys.excepthook

    def excepthook(excType: Any, excValue: Any, tb: Any) -> None:
        # libvirt-python catches exceptions from user callbacks and
        # hands them here; log those that happen under our dispatch.
        if loop._isDispatching() and isinstance(excValue, Exception):
            log.failure(
                "libvirt event callback raised",
                Failure(excValue, excType, tb),
                level=LogLevel.error,
            )
            # libvirt-python reports through PyErr_Print, which also keeps
            # the exception in sys.last_*: its traceback would pin the
            # callback's domain, and so its connection, open in libvirt
            # until the next error.
            if getattr(sys, "last_value", None) is excValue:
                for name in ("last_type", "last_value", "last_traceback",
                             "last_exc"):
                    if hasattr(sys, name):
                        delattr(sys, name)
        else:
            previous(excType, excValue, tb)

    sys.excepthook = excepthook
    loop.reactor.addSystemEventTrigger("before", "shutdown", loop._reactorStopping)
    loop.reactor.addSystemEventTrigger("after", "shutdown", loop._reactorStopped)


_installLock = threading.Lock()
_installed: TwistedEventLoop | None = None


def install(reactor: IReactorCore | None = None) -> TwistedEventLoop:
    """
    Make libvirt-python use the Twisted reactor as its event loop.

    Call it once, before opening libvirt connections that should get events,
    keepalive or asynchronous I/O.  libvirt accepts only one event loop per
    process, so later calls return the same loop.

    @param reactor: the reactor the application runs; the global reactor if
        L{None}.
    @return: the installed loop (for L{TwistedEventLoop.stats} and friends).
    @raise EventLoopError: a loop was already installed on a different
        reactor.
    """
    global _installed
    if reactor is None:
        from twisted.internet import reactor as globalReactor

        reactor = globalReactor
    with _installLock:
        if _installed is not None:
            if _installed.reactor is not reactor:
                raise EventLoopError(
                    "libvirt's event loop is already installed on reactor "
                    f"{_installed.reactor!r}; libvirt allows only one event loop "
                    f"per process, so it cannot move to {reactor!r}. Call "
                    "virtd.eventloop.install() with the reactor the application "
                    "runs, once."
                )
            return _installed
        loop = TwistedEventLoop(reactor)
        _register(loop)
        _installed = loop
        return loop


def installed() -> TwistedEventLoop | None:
    """
    @return: the loop L{install} registered, or L{None} if none yet.
    """
    return _installed
