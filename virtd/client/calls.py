"""
The small machinery that turns one line into a client method.

A handle class declares its remote operations as class attributes::

    class Domain(Handle):
        info = rpc("DOMAIN_GET_INFO", ret=lambda dom, r: list(r))
        setMemory = rpc("DOMAIN_SET_MEMORY", "memory")
        XMLDesc = rpc("DOMAIN_GET_XML_DESC", "flags=0")

L{rpc} builds a method that binds its Python arguments (libvirt-python's
parameter names and defaults), puts the handle's wire reference first
(unless C{handle=False}), inserts constants given as non-string parameters
(C{need_results=1} and the like), sends the procedure through the owning
L{virtd.client.connection.Connection} and turns the reply into
libvirt-python's return shape. Every such method also takes a keyword-only
C{timeout} (seconds) and returns a L{Deferred}.

The reply transform defaults to libvirt-python's habits: C{0} for a
procedure without a reply (libvirt-python returns the C function's 0), the
only field of a one-field reply, the whole reply otherwise.
"""

from __future__ import annotations

import ast
import uuid as _uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from twisted.internet.defer import Deferred, fail

from virtd.errors import (
    VIR_ERR_INVALID_ARG,
    VIR_ERR_OPERATION_UNSUPPORTED,
    VIR_FROM_DOMAIN,
    VIR_FROM_NETWORK,
    VIR_FROM_NONE,
    VIR_FROM_RPC,
    VIR_FROM_STORAGE,
    LibvirtError,
)
from virtd.protocol.types import (
    VIR_TYPED_PARAM_BOOLEAN,
    VIR_TYPED_PARAM_DOUBLE,
    VIR_TYPED_PARAM_INT,
    VIR_TYPED_PARAM_LLONG,
    VIR_TYPED_PARAM_STRING,
    VIR_TYPED_PARAM_UINT,
    VIR_TYPED_PARAM_ULLONG,
)

__all__ = ["rpc", "uuidString", "uuidBytes", "typedParamsToDict",
           "dictToTypedParams", "charsToString", "bitsToBools", "noFiles"]

_REQUIRED = object()


