"""
The handler registry: procedure name -> C{handler(ctx, args) -> ret}.

Handlers run in a worker thread. C{ctx.conn} is the session's
C{libvirt.virConnect}; C{args} is the decoded args namedtuple (C{None} for
void); the return value is the ret tuple in field order (C{None} for void).
C{libvirt.libvirtError} and L{virtd.errors.LibvirtError} may escape; the
dispatcher turns them into C{remote_error}.

Most procedures are one line of L{call}: which object the call is made on,
which libvirt-python method, which argument fields, how to shape the result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from virtd.server.handlers import convert

Handler = Callable[[Any, Any], Any]

#: Every registered handler, by procedure name (e.g. C{'DOMAIN_GET_INFO'}).
HANDLERS: dict[str, Handler] = {}


def handler(name: str) -> Callable[[Handler], Handler]:
    """
    Register the decorated function as the handler of procedure C{name}.

    @raise ValueError: C{name} already has a handler.
    """
    def register(f: Handler) -> Handler:
        if name in HANDLERS:
            raise ValueError("procedure %s already has a handler (%r)"
                             % (name, HANDLERS[name]))
        HANDLERS[name] = f
        return f
    return register


def _onConn(resolve: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """
    A resolver of (conn, handle) as one of (ctx, handle).
    """
    def onCtx(ctx: Any, handle: Any) -> Any:
        return resolve(ctx.conn, handle)
    return onCtx


#: What a procedure's object argument is: args field -> resolver of
#: (ctx, handle).
RESOLVERS: dict[str, tuple[str, Callable[[Any, Any], Any]]] = {
    "dom": ("dom", convert.domainOf),
    "net": ("net", _onConn(convert.network)),
    "network": ("network", _onConn(convert.network)),
    "port": ("port", _onConn(convert.networkPort)),
    "pool": ("pool", _onConn(convert.pool)),
    "vol": ("vol", _onConn(convert.volume)),
    "iface": ("iface", _onConn(convert.interface)),
    "snap": ("snap", _onConn(convert.snapshot)),
    "snapshot": ("snapshot", _onConn(convert.snapshot)),
    "checkpoint": ("checkpoint", _onConn(convert.checkpoint)),
    "nodedev": ("name", _onConn(convert.nodeDevice)),
    "secret": ("secret", _onConn(convert.secret)),
    "nwfilter": ("nwfilter", _onConn(convert.nwfilter)),
    "binding": ("nwfilter", _onConn(convert.nwfilterBinding)),
}


def one(r: Any, args: Any) -> tuple:
    """
    Result shaper for a ret struct with a single field.
    """
    return (r,)


def asInt(r: Any, args: Any) -> tuple:
    """
    Result shaper for a single C{int} field fed by a Python bool or int.
    """
    return (int(r),)


def wrap(maker: Callable[[Any], Any]) -> Callable[[Any, Any], tuple]:
    """
    Result shaper for a single field built by C{maker} (e.g. a handle).
    """
    return lambda r, args: (maker(r),)


def listAll(maker: Callable[[Any], Any]) -> Callable[[Any, Any], tuple]:
    """
    Result shaper for C{*_LIST_ALL_*}: the handles only when the caller set
    C{need_results}, and the count either way.
    """
    def shape(objects: list, args: Any) -> tuple:
        if not args.need_results:
            return ([], len(objects))
        return ([maker(o) for o in objects], len(objects))
    return shape


def limited(field: str, limit: int, what: str) -> Callable[[Any, Any], tuple]:
    """
    Result shaper for the legacy list calls: at most C{args.<field>}
    entries; a capacity above C{limit} is refused as libvirtd refuses it.
    """
    def shape(names: list, args: Any) -> tuple:
        return (list(names)[:max(getattr(args, field), 0)],)
    shape.check = lambda args: convert.checkMax(  # type: ignore[attr-defined]
        getattr(args, field), limit, "%s > %s" % (field, what))
    return shape


VOID = None


def call(name: str, method: str, on: str | None = None,
         args: tuple[str, ...] = (),
         ret: Callable[[Any, Any], tuple] | None = one) -> Handler:
    """
    Declare the handler of C{name} as one libvirt-python call.

    @param method: the libvirt-python method name.
    @param on: a L{RESOLVERS} key naming the object the method is called on
        (resolved from the args), or C{None} for the connection.
    @param args: names of the args fields passed positionally, in order.
    @param ret: shapes the method's result into the ret tuple (called with
        the result and the args), or L{VOID} for a void procedure.
    """
    field, resolve = RESOLVERS[on] if on else (None, None)
    check = getattr(ret, "check", None)

    def run(ctx: Any, a: Any) -> Any:
        if check is not None:
            check(a)
        target = resolve(ctx, getattr(a, field)) if resolve else ctx.conn
        result = getattr(target, method)(*[getattr(a, f) for f in args])
        if ret is None:
            return None
        return ret(convert.checked(result), a)

    run.__name__ = run.__qualname__ = "handle_" + name
    run.__doc__ = "%s: %s.%s(%s)" % (name, on or "conn", method,
                                      ", ".join(args))
    return handler(name)(run)
