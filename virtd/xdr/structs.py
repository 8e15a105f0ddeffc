"""
XDR structs, and the code generator that compiles each struct (and each
array of structs) to a pair of plain Python functions.

Code is generated once per type, on first use: runs of fixed-size primitive
fields become a single L{struct.Struct} call, strings are inlined, and every
helper the generated code needs is bound as a global of its own namespace.
"""

from __future__ import annotations

import struct
from collections import namedtuple
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from virtd.xdr.base import (
    _PAD,
    Type,
    XDRError,
    _checkCount,
    _tupleNew,
    _u32pack,
    _u32unpack,
)
from virtd.xdr.primitives import FixedOpaque, String

if TYPE_CHECKING:
    from virtd.xdr.containers import Array

__all__ = ["Struct"]


class Struct(Type):
    """
    A structure. Values are instances of the namedtuple L{Struct.cls}; any
    tuple in field order encodes.

    @ivar fields: the C{(name, type)} pairs, in wire order.
    @ivar cls: the namedtuple class of decoded values.
    """

    def __init__(self, name: str, fields: Sequence[tuple[str, Type]]) -> None:
        self.name = name
        self.fields = tuple(fields)
        # module=: value classes keep claiming the public package, as
        # they did before the codec was split into modules.
        self.cls = namedtuple(  # type: ignore[misc]
            name, [f for f, _ in self.fields], module="virtd.xdr")
        self.minSize = sum(t.minSize for _, t in self.fields)
        if all(t.fmt for _, t in self.fields) and self.fields:
            self.fmt = "".join(t.fmt for _, t in self.fields)  # type: ignore[misc]

    # Code is generated on first use: a program module declares hundreds
    # of structs and a process uses a few dozen.
    def _prepare(self) -> None:
        if "packInto" not in self.__dict__:
            self.packInto, self.unpackRaw = _compileStruct(self)  # type: ignore[method-assign]

    def packInto(self, value: Any, parts: list) -> None:
        self._prepare()
        self.packInto(value, parts)

    def unpackRaw(self, buf: Any, off: int) -> tuple[Any, int]:
        self._prepare()
        return self.unpackRaw(buf, off)

    def __call__(self, *args: Any, **kw: Any) -> Any:
        """
        Build a value: C{S(name="x", uuid=b"...", id=1)}.
        """
        return self.cls(*args, **kw)

    make = __call__


def _fieldCode(s: Struct, env: dict, tag: str, val: str, ind: str
               ) -> tuple[list[str], list[str], str]:
    """
    Generate the statements that pack the struct value named C{val} and
    those that unpack one into locals, plus the expression that builds the
    value. C{tag} keeps names unique when bodies are nested in loops.
    """
    env["_cls" + tag] = s.cls
    pk: list[str] = []
    up: list[str] = []
    fields = s.fields
    names: list[str] = []
    i = 0
    k = 0

    def fused(t: Type) -> bool:
        return t.fmt is not None and not isinstance(t, Struct)

    while i < len(fields):
        fname, ftype = fields[i]
        if fused(ftype):
            j = i
            fmt = ""
            while j < len(fields) and fused(fields[j][1]):
                ft = fields[j][1]
                fmt += ft.fmt  # type: ignore[operator]
                if isinstance(ft, FixedOpaque):
                    # struct's "Ns" pads or truncates silently: check it.
                    pk.append(f"{ind}if len({val}[{j}]) != {ft.n}:")
                    pk.append(f"{ind}    raise XDRError('{fields[j][0]}: "
                              f"{ft.name} needs exactly {ft.n} bytes, got %d'"
                              f" % len({val}[{j}]))")
                j += 1
            st = struct.Struct(">" + fmt)
            key = f"_s{tag}_{k}"
            env[key] = st
            idx = ", ".join(f"{val}[{n}]" for n in range(i, j))
            pk.append(f"{ind}append({key}.pack({idx}))")
            vs = [f"f{tag}_{n}" for n in range(i, j)]
            up.append(f"{ind}{', '.join(vs)}, = {key}.unpack_from(buf, off)")
            up.append(f"{ind}off += {st.size}")
            names.extend(vs)
            k += 1
            i = j
            continue
        local = f"f{tag}_{i}"
        if isinstance(ftype, String):
            mx = f"_max{tag}_{i}"
            env[mx] = ftype.maxlen
            pk += [
                f"{ind}b = {val}[{i}].encode('utf-8', 'surrogateescape')",
                f"{ind}n = len(b)",
                f"{ind}if n > {mx}:",
                f"{ind}    raise XDRError('{fname}: string length %d exceeds "
                f"maximum %d' % (n, {mx}))",
                f"{ind}append(_u32pack(n)); append(b); append(_PAD[n & 3])",
            ]
            up += [
                f"{ind}n = _u32unpack(buf, off)[0]",
                f"{ind}if n > {mx}:",
                f"{ind}    _checkCount('{fname}: string length', n, {mx})",
                f"{ind}off += 4",
                f"{ind}e = off + n",
                f"{ind}if e + (-n & 3) > len(buf):",
                f"{ind}    raise XDRError('{fname}: string length %d exceeds "
                "the %d bytes left' % (n, len(buf) - off))",
                f"{ind}{local} = buf[off:e].decode('utf-8', 'surrogateescape')",
                f"{ind}off = e + (-n & 3)",
            ]
        else:
            ftype._prepare()
            env[f"_p{tag}_{i}"] = ftype.packInto
            env[f"_u{tag}_{i}"] = ftype.unpackRaw
            pk.append(f"{ind}_p{tag}_{i}({val}[{i}], parts)")
            up.append(f"{ind}{local}, off = _u{tag}_{i}(buf, off)")
        names.append(local)
        i += 1
    expr = f"_tupleNew(_cls{tag}, ({', '.join(names)}{',' if names else ''}))"
    return pk, up, expr


