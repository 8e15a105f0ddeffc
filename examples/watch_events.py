"""
Watch domain lifecycle events on several hosts at once.

    python examples/watch_events.py [LABEL=]NAME [[LABEL=]NAME ...]

Each NAME is a libvirt URI or a C{remote:} name (see the names page of the
documentation); LABEL, if given, prefixes that host's lines instead of the
name itself. For example, against two daemons::

    python examples/watch_events.py \\
        a=test+unix:///default?socket=/run/virtd/virtd-sock \\
        b=test+tls://host2/default

prints one line per event as it arrives::

    a: watching test+unix:///default?socket=/run/virtd/virtd-sock
    b: watching test+tls://host2/default
    a: test suspended (detail 0)
    b: test started (detail 0)

It runs until every connection is closed (each one says why) or Ctrl-C.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from twisted.internet import defer, task

import virtd
from virtd.protocol.constants import VIR_DOMAIN_EVENT_ID_LIFECYCLE

#: virDomainEventType -> word
EVENTS = {0: "defined", 1: "undefined", 2: "started", 3: "suspended",
          4: "resumed", 5: "stopped", 6: "shutdown", 7: "pmsuspended",
          8: "crashed"}


def parseArgument(argument: str) -> tuple[str, str]:
    """
    @return: C{(label, name)} from C{LABEL=NAME} or C{NAME}.
    """
    m = re.match(r"^([\w.-]+)=(.+)$", argument)
    if m:
        return m.group(1), m.group(2)
    return argument, argument


def say(text: str) -> None:
    print(text, flush=True)


def onLifecycle(conn: Any, dom: Any, event: int, detail: int,
                label: str) -> None:
    say(f"{label}: {dom.name()} {EVENTS.get(event, event)} (detail {detail})")


async def watch(reactor: Any, label: str, name: str) -> None:
    """
    Connect to one host and print its lifecycle events until the
    connection closes.
    """
    try:
        conn = await virtd.connect(name, reactor=reactor)
    except virtd.LibvirtError as e:
        say(f"{label}: cannot connect: {e}")
        return
    closed: defer.Deferred = defer.Deferred()
    await conn.registerCloseCallback(
        lambda conn, reason, opaque: closed.callback(reason), None)
    await conn.domainEventRegisterAny(None, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                      onLifecycle, label)
    say(f"{label}: watching {name}")
    reason = await closed
    say(f"{label}: connection closed (reason {reason})")


def main(reactor: Any, *arguments: str) -> defer.Deferred:
    if not arguments:
        sys.exit(__doc__)
    return defer.gatherResults([
        defer.Deferred.fromCoroutine(watch(reactor, *parseArgument(a)))
        for a in arguments])


if __name__ == "__main__":
    task.react(main, sys.argv[1:])
