"""
RFC 4506 XDR types that compile to fast pack and unpack functions.

Every type object offers the same four operations:

  - C{t.pack(value) -> bytes} (alias C{encode});
  - C{t.unpack(buf, offset) -> (value, newOffset)};
  - C{t.decode(buf) -> value}, which insists that the whole buffer is consumed;
  - C{t.packInto(value, parts)}, which appends byte strings to a list so that
    nested values are joined once, at the top.

Structs generate their code once, at definition time: runs of fixed-size
primitive fields become a single L{struct.Struct} call, strings are inlined.

Strictness (DESIGN.md decision 2): every count and length is checked against
its declared maximum I{and} against the bytes that remain before anything is
allocated, negative counts are refused, an optional-data flag must be 0 or 1,
trailing bytes are refused by L{Type.decode}, and non-zero padding is accepted.
libvirt's C{char} and C{short} take four bytes each.

Import every name from here (C{from virtd.xdr import Struct}); the code
lives in:

  - L{virtd.xdr.base}: L{Type} and L{XDRError};
  - L{virtd.xdr.primitives}: numbers, C{void}, C{bool}, enums, strings and
    opaque data;
  - L{virtd.xdr.structs}: L{Struct} and the code generator;
  - L{virtd.xdr.containers}: arrays, optional data and unions.
"""

from virtd.xdr.base import Type, XDRError
from virtd.xdr.containers import Array, FixedArray, Optional, Union
from virtd.xdr.primitives import (
    Bool,
    Char,
    Double,
    Enum,
    FixedOpaque,
    Float,
    Hyper,
    Int,
    Opaque,
    Short,
    String,
    UChar,
    UHyper,
    UInt,
    UShort,
    Void,
)
from virtd.xdr.structs import Struct

__all__ = [
    "XDRError", "Type", "Int", "UInt", "Hyper", "UHyper", "Bool", "Double",
    "Float", "Char", "UChar", "Short", "UShort", "Void", "Enum", "String",
    "Opaque", "FixedOpaque", "Array", "FixedArray", "Optional", "Struct",
    "Union",
]
