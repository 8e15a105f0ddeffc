"""
The XDR types that are not built from other types: numbers, C{void},
C{bool}, enums, strings and opaque data.

Numbers are singletons (L{Int}, L{UHyper}, ...); libvirt's C{char} and
C{short} take four bytes each. Fixed-size ones carry a L{struct} format
(C{fmt}) so that structs can fuse runs of them into one call.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from virtd.xdr.base import (
    _PAD,
    Type,
    XDRError,
    _checkCount,
    _u32pack,
    _u32unpack,
)

__all__ = [
    "Int", "UInt", "Hyper", "UHyper", "Bool", "Double", "Float", "Char",
    "UChar", "Short", "UShort", "Void", "Enum", "String", "Opaque",
    "FixedOpaque",
]


class _Primitive(Type):
    def __init__(self, name: str, fmt: str, size: int) -> None:
        self.name = name
        self.fmt = fmt
        self.minSize = size
        s = struct.Struct(">" + fmt)
        self._pack = s.pack
        self._unpack = s.unpack_from
        self._size = size

    def packInto(self, value: Any, parts: list) -> None:
        parts.append(self._pack(value))

    def pack(self, value: Any) -> bytes:
        try:
            return self._pack(value)
        except struct.error as e:
            raise XDRError(f"cannot encode {self.name}: {e}") from None

    def unpackRaw(self, buf: Any, off: int) -> tuple[Any, int]:
        return self._unpack(buf, off)[0], off + self._size


Int = _Primitive("int", "i", 4)
UInt = _Primitive("unsigned int", "I", 4)
Hyper = _Primitive("hyper", "q", 8)
UHyper = _Primitive("unsigned hyper", "Q", 8)
Double = _Primitive("double", "d", 8)
Float = _Primitive("float", "f", 4)
# libvirt's rpcgen encodes char, unsigned char, short and unsigned short as
# full 4-byte ints.
Char = _Primitive("char", "i", 4)
UChar = _Primitive("unsigned char", "I", 4)
Short = _Primitive("short", "i", 4)
UShort = _Primitive("unsigned short", "I", 4)


class _Void(Type):
    name = "void"
    minSize = 0

    def packInto(self, value: Any, parts: list) -> None:
        if value is not None:
            raise XDRError("void takes no value")

    def unpackRaw(self, buf: Any, off: int) -> tuple[None, int]:
        return None, off

    # Void bodies are common (header-only calls and replies): skip the
    # generic machinery.
    def pack(self, value: Any = None) -> bytes:
        if value is not None:
            raise XDRError("void takes no value")
        return b""

    encode = pack

    def unpack(self, buf: Any, off: int = 0) -> tuple[None, int]:
        return None, off

    def decode(self, buf: Any) -> None:
        if len(buf):
            raise XDRError(f"{len(buf)} trailing bytes after void")
        return None


Void = _Void()


class _Bool(Type):
    name = "bool"

    def packInto(self, value: Any, parts: list) -> None:
        parts.append(b"\0\0\0\1" if value else b"\0\0\0\0")

    def unpackRaw(self, buf: Any, off: int) -> tuple[bool, int]:
        v = _u32unpack(buf, off)[0]
        if v > 1:
            raise XDRError(f"bool must be 0 or 1, got {v}")
        return v == 1, off + 4


Bool = _Bool()


class Enum(Type):
    """
    An enumeration: a 4-byte signed int restricted to C{values}.
    """

    def __init__(self, name: str, values: Iterable[int]) -> None:
        self.name = name
        self.values = frozenset(values)
        self._s = struct.Struct(">i")

    def packInto(self, value: int, parts: list) -> None:
        if value not in self.values:
            raise XDRError(f"{value!r} is not a value of enum {self.name}")
        parts.append(self._s.pack(value))

    def unpackRaw(self, buf: Any, off: int) -> tuple[int, int]:
        v = self._s.unpack_from(buf, off)[0]
        if v not in self.values:
            raise XDRError(f"{v} is not a value of enum {self.name}")
        return v, off + 4


class String(Type):
    """
    C{string<maxlen>}: decoded as UTF-8 with C{surrogateescape}, so every
    byte string survives a decode and re-encode unchanged.
    """

    def __init__(self, maxlen: int = 0xFFFFFFFF) -> None:
        self.maxlen = maxlen
        self.name = f"string<{maxlen}>"

    def packInto(self, value: str, parts: list) -> None:
        b = value.encode("utf-8", "surrogateescape")
        n = len(b)
        if n > self.maxlen:
            raise XDRError(f"string length {n} exceeds maximum {self.maxlen}")
        parts.append(_u32pack(n))
        parts.append(b)
        parts.append(_PAD[n & 3])

    def unpackRaw(self, buf: Any, off: int) -> tuple[str, int]:
        n = _u32unpack(buf, off)[0]
        if n > self.maxlen:
            _checkCount("string length", n, self.maxlen)
        off += 4
        end = off + n
        if end + (-n & 3) > len(buf):
            raise XDRError(
                f"string length {n} exceeds the {len(buf) - off} bytes left")
        return (buf[off:end].decode("utf-8", "surrogateescape"),
                end + (-n & 3))


class Opaque(Type):
    """
    C{opaque<maxlen>}, decoded as L{bytes}.
    """

    def __init__(self, maxlen: int = 0xFFFFFFFF) -> None:
        self.maxlen = maxlen
        self.name = f"opaque<{maxlen}>"

    def packInto(self, value: bytes, parts: list) -> None:
        n = len(value)
        if n > self.maxlen:
            raise XDRError(f"opaque length {n} exceeds maximum {self.maxlen}")
        parts.append(_u32pack(n))
        parts.append(bytes(value))
        parts.append(_PAD[n & 3])

    def unpackRaw(self, buf: Any, off: int) -> tuple[bytes, int]:
        n = _u32unpack(buf, off)[0]
        if n > self.maxlen:
            _checkCount("opaque length", n, self.maxlen)
        off += 4
        end = off + n
        if end + (-n & 3) > len(buf):
            raise XDRError(
                f"opaque length {n} exceeds the {len(buf) - off} bytes left")
        return bytes(buf[off:end]), end + (-n & 3)


class FixedOpaque(Type):
    """
    C{opaque[n]}, decoded as L{bytes} of exactly C{n} bytes.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.name = f"opaque[{n}]"
        self.minSize = (n + 3) & ~3
        self.fmt = f"{n}s{-n & 3}x" if n & 3 else f"{n}s"
        self._s = struct.Struct(">" + self.fmt)

    def packInto(self, value: bytes, parts: list) -> None:
        if len(value) != self.n:
            raise XDRError(
                f"{self.name} needs exactly {self.n} bytes, got {len(value)}")
        parts.append(self._s.pack(value))

    def unpackRaw(self, buf: Any, off: int) -> tuple[bytes, int]:
        return self._s.unpack_from(buf, off)[0], off + self.minSize
