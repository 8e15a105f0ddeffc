"""
Receive domain and network lifecycle events with the virtd client.

    python watch_lifecycle.py NAME

It registers its callbacks, then suspends and resumes domain C{test} and
stops and starts network C{default} itself, through the same connection
(the test driver keeps its state only while a connection is open), prints
the events as they arrive, deregisters and closes. Its log (where an
exception raised by a callback goes) is written to watch_lifecycle.log.
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.task import react
from twisted.logger import globalLogBeginner, textFileLogObserver

import virtd
from virtd.protocol.constants import (
    VIR_DOMAIN_EVENT_ID_LIFECYCLE,
    VIR_NETWORK_EVENT_ID_LIFECYCLE,
)

#: virDomainEventType and virNetworkEventLifecycleType -> word
DOMAIN_EVENTS = {0: "defined", 1: "undefined", 2: "started", 3: "suspended",
                 4: "resumed", 5: "stopped", 6: "shutdown",
                 7: "pmsuspended", 8: "crashed"}
NETWORK_EVENTS = {0: "defined", 1: "undefined", 2: "started", 3: "stopped"}


class Waiter:
    """
    A Deferred that fires once C{count} events have been seen.
    """

    def __init__(self, count):
        self.count = count
        self.done = Deferred()

    def seen(self):
        self.count -= 1
        if self.count == 0:
            self.done.callback(None)


# Callbacks have libvirt-python's signatures and run on the reactor thread.
def onDomain(conn, dom, event, detail, waiter):
    print(f"domain {dom.name()}: {DOMAIN_EVENTS[event]} (detail {detail})")
    waiter.seen()


def onNetwork(conn, net, event, detail, waiter):
    print(f"network {net.name()}: {NETWORK_EVENTS[event]}")
    waiter.seen()


def broken(conn, dom, event, detail, opaque):
    # An exception in a callback is logged (twisted.logger); the connection
    # and the other callbacks carry on.
    raise RuntimeError("a bug in an event callback")


async def main(reactor, name):
    logFile = open("watch_lifecycle.log", "a")
    globalLogBeginner.beginLoggingTo([textFileLogObserver(logFile)],
                                    redirectStandardIO=False)
    conn = await virtd.connect(name)
    dom = await conn.lookupByName("test")
    net = await conn.networkLookupByName("default")
    waiter = Waiter(4)

    # One domain (dom), or every domain with None; each call fires with a
    # callback ID for the matching Deregister call.
    domID = await conn.domainEventRegisterAny(
        dom, VIR_DOMAIN_EVENT_ID_LIFECYCLE, onDomain, waiter)
    brokenID = await conn.domainEventRegisterAny(
        None, VIR_DOMAIN_EVENT_ID_LIFECYCLE, broken, None)
    netID = await conn.networkEventRegisterAny(
        None, VIR_NETWORK_EVENT_ID_LIFECYCLE, onNetwork, waiter)

    await dom.suspend()
    await dom.resume()
    await net.destroy()
    await net.create()
    await waiter.done

    for callbackID in (domID, brokenID):
        await conn.domainEventDeregisterAny(callbackID)
    await conn.networkEventDeregisterAny(netID)
    print("still alive:", conn.isAlive())
    await conn.close()


react(lambda reactor: Deferred.fromCoroutine(main(reactor, sys.argv[1])))
