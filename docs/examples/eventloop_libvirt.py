"""
libvirt-python's events on the Twisted reactor, with virtd.eventloop.

    python eventloop_libvirt.py NAME

libvirt-python, not the virtd client: virtd.eventloop.install() makes the
reactor libvirt's event loop, instead of virEventRegisterDefaultImpl() and
a thread spinning virEventRunDefaultImpl().
"""

import sys

import libvirt
from twisted.internet.defer import Deferred
from twisted.internet.task import react
from twisted.internet.threads import deferToThread
from twisted.python.threadable import isInIOThread

from virtd import eventloop

EVENTS = {3: "suspended", 4: "resumed"}


async def main(reactor, name):
    # Once, before the first libvirt.open().
    eventloop.install(reactor)

    # libvirt-python's calls block until the daemon answers: run them in
    # the reactor's thread pool, as any blocking call in a Twisted app.
    conn = await deferToThread(libvirt.open, name)
    dom = await deferToThread(conn.lookupByName, "test")
    done = Deferred()
    seen = []

    def onLifecycle(conn, dom, event, detail, opaque):
        # Called from the reactor (the loop's timers and watches run there).
        print(f"{opaque}: {dom.name()} {EVENTS.get(event, event)}, "
              f"on the reactor thread: {isInIOThread()}")
        seen.append(event)
        if len(seen) == 2:
            done.callback(None)

    callbackID = await deferToThread(
        conn.domainEventRegisterAny, dom,
        libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, onLifecycle, "libvirt-python")
    await deferToThread(dom.suspend)
    await deferToThread(dom.resume)
    await done
    await deferToThread(conn.domainEventDeregisterAny, callbackID)
    await deferToThread(conn.close)


react(lambda reactor: Deferred.fromCoroutine(main(reactor, sys.argv[1])))
