"""
Stay connected: reconnect with backoff when the connection is lost.

    python reconnect.py NAME

The pattern is L{Reconnector}: it connects (retrying with growing delays
while the daemon is unreachable), hands each new connection to the
application, and starts over when the close callback says the connection
was lost. To show it without restarting a daemon, this demo drops its own
transport twice, with a call in flight the first time, as a daemon restart
or a network failure would.
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater, react

import virtd


class Reconnector:
    """
    Keep a connection to C{name} open until L{stop} is called.

    @ivar onConnect: called with each new connection (re-register event
        callbacks there: registrations die with their connection).
    """

    def __init__(self, reactor, name, onConnect, delays=(0.5, 1, 2, 5, 10)):
        self.reactor = reactor
        self.name = name
        self.onConnect = onConnect
        self.delays = delays
        self.stopped = False

    async def connect(self):
        attempt = 0
        while not self.stopped:
            try:
                conn = await virtd.connect(self.name, timeout=10)
            except virtd.LibvirtError as e:
                delay = self.delays[min(attempt, len(self.delays) - 1)]
                attempt += 1
                print(f"cannot connect ({e.get_error_message()}); "
                      f"retrying in {delay} s")
                await deferLater(self.reactor, delay, lambda: None)
                continue
            await conn.registerCloseCallback(self.lost, None)
            self.onConnect(conn)
            return

    def lost(self, conn, reason, opaque):
        # Not called after conn.close(): only when the connection is lost.
        print(f"connection lost (reason {reason}); reconnecting")
        Deferred.fromCoroutine(self.connect())

    def stop(self):
        self.stopped = True


async def main(reactor, name):
    done = Deferred()
    connections = []

    def onConnect(conn):
        connections.append(conn)
        Deferred.fromCoroutine(use(conn))

    async def use(conn):
        print(f"connection {len(connections)}: hostname",
              await conn.getHostname())
        if len(connections) == 3:
            reconnector.stop()
            await conn.close()
            done.callback(None)
            return
        call = conn.getCapabilities()
        # Stand-in for a daemon restart or a network failure.
        conn.peer.transport.abortConnection()
        try:
            await call
        except virtd.LibvirtError as e:
            # Pending calls fail at once with the reason; retrying them is
            # the application's choice (not every call is safe to repeat).
            print("the call in flight failed:", e.get_error_message())

    reconnector = Reconnector(reactor, name, onConnect)
    await reconnector.connect()
    await done


react(lambda reactor: Deferred.fromCoroutine(main(reactor, sys.argv[1])))
