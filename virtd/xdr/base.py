"""
What every XDR type shares: the L{Type} base class with its public
operations, L{XDRError}, and the helpers the generated code binds.
"""

from __future__ import annotations

import struct
from typing import Any

__all__ = ["XDRError", "Type"]


class XDRError(ValueError):
    """
    A value cannot be encoded, or bytes cannot be decoded.

    @ivar reason: what was wrong, in words.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_U32 = struct.Struct(">I")
_u32unpack = _U32.unpack_from
_u32pack = _U32.pack
_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")
_tupleNew = tuple.__new__


class Type:
    """
    Base of every XDR type.

    @ivar fmt: the L{struct} format character(s) when the type is a fixed-size
        primitive whose Python value is what L{struct} produces (so structs can
        fuse runs of them), else C{None}.
    @ivar minSize: the smallest number of bytes an encoded value can take;
        used to bound array counts by the bytes that remain.
    """

    fmt: str | None = None
    minSize: int = 4
    name: str = "?"

    def packInto(self, value: Any, parts: list) -> None:
        raise NotImplementedError

    def unpackRaw(self, buf: Any, off: int) -> tuple[Any, int]:
        """
        Decode without translating L{struct.error}; composite types call this.
        """
        raise NotImplementedError

    def _prepare(self) -> None:
        """
        Generate code now, so that callers can bind the final functions.
        """

    def pack(self, value: Any) -> bytes:
        """
        Encode C{value}.

        @raise XDRError: the value does not fit the type.
        """
        parts: list = []
        try:
            self.packInto(value, parts)
        except XDRError:
            raise
        except (struct.error, TypeError, ValueError, IndexError,
                AttributeError, OverflowError) as e:
            raise XDRError(f"cannot encode {self.name}: {e}") from None
        return b"".join(parts)

    encode = pack

    def unpack(self, buf: Any, off: int = 0) -> tuple[Any, int]:
        """
        Decode one value starting at C{off}.

        @param buf: L{bytes} or L{bytearray} (a L{memoryview} is copied
            once, since the generated code slices and decodes in place).
        @return: the value and the offset just past it.
        @raise XDRError: the bytes are not a valid encoding.
        """
        if type(buf) is memoryview:
            buf = buf.tobytes()
        try:
            return self.unpackRaw(buf, off)
        except struct.error:
            raise XDRError(f"truncated {self.name}") from None

    def decode(self, buf: Any) -> Any:
        """
        Decode a value that must fill C{buf} exactly.

        @raise XDRError: invalid encoding, or bytes left over.
        """
        value, off = self.unpack(buf, 0)
        if off != len(buf):
            raise XDRError(
                f"{len(buf) - off} trailing bytes after {self.name}")
        return value

    def __repr__(self) -> str:
        return f"<xdr {self.name}>"


def _checkCount(what: str, n: int, maximum: int) -> None:
    # Counts travel as unsigned words; a "negative" count shows up as a huge
    # one, and libvirt's C decoder sees it as negative: name it so.
    if n > 0x7FFFFFFF:
        raise XDRError(f"negative {what} ({n - 0x100000000})")
    if n > maximum:
        raise XDRError(f"{what} {n} exceeds maximum {maximum}")
