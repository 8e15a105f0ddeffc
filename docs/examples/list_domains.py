"""
List a daemon's domains with async/await.

    python list_domains.py NAME
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.task import react

import virtd


async def main(reactor, name):
    conn = await virtd.connect(name, readonly=True)
    try:
        for dom in await conn.listAllDomains():
            state, maxMem, memory, nrVirtCpu, cpuTime = await dom.info()
            print(f"{dom.name()}: state {state}, {nrVirtCpu} vCPU(s), "
                  f"{memory // 1024} MiB")
    finally:
        await conn.close()


react(lambda reactor: Deferred.fromCoroutine(main(reactor, sys.argv[1])))