class _Const:
    """
    A wire argument the caller does not supply.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _parseParam(spec: Any) -> tuple[str, Any] | _Const:
    if not isinstance(spec, str):
        return _Const(spec)
    name, sep, default = spec.partition("=")
    if not sep:
        return (name.strip(), _REQUIRED)
    return (name.strip(), ast.literal_eval(default.strip()))


def defaultResult(handle: Any, value: Any) -> Any:
    """
    libvirt-python's usual return value for a reply: C{0} for none, the
    field of a one-field reply, else the reply itself.
    """
    if value is None:
        return 0
    if isinstance(value, tuple) and len(value) == 1:
        return value[0]
    return value


class rpc:
    """
    A method that sends one procedure (see the module docstring).

    @ivar procName: the procedure's name in L{virtd.protocol.remote.BY_NAME}.
    @ivar handle: whether the owner's wire reference is the first argument.
    """

    def __init__(self, procName: str, *params: Any,
                 ret: Callable[[Any, Any], Any] | None = None,
                 handle: bool = True, doc: str | None = None,
                 convert: Mapping[str, Callable[[Any], Any]] | None = None
                 ) -> None:
        """
        @param procName: e.g. C{"DOMAIN_GET_INFO"}.
        @param params: the wire arguments after the handle, in wire order:
            a string C{"name"} or C{"name=default"} (a Python literal) for
            each argument the caller passes, any other value for a constant.
        @param ret: C{ret(owner, replyValue) -> result}; default
            L{defaultResult}.
        @param handle: whether the owner's reference (C{owner._wireRef()})
            leads the arguments; C{False} for connection-level procedures.
        @param doc: the method's docstring.
        @param convert: per-argument conversions applied before sending
            (e.g. a UUID string to bytes); a L{LibvirtError} they raise
            becomes the call's failure.
        """
        self.procName = procName
        self.slots = [_parseParam(p) for p in params]
        self.names = [s[0] for s in self.slots if not isinstance(s, _Const)]
        self.defaults = {s[0]: s[1] for s in self.slots
                         if not isinstance(s, _Const) and s[1] is not _REQUIRED}
        self.ret = ret or defaultResult
        self.handle = handle
        self.doc = doc
        self.name = procName
        positions = {s[0]: i for i, s in enumerate(self.slots)
                     if not isinstance(s, _Const)}
        self.converters = [(positions[k], f)
                           for k, f in (convert or {}).items()]
        # The payload of an argument-less connection-level call, once made.
        self._bare: bytes | None = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def bind(self, args: tuple, kwargs: Mapping[str, Any]) -> list[Any]:
        """
        Map a call's arguments to the wire argument values, in wire order.

        @raise TypeError: as Python does for a bad call.
        """
        if len(args) > len(self.names):
            raise TypeError(f"{self.name}() takes {len(self.names)} "
                            f"argument(s) but {len(args)} were given")
        values = dict(zip(self.names, args, strict=False))
        for key, value in kwargs.items():
            if key not in self.names:
                raise TypeError(
                    f"{self.name}() got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(
                    f"{self.name}() got multiple values for argument {key!r}")
            values[key] = value
        wire = []
        for slot in self.slots:
            if isinstance(slot, _Const):
                wire.append(slot.value)
                continue
            name = slot[0]
            if name in values:
                wire.append(values[name])
            elif name in self.defaults:
                wire.append(self.defaults[name])
            else:
                raise TypeError(
                    f"{self.name}() missing required argument {name!r}")
        return wire

    def invoke(self, owner: Any, args: tuple, kwargs: Mapping[str, Any],
               timeout: float | None) -> Deferred:
        if not args and not kwargs:
            return self._invokeBare(owner, timeout)
        return self._invokeFull(owner, args, kwargs, timeout)

    def _wire(self, owner: Any, args: tuple, kwargs: Mapping[str, Any]
              ) -> tuple | None:
        # The wire arguments: the handle's reference, then the bound and
        # converted ones. TypeError for a bad call, LibvirtError from a
        # conversion.
        wire = self.bind(args, kwargs)
        for i, convert in self.converters:
            wire[i] = convert(wire[i])
        if self.handle:
            wire[0:0] = owner._wireRef()
        return tuple(wire) if wire else None

    def _invokeFull(self, owner: Any, args: tuple, kwargs: Mapping[str, Any],
                    timeout: float | None) -> Deferred:
        try:
            wire = self._wire(owner, args, kwargs)
        except LibvirtError:
            return fail()
        d = owner._connection()._call(self.procName, wire, timeout)
        return d.addCallback(self._result, owner)

    def _encodeBare(self, owner: Any, conn: Any) -> bytes | None:
        # The payload of a call that passes no argument. None when a
        # required argument is missing or a default does not convert or
        # encode: the full path then fails the call as it should.
        try:
            wire = self._wire(owner, (), {})
        except (TypeError, LibvirtError):
            return None
        return conn._encodeArgs(self.procName, wire)

    def _invokeBare(self, owner: Any, timeout: float | None) -> Deferred:
        # A call without arguments always sends the same bytes while the
        # handle's identity stays the same (a domain's id changes when it
        # starts or stops): encode them once per handle, or once for all
        # for a connection-level procedure.
        conn = owner._connection()
        if self.handle:
            ref = owner._wireRef()
            cache = owner._payloads
            if cache is None:
                cache = owner._payloads = {}
            entry = cache.get(self.procName)
            if entry is None or entry[0] != ref:
                payload = self._encodeBare(owner, conn)
                if payload is None:
                    return self._invokeFull(owner, (), {}, timeout)
                entry = cache[self.procName] = (ref, payload)
            payload = entry[1]
        else:
            payload = self._bare
            if payload is None:
                payload = self._bare = self._encodeBare(owner, conn)
                if payload is None:
                    return self._invokeFull(owner, (), {}, timeout)
        d = conn._callEncoded(self.procName, payload, timeout)
        return d.addCallback(self._result, owner)

    def _result(self, value: Any, owner: Any) -> Any:
        return self.ret(owner, value)

    def __get__(self, owner: Any, ownerType: type | None = None) -> Any:
        if owner is None:
            return self

        def method(*args: Any, timeout: float | None = None,
                   **kwargs: Any) -> Deferred:
            return self.invoke(owner, args, kwargs, timeout)

        method.__name__ = self.name
        method.__qualname__ = f"{type(owner).__name__}.{self.name}"
        method.__doc__ = self.doc or (
            f"Send C{{{self.procName}}}({', '.join(self.names)}).\n\n"
            "@return: a Deferred firing with libvirt-python's result.")
        return method


# -- value conversions shared by the handle modules -------------------------


def uuidString(raw: bytes) -> str:
    """
    The 36-character form of a 16-byte UUID, as C{UUIDString()} returns it.
    """
    return str(_uuid.UUID(bytes=bytes(raw)))


def uuidBytes(text: str, function: str) -> bytes:
    """
    Parse a UUID string the way libvirt's C{virUUIDParse} accepts it (hex
    digits, optional hyphens between bytes, surrounding spaces).

    @param function: the public API name, for the error message.
    @raise LibvirtError: C{VIR_ERR_INVALID_ARG} when C{text} is no UUID.
    """
    if isinstance(text, str):
        digits = text.strip().replace("-", "")
        if len(digits) == 32:
            try:
                return bytes.fromhex(digits)
            except ValueError:
                pass
    # libvirt 9.0's words, domain and fields, so handlers written against
    # libvirt-python see the same error; only the domain lookup is terse.
    if function == "virDomainLookupByUUIDString":
        message = "Invalid UUID"
    else:
        message = f"uuidstr in {function} must be a valid UUID"
    raise LibvirtError(message, VIR_ERR_INVALID_ARG, _uuidErrorDomain(function),
                       str1=function, str2="uuidstr", int1=0, int2=0)


def _uuidErrorDomain(function: str) -> int:
    for prefix, domain in (("virDomain", VIR_FROM_DOMAIN),
                           ("virNetwork", VIR_FROM_NETWORK),
                           ("virStoragePool", VIR_FROM_STORAGE)):
        if function.startswith(prefix):
            return domain
    return VIR_FROM_NONE


def noFiles(method: str) -> LibvirtError:
    """
    The failure of a C{*WithFiles} call given files: this client passes no
    file descriptors.
    """
    return LibvirtError.fromCode(
        VIR_ERR_OPERATION_UNSUPPORTED, VIR_FROM_RPC,
        f"virtd's client does not pass file descriptors; call {method} "
        f"without files, or use libvirt-python for that call")


def checkUUID(raw: bytes, function: str) -> bytes:
    """
    @raise LibvirtError: C{VIR_ERR_INVALID_ARG} unless C{raw} is 16 bytes.
    """
    if isinstance(raw, (bytes, bytearray)) and len(raw) == 16:
        return bytes(raw)
    raise LibvirtError.fromCode(
        VIR_ERR_INVALID_ARG, _uuidErrorDomain(function),
        f"uuid in {function} must be 16 bytes, got {raw!r}")


def fromUUIDString(function: str) -> Callable[[str], bytes]:
    """
    A C{convert=} function turning a UUID string into its 16 bytes.
    """
    return lambda text: uuidBytes(text, function)


def fromUUID(function: str) -> Callable[[bytes], bytes]:
    """
    A C{convert=} function checking a 16-byte UUID.
    """
    return lambda raw: checkUUID(raw, function)


def charsToString(chars: Iterable[int]) -> str:
    """
    A C C{char[]} sent as one XDR int per character, up to its NUL.
    """
    data = bytes(c & 0xFF for c in chars)
    return data.split(b"\0", 1)[0].decode("utf-8", "replace")


def bitsToBools(bitmap: bytes, count: int, offset: int = 0) -> tuple:
    """
    Bits C{offset*8 ...} of a libvirt CPU map as a tuple of C{count} bools.
    """
    out = []
    for i in range(count):
        byte = offset + (i >> 3)
        out.append(byte < len(bitmap) and bool(bitmap[byte] & (1 << (i & 7))))
    return tuple(out)


def _typedValue(value: tuple) -> Any:
    kind, v = value
    if kind == VIR_TYPED_PARAM_BOOLEAN:
        return bool(v)
    return v


def typedParamsToDict(params: Iterable[Any]) -> dict[str, Any]:
    """
    Typed parameters as libvirt-python returns them: C{{field: value}},
    integers as C{int}, doubles as C{float}, booleans as C{bool}, strings
    as C{str}.
    """
    return {p.field: _typedValue(p.value) for p in params}


_CONVERT: dict[int, Callable[[Any], Any]] = {
    VIR_TYPED_PARAM_INT: int,
    VIR_TYPED_PARAM_UINT: int,
    VIR_TYPED_PARAM_LLONG: int,
    VIR_TYPED_PARAM_ULLONG: int,
    VIR_TYPED_PARAM_DOUBLE: float,
    VIR_TYPED_PARAM_BOOLEAN: lambda v: 1 if v else 0,
    VIR_TYPED_PARAM_STRING: str,
}


def dictToTypedParams(values: Mapping[str, Any],
                      types: Mapping[str, int]) -> list[tuple]:
    """
    Build wire typed parameters from a user's dict, taking each field's
    type from C{types} (what the server reported), as libvirt-python does.

    @raise LibvirtError: C{VIR_ERR_INVALID_ARG} for a field the server does
        not know or a value of the wrong kind.
    """
    from virtd.protocol.types import TypedParam

    out = []
    for key, value in values.items():
        if key not in types:
            raise LibvirtError.fromCode(
                VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                f"parameter {key!r} is not one the server offers "
                f"({', '.join(sorted(types)) or 'none'})")
        kind = types[key]
        try:
            converted = _CONVERT[kind](value)
        except (TypeError, ValueError):
            raise LibvirtError.fromCode(
                VIR_ERR_INVALID_ARG, VIR_FROM_NONE,
                f"parameter {key!r} needs a value of typed-parameter type "
                f"{kind}, got {value!r}") from None
        out.append(TypedParam.cls(key, (kind, converted)))
    return out


class counted(rpc):
    """
    A method that asks for a count, then for that many names or ids, as
    libvirt-python's C{list*} methods do (no second call when the count is
    zero). The second procedure takes the first one's arguments with the
    count inserted before a trailing C{flags} argument, or at the end.
    """

    def __init__(self, numProc: str, listProc: str, *params: Any,
                 handle: bool = True, doc: str | None = None) -> None:
        super().__init__(numProc, *params, handle=handle, doc=doc)
        self.listProc = listProc
        last = self.slots[-1] if self.slots else None
        self.flagsLast = isinstance(last, tuple) and last[0] == "flags"

    def invoke(self, owner: Any, args: tuple, kwargs: Mapping[str, Any],
               timeout: float | None) -> Deferred:
        wire = self.bind(args, kwargs)
        if self.handle:
            wire[0:0] = owner._wireRef()
        conn = owner._connection()

        async def run() -> list:
            n = (await conn._call(self.procName, tuple(wire) or None,
                                  timeout))[0]
            if not n:
                return []
            listArgs = list(wire)
            listArgs.insert(len(listArgs) - 1 if self.flagsLast
                            else len(listArgs), n)
            return list((await conn._call(self.listProc, tuple(listArgs),
                                          timeout))[0])

        return Deferred.fromCoroutine(run())
