"""
Sample every domain's statistics a few times, as a monitoring loop would.

    python domain_stats.py NAME [SAMPLES [INTERVAL]]
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater, react

import virtd


async def main(reactor, name, samples, interval):
    conn = await virtd.connect(name, readonly=True)
    try:
        for sample in range(samples):
            if sample:
                await deferLater(reactor, interval)
            # One call for all domains: [(Domain, {field: value}), ...]
            for dom, stats in await conn.getAllDomainStats():
                fields = " ".join(f"{k}={v}" for k, v in sorted(stats.items()))
                print(f"{dom.name()}: {fields}")
    finally:
        await conn.close()


name = sys.argv[1]
samples = int(sys.argv[2]) if len(sys.argv) > 2 else 2
interval = float(sys.argv[3]) if len(sys.argv) > 3 else 0.5
react(lambda reactor: Deferred.fromCoroutine(
    main(reactor, name, samples, interval)))