def _baseEnv() -> dict[str, Any]:
    return {
        "XDRError": XDRError, "_u32pack": _u32pack, "_u32unpack": _u32unpack,
        "_PAD": _PAD, "_tupleNew": _tupleNew, "_checkCount": _checkCount,
    }


def _run(src: str, env: dict, what: str) -> tuple[Callable, Callable]:
    exec(compile(src, f"<xdr {what}>", "exec"), env)
    return env["packInto"], env["unpackRaw"]


def _compileStruct(s: Struct) -> tuple[Callable, Callable]:
    """
    Generate the pack and unpack functions of a struct.
    """
    env = _baseEnv()
    pk, up, expr = _fieldCode(s, env, "", "v", "    ")
    env["_nfields"] = len(s.fields)
    src = "\n".join(
        ["def packInto(v, parts):",
         "    if len(v) != _nfields:",
         f"        raise XDRError('{s.name} has %d fields, got %d values'"
         " % (_nfields, len(v)))",
         "    append = parts.append", *pk,
         "    return None", "", "def unpackRaw(buf, off):", *up,
         f"    return {expr}, off", ""])
    return _run(src, env, f"struct {s.name}")


def _compileStructArray(a: Array) -> tuple[Callable, Callable]:
    """
    Generate the functions of an array of structs with the struct's body
    inlined in the loop: one call per array, not one per element.
    """
    s = a.elem
    assert isinstance(s, Struct)
    env = _baseEnv()
    env["_max"] = a.maxlen
    env["_min"] = s.minSize
    pk, up, expr = _fieldCode(s, env, "e", "v", "        ")
    src = "\n".join([
        "def packInto(value, parts):",
        "    append = parts.append",
        "    n = len(value)",
        "    if n > _max:",
        "        raise XDRError('array length %d exceeds maximum %d'"
        " % (n, _max))",
        "    append(_u32pack(n))",
        "    for v in value:",
        *pk,
        "        pass",
        "",
        "def unpackRaw(buf, off):",
        "    count = _u32unpack(buf, off)[0]",
        "    if count > _max:",
        "        _checkCount('array length', count, _max)",
        "    off += 4",
        "    if count * _min > len(buf) - off:",
        f"        raise XDRError('array of %d {s.name} cannot fit in the %d "
        "bytes left' % (count, len(buf) - off))",
        "    out = [None] * count",
        "    for k in range(count):",
        *up,
        f"        out[k] = {expr}",
        "    return out, off",
        ""])
    return _run(src, env, f"array of {s.name}")
