"""
Timeouts, cancellation and the close callback.

    python timeouts.py NAME
"""

import sys

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import react

import virtd
from virtd.errors import VIR_ERR_OPERATION_TIMEOUT, LibvirtError


def closed(conn, reason, opaque):
    # Called when the connection is lost (not after conn.close()).
    print(f"connection to {opaque} lost, reason {reason}")


async def main(reactor, name):
    # A timeout for the whole opening (transport and handshake).
    conn = await virtd.connect(name, timeout=10)
    await conn.registerCloseCallback(closed, name)

    # A timeout for one call: every remote method takes timeout=.
    print("hostname:", await conn.getHostname(timeout=5))

    # Cancelling a call: its Deferred fails with CancelledError, and a late
    # reply is dropped; the connection stays usable.
    d = conn.getCapabilities()
    d.cancel()
    try:
        await d
    except CancelledError:
        print("capabilities call cancelled")
    print("still alive:", conn.isAlive())

    # A call that takes longer than its timeout fails with a LibvirtError
    # whose code is VIR_ERR_OPERATION_TIMEOUT; so does a connect() that
    # cannot finish opening in time.
    try:
        await conn.getVersion(timeout=30)
    except LibvirtError as e:
        if e.get_error_code() != VIR_ERR_OPERATION_TIMEOUT:
            raise
        print("the daemon is slow today")

    await conn.close()


react(lambda reactor: Deferred.fromCoroutine(main(reactor, sys.argv[1])))
