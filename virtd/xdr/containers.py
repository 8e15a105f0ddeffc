"""
XDR types that hold other types: variable and fixed arrays, optional data
and discriminated unions.

Arrays of plain numbers decode with one L{struct} call; arrays of structs
get generated code with the struct's body inlined (see
L{virtd.xdr.structs}).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from virtd.xdr.base import Type, XDRError, _checkCount, _u32pack, _u32unpack
from virtd.xdr.structs import Struct, _compileStructArray

__all__ = ["Array", "FixedArray", "Optional", "Union"]


class Array(Type):
    """
    A variable-length array C{T<maxlen>}, decoded as a L{list}.
    """

    def __init__(self, elem: Type, maxlen: int = 0xFFFFFFFF) -> None:
        self.elem = elem
        self.maxlen = maxlen
        self.name = f"{elem.name}<{maxlen}>"
        fmt = elem.fmt
        # Arrays of plain numbers decode with one struct call.
        self._numeric = fmt is not None and len(fmt) == 1
        self._structs = isinstance(elem, Struct)

    def _prepare(self) -> None:
        if self._structs and "packInto" not in self.__dict__:
            self.packInto, self.unpackRaw = _compileStructArray(self)  # type: ignore[method-assign]
        else:
            self.elem._prepare()

    def packInto(self, value: Sequence, parts: list) -> None:
        if self._structs:
            self._prepare()
            return self.packInto(value, parts)
        n = len(value)
        if n > self.maxlen:
            raise XDRError(f"array length {n} exceeds maximum {self.maxlen}")
        parts.append(_u32pack(n))
        if self._numeric:
            parts.append(struct.pack(f">{n}{self.elem.fmt}", *value))
            return
        packElem = self.elem.packInto
        for v in value:
            packElem(v, parts)

    def unpackRaw(self, buf: Any, off: int) -> tuple[list, int]:
        if self._structs:
            self._prepare()
            return self.unpackRaw(buf, off)
        n = _u32unpack(buf, off)[0]
        if n > self.maxlen:
            _checkCount("array length", n, self.maxlen)
        off += 4
        elem = self.elem
        if n * elem.minSize > len(buf) - off:
            raise XDRError(
                f"array of {n} {elem.name} cannot fit in the "
                f"{len(buf) - off} bytes left")
        if self._numeric:
            s = struct.Struct(f">{n}{elem.fmt}")
            return list(s.unpack_from(buf, off)), off + s.size
        out = []
        append = out.append
        unpackElem = elem.unpackRaw
        for _ in range(n):
            v, off = unpackElem(buf, off)
            append(v)
        return out, off


class FixedArray(Type):
    """
    A fixed-length array C{T[n]}, decoded as a L{list}.
    """

    def __init__(self, elem: Type, n: int) -> None:
        self.elem = elem
        self.n = n
        self.name = f"{elem.name}[{n}]"
        self.minSize = elem.minSize * n

    def packInto(self, value: Sequence, parts: list) -> None:
        if len(value) != self.n:
            raise XDRError(
                f"{self.name} needs exactly {self.n} elements, "
                f"got {len(value)}")
        packElem = self.elem.packInto
        for v in value:
            packElem(v, parts)

    def unpackRaw(self, buf: Any, off: int) -> tuple[list, int]:
        out = []
        unpackElem = self.elem.unpackRaw
        for _ in range(self.n):
            v, off = unpackElem(buf, off)
            out.append(v)
        return out, off


class Optional(Type):
    """
    Optional data (C{T *}): C{None} or a value.
    """

    def __init__(self, elem: Type) -> None:
        self.elem = elem
        self.name = f"{elem.name}*"

    def packInto(self, value: Any, parts: list) -> None:
        if value is None:
            parts.append(b"\0\0\0\0")
        else:
            parts.append(b"\0\0\0\1")
            self.elem.packInto(value, parts)

    def unpackRaw(self, buf: Any, off: int) -> tuple[Any, int]:
        flag = _u32unpack(buf, off)[0]
        if flag == 0:
            return None, off + 4
        if flag != 1:
            raise XDRError(f"optional-data flag must be 0 or 1, got {flag}")
        return self.elem.unpackRaw(buf, off + 4)


class Union(Type):
    """
    A discriminated union. Values are C{(discriminant, armValue)} tuples.

    @param arms: discriminant value -> C{(armName, armType)}; use L{Void}
        for an arm without data.
    @param default: the C{(armName, armType)} for any other discriminant,
        or C{None} to refuse them.
    """

    def __init__(self, name: str, discriminant: Type,
                 arms: Mapping[int, tuple[str, Type]],
                 default: tuple[str, Type] | None = None) -> None:
        self.name = name
        self.discriminant = discriminant
        self.arms = dict(arms)
        self.default = default
        self.minSize = discriminant.minSize + min(
            [t.minSize for _, t in self.arms.values()]
            + ([default[1].minSize] if default else []))

    def _arm(self, d: int) -> Type:
        arm = self.arms.get(d, self.default)
        if arm is None:
            raise XDRError(f"{self.name}: unknown discriminant {d}")
        return arm[1]

    def packInto(self, value: tuple[int, Any], parts: list) -> None:
        d, v = value
        self.discriminant.packInto(d, parts)
        self._arm(d).packInto(v, parts)

    def unpackRaw(self, buf: Any, off: int) -> tuple[tuple[int, Any], int]:
        d, off = self.discriminant.unpackRaw(buf, off)
        v, off = self._arm(d).unpackRaw(buf, off)
        return (d, v), off
