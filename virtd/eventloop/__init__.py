"""
libvirt-python's event loop, implemented on the Twisted reactor.

libvirt needs an event loop for anything asynchronous: domain/network/pool
events, keepalive, and the sockets of remote connections.  libvirt-python
ships C{virEventRegisterDefaultImpl} (which needs a thread spinning
C{virEventRunDefaultImpl}) and C{libvirtaio} for asyncio.  This module is the
Twisted equivalent: one call, L{install}, and libvirt's file handles are
watched by the reactor's readers/writers and its timeouts run on
C{callLater}.

    from virtd import eventloop
    loop = eventloop.install()          # before the first libvirt.open()
    conn = libvirt.open("test:///default")
    conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                callback, None)
    reactor.run()

Threads: libvirt calls the six registration functions from whatever thread
made the libvirt call (the daemon calls libvirt-python from thread pools).
Book-keeping happens at once under a lock, so ids are returned synchronously;
every change the reactor must see is put on one FIFO queue that is run on the
reactor thread (immediately when already there, else via C{callFromThread}).
Callbacks into libvirt only ever run on the reactor thread.

File descriptors: each watched fd is C{dup()}ed and the reactor watches the
duplicate.  libvirt may close its fd right after removing the watch from
another thread, before the reactor has caught up; watching a private
duplicate means the reactor never touches a closed or recycled fd number.

Errors: an exception from a libvirt callback never reaches the reactor; it is
logged through C{twisted.logger}.  libvirt-python itself catches exceptions
raised by user callbacks (domain event callbacks, callbacks given to
C{virEventAddHandle}) and hands them to C{sys.excepthook}; while this loop is
dispatching, L{install} routes those to C{twisted.logger} too.

Import every name from here (C{from virtd import eventloop}); the code
lives in:

  - L{virtd.eventloop.registration}: L{install}, L{installed},
    L{EventLoopError};
  - L{virtd.eventloop.loop}: L{TwistedEventLoop};
  - L{virtd.eventloop.watches}: the C{VIR_EVENT_HANDLE_*} bits and the
    records kept per watch, timeout and file descriptor.
"""

from virtd.eventloop.loop import TwistedEventLoop
from virtd.eventloop.loop import log as log
from virtd.eventloop.registration import EventLoopError, install, installed
from virtd.eventloop.watches import (
    VIR_EVENT_HANDLE_ERROR,
    VIR_EVENT_HANDLE_HANGUP,
    VIR_EVENT_HANDLE_READABLE,
    VIR_EVENT_HANDLE_WRITABLE,
)

__all__ = [
    "VIR_EVENT_HANDLE_READABLE",
    "VIR_EVENT_HANDLE_WRITABLE",
    "VIR_EVENT_HANDLE_ERROR",
    "VIR_EVENT_HANDLE_HANGUP",
    "EventLoopError",
    "TwistedEventLoop",
    "install",
    "installed",
]
