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
"""

from __future__ import annotations

import struct
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "XDRError", "Type", "Int", "UInt", "Hyper", "UHyper", "Bool", "Double",
    "Float", "Char", "UChar", "Short", "UShort", "Void", "Enum", "String",
    "Opaque", "FixedOpaque", "Array", "FixedArray", "Optional", "Struct",
    "Union",
]


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


def _checkCount(what: str, n: int, maximum: int) -> None:
    # Counts travel as unsigned words; a "negative" count shows up as a huge
    # one, and libvirt's C decoder sees it as negative: name it so.
    if n > 0x7FFFFFFF:
        raise XDRError(f"negative {what} ({n - 0x100000000})")
    if n > maximum:
        raise XDRError(f"{what} {n} exceeds maximum {maximum}")


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
        self.cls = namedtuple(name, [f for f, _ in self.fields])  # type: ignore[misc]
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
