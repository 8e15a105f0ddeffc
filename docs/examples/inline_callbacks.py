"""
The same client from inlineCallbacks code.

    python inline_callbacks.py NAME
"""

import sys

from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import react

import virtd
from virtd.errors import LibvirtError


@inlineCallbacks
def main(reactor, name):
    conn = yield virtd.connect(name)
    try:
        hostname = yield conn.getHostname()
        dom = yield conn.lookupByName("test")
        xml = yield dom.XMLDesc()
        print(f"{hostname}: domain {dom.name()} has {len(xml)} bytes of XML")
        try:
            yield conn.lookupByName("nosuch")
        except LibvirtError as e:
            print("lookup failed:", e.get_error_code(), e.get_error_message())
    finally:
        yield conn.close()


react(main, sys.argv[1:])
