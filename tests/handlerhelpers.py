"""
Helpers for the handler tests: a context holding a real test-driver
connection, and argument values built from the procedure tables.
"""

from __future__ import annotations

from typing import Any

import libvirt

from virtd import xdr
from virtd.protocol import types
from virtd.protocol.remote import BY_NAME
from virtd.server.handlers import HANDLERS, convert

VOLUME_XML = """<volume><name>{name}</name>
<capacity unit='bytes'>1048576</capacity></volume>"""


class Context:
    """
    What the server core hands a handler: here only C{conn}.
    """

    def __init__(self, conn: libvirt.virConnect) -> None:
        self.conn = conn
        self.session = self


def openTestDriver(testCase: Any | None) -> libvirt.virConnect:
    """
    A fresh C{test:///default} connection, closed when the test ends (the
    driver's state lives as long as some connection is open, so each test
    starts from the driver's initial state).

    @param testCase: closes the connection at its end; C{None}: the caller
        closes it.
    """
    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    conn = libvirt.open("test:///default")
    if testCase is not None:
        testCase.addCleanup(conn.close)
    return conn


def invoke(conn: libvirt.virConnect, name: str, /, **kw: Any) -> Any:
    """
    Run the handler of C{name} as the dispatcher would: args built from the
    procedure table (missing fields default to zero/empty), the result
    encoded with the procedure's ret type and decoded again.

    @return: the decoded ret value (C{None} for void).
    """
    proc = BY_NAME[name]
    args = None
    if proc.args is not xdr.Void:
        fields = dict((f, defaultValue(t)) for f, t in proc.args.fields)
        unknown = set(kw) - set(fields)
        if unknown:
            raise TypeError("%s has no args %s" % (name, sorted(unknown)))
        fields.update(kw)
        # Round-trip the args too: what a client sends must encode.
        args = proc.args.decode(proc.args.encode(proc.args.cls(**fields)))
    result = HANDLERS[name](Context(conn), args)
    payload = proc.ret.encode(result)
    return proc.ret.decode(payload) if proc.ret is not xdr.Void else None


def defaultValue(t: xdr.Type) -> Any:
    """
    A zero value for an XDR type: 0, '', b'', [], None or a struct of them.
    """
    if isinstance(t, xdr.Optional):
        return None
    if isinstance(t, xdr.Array):
        return []
    if isinstance(t, xdr.String):
        return ""
    if isinstance(t, xdr.FixedOpaque):
        return bytes(t.n)
    if isinstance(t, xdr.Opaque):
        return b""
    if isinstance(t, xdr.Struct):
        return t.cls(**{f: defaultValue(ft) for f, ft in t.fields})
    if isinstance(t, xdr.Union):
        return (types.VIR_TYPED_PARAM_INT, 0)
    if isinstance(t, xdr.FixedArray):
        return [0] * t.n
    return 0


def handles(conn: libvirt.virConnect) -> dict[str, Any]:
    """
    Wire handles of the test driver's objects, for building args: C{dom}
    (domain C{test}), C{net}, C{pool}, C{vol} (a volume created here),
    C{iface}, C{snap} (a snapshot created here), C{dev}.
    """
    dom = conn.lookupByName("test")
    pool = conn.storagePoolLookupByName("default-pool")
    vol = pool.createXML(VOLUME_XML.format(name="handles.img"), 0)
    snap = dom.snapshotCreateXML("<domainsnapshot><name>s1</name>"
                                 "</domainsnapshot>", 0)
    return {
        "dom": types.Dom.cls(*convert.makeDom(dom)),
        "net": types.Net.cls(*convert.makeNet(
            conn.networkLookupByName("default"))),
        "pool": types.Pool.cls(*convert.makePool(pool)),
        "vol": types.Vol.cls(*convert.makeVol(vol)),
        "iface": types.Iface.cls(*convert.makeIface(
            conn.interfaceLookupByName("eth1"))),
        "snap": types.Snap.cls("s1", types.Dom.cls(*convert.makeDom(
            snap.getDomain()))),
        "dev": "computer",
    }
