"""
Connect to virtd over TLS with the remote: syntax and look around.

Run from the directory holding pki/ (see docs/tls.rst).
"""

from twisted.internet.defer import Deferred
from twisted.internet.task import react

import virtd


async def main(reactor):
    conn = await virtd.connect("remote:tls:localhost:16514 pkipath=pki/client")
    try:
        hostname = await conn.getHostname()
        encrypted = await conn.isEncrypted()
        print(f"connected over TLS to {hostname}: encrypted={encrypted}")
        domains = await conn.listAllDomains()
        print("domains:", " ".join(sorted(d.name() for d in domains)))
    finally:
        await conn.close()


react(lambda reactor: Deferred.fromCoroutine(main(reactor)))
