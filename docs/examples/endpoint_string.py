"""
The virtd: endpoint-string prefix: the transport of any connection name as
a Twisted endpoint, here carrying virtd's RPC protocol by hand.

    python endpoint_string.py 'virtd:test+unix:///default:socket=/path/to/sock'
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import clientFromString, connectProtocol
from twisted.internet.task import react

from virtd.protocol.remote import BY_NAME
from virtd.rpc.peer import RPCPeer


async def main(reactor, description):
    endpoint = clientFromString(reactor, description)
    peer = await connectProtocol(endpoint, RPCPeer(reactor=reactor))
    await peer.call(BY_NAME["AUTH_LIST"])
    await peer.call(BY_NAME["CONNECT_OPEN"], ("test:///default", 0))
    reply = await peer.call(BY_NAME["CONNECT_GET_HOSTNAME"])
    print("hostname over", description.split(":")[1], "is", reply.hostname)
    await peer.call(BY_NAME["CONNECT_CLOSE"])
    peer.transport.loseConnection()


react(lambda reactor: Deferred.fromCoroutine(main(reactor, sys.argv[1])))
