"""
Tests for L{virtd.xdr}: every type round-trips, and every strictness rule of
DESIGN.md decision 2 holds (maximum lengths, remaining-bytes checks before
allocating, negative counts, optional flags, trailing bytes, tolerated
non-zero padding, 4-byte char/short).
"""

from __future__ import annotations

import math
import struct
import time
import tracemalloc

from twisted.trial.unittest import SynchronousTestCase

from virtd import xdr
from virtd.protocol.types import UUID, Dom, TypedParam, TypedParams

U32 = struct.Struct(">I").pack


def u32(*words: int) -> bytes:
    return b"".join(U32(w & 0xFFFFFFFF) for w in words)


class PrimitiveTests(SynchronousTestCase):
    """
    Fixed-size numbers: sizes, byte order, ranges.
    """

    def assertRoundTrip(self, t: xdr.Type, value, encoded: bytes) -> None:
        self.assertEqual(t.pack(value), encoded)
        self.assertEqual(t.encode(value), encoded)
        self.assertEqual(t.decode(encoded), value)
        self.assertEqual(t.unpack(b"\xaa" + encoded, 1), (value, 1 + len(encoded)))

    def test_int(self) -> None:
        self.assertRoundTrip(xdr.Int, 0, b"\0\0\0\0")
        self.assertRoundTrip(xdr.Int, -1, b"\xff\xff\xff\xff")
        self.assertRoundTrip(xdr.Int, 2**31 - 1, b"\x7f\xff\xff\xff")
        self.assertRoundTrip(xdr.Int, -(2**31), b"\x80\0\0\0")

    def test_intRange(self) -> None:
        self.assertRaises(xdr.XDRError, xdr.Int.pack, 2**31)
        self.assertRaises(xdr.XDRError, xdr.Int.pack, -(2**31) - 1)
        self.assertRaises(xdr.XDRError, xdr.Int.pack, "1")

    def test_uint(self) -> None:
        self.assertRoundTrip(xdr.UInt, 0xFFFFFFFF, b"\xff\xff\xff\xff")
        self.assertRoundTrip(xdr.UInt, 0x01020304, b"\x01\x02\x03\x04")
        self.assertRaises(xdr.XDRError, xdr.UInt.pack, -1)
        self.assertRaises(xdr.XDRError, xdr.UInt.pack, 2**32)

    def test_hyper(self) -> None:
        """
        Hypers are 8 bytes, most significant word first.
        """
        self.assertRoundTrip(xdr.Hyper, 1, b"\0" * 7 + b"\1")
        self.assertRoundTrip(xdr.Hyper, -1, b"\xff" * 8)
        self.assertRoundTrip(xdr.Hyper, 2**63 - 1, b"\x7f" + b"\xff" * 7)
        self.assertRoundTrip(xdr.Hyper, -(2**63), b"\x80" + b"\0" * 7)
        self.assertRoundTrip(xdr.Hyper, 0x0102030405060708, bytes(range(1, 9)))
        self.assertRaises(xdr.XDRError, xdr.Hyper.pack, 2**63)
        self.assertRaises(xdr.XDRError, xdr.Hyper.pack, -(2**63) - 1)

    def test_uhyper(self) -> None:
        self.assertRoundTrip(xdr.UHyper, 2**64 - 1, b"\xff" * 8)
        self.assertRoundTrip(xdr.UHyper, 2**32, b"\0\0\0\1\0\0\0\0")
        self.assertRaises(xdr.XDRError, xdr.UHyper.pack, 2**64)
        self.assertRaises(xdr.XDRError, xdr.UHyper.pack, -1)

    def test_double(self) -> None:
        self.assertRoundTrip(xdr.Double, 1.5, struct.pack(">d", 1.5))
        self.assertRoundTrip(xdr.Double, -0.0, b"\x80" + b"\0" * 7)
        self.assertRoundTrip(xdr.Double, math.inf, b"\x7f\xf0" + b"\0" * 6)
        self.assertRoundTrip(xdr.Double, -math.inf, b"\xff\xf0" + b"\0" * 6)
        self.assertRoundTrip(xdr.Double, 5e-324, b"\0" * 7 + b"\1")
        self.assertRoundTrip(xdr.Double, 1.7976931348623157e308,
                             b"\x7f\xef" + b"\xff" * 6)
        nan = xdr.Double.decode(b"\x7f\xf8" + b"\0" * 6)
        self.assertTrue(math.isnan(nan))
        self.assertEqual(xdr.Double.pack(nan), b"\x7f\xf8" + b"\0" * 6)

    def test_float(self) -> None:
        self.assertRoundTrip(xdr.Float, 0.5, b"\x3f\0\0\0")

    def test_bool(self) -> None:
        self.assertRoundTrip(xdr.Bool, True, b"\0\0\0\1")
        self.assertRoundTrip(xdr.Bool, False, b"\0\0\0\0")

    def test_boolStrict(self) -> None:
        """
        A bool on the wire is 0 or 1; anything else is refused.
        """
        e = self.assertRaises(xdr.XDRError, xdr.Bool.decode, u32(2))
        self.assertIn("2", e.reason)
        self.assertRaises(xdr.XDRError, xdr.Bool.decode, u32(0xFFFFFFFF))

    def test_charAndShortTakeFourBytes(self) -> None:
        """
        libvirt's rpcgen puts char, unsigned char, short and unsigned short
        in a full 4-byte word each.
        """
        self.assertRoundTrip(xdr.Char, ord("A"), b"\0\0\0A")
        self.assertRoundTrip(xdr.Char, -1, b"\xff\xff\xff\xff")
        self.assertRoundTrip(xdr.UChar, 255, b"\0\0\0\xff")
        self.assertRoundTrip(xdr.Short, -2, b"\xff\xff\xff\xfe")
        self.assertRoundTrip(xdr.UShort, 65535, b"\0\0\xff\xff")
        for t in (xdr.Char, xdr.UChar, xdr.Short, xdr.UShort):
            self.assertEqual(t.minSize, 4)
        model = xdr.FixedArray(xdr.Char, 32)
        self.assertEqual(len(model.pack([0x41] * 32)), 128)
        data = xdr.Array(xdr.Char, 65536)
        self.assertEqual(data.pack([1, 2, 3]), u32(3, 1, 2, 3))

    def test_void(self) -> None:
        self.assertEqual(xdr.Void.pack(None), b"")
        self.assertIsNone(xdr.Void.decode(b""))
        self.assertRaises(xdr.XDRError, xdr.Void.pack, 1)
        self.assertRaises(xdr.XDRError, xdr.Void.decode, b"\0\0\0\0")

    def test_truncated(self) -> None:
        """
        Too few bytes is an L{xdr.XDRError}, never a L{struct.error}.
        """
        for t, n in ((xdr.Int, 4), (xdr.UInt, 4), (xdr.Hyper, 8),
                     (xdr.UHyper, 8), (xdr.Double, 8), (xdr.Bool, 4),
                     (xdr.Char, 4), (xdr.UShort, 4)):
            for k in range(n):
                self.assertRaises(xdr.XDRError, t.decode, b"\0" * k)
                self.assertRaises(xdr.XDRError, t.unpack, b"\0" * n, n - k + 1)

    def test_trailingBytes(self) -> None:
        e = self.assertRaises(xdr.XDRError, xdr.Int.decode, b"\0" * 5)
        self.assertIn("trailing", e.reason)
        self.assertRaises(xdr.XDRError, xdr.Hyper.decode, b"\0" * 12)

    def test_errorIsValueError(self) -> None:
        e = self.assertRaises(ValueError, xdr.Int.decode, b"")
        self.assertIsInstance(e, xdr.XDRError)
        self.assertIsInstance(e.reason, str)

    def test_enum(self) -> None:
        e = xdr.Enum("colour", [0, 1, 5])
        self.assertEqual(e.pack(5), u32(5))
        self.assertEqual(e.decode(u32(1)), 1)
        self.assertRaises(xdr.XDRError, e.pack, 2)
        self.assertRaises(xdr.XDRError, e.decode, u32(2))
        neg = xdr.Enum("neg", [-1])
        self.assertEqual(neg.decode(u32(0xFFFFFFFF)), -1)


class StringTests(SynchronousTestCase):
    """
    C{string<N>}, C{opaque<N>} and C{opaque[N]}.
    """

    def test_padding(self) -> None:
        s = xdr.String(100)
        self.assertEqual(s.pack(""), u32(0))
        self.assertEqual(s.pack("a"), u32(1) + b"a\0\0\0")
        self.assertEqual(s.pack("abcd"), u32(4) + b"abcd")
        self.assertEqual(s.pack("abcde"), u32(5) + b"abcde\0\0\0")
        for v in ("", "a", "ab", "abc", "abcd", "abcde"):
            self.assertEqual(s.decode(s.pack(v)), v)

    def test_utf8AndAnyBytes(self) -> None:
        """
        Text is UTF-8; bytes that are not UTF-8 survive a round trip.
        """
        s = xdr.String(100)
        self.assertEqual(s.pack("é"), u32(2) + "é".encode() + b"\0\0")
        raw = u32(3) + b"\xff\xfeA\0"
        v = s.decode(raw)
        self.assertEqual(s.pack(v), raw)

    def test_maxLength(self) -> None:
        s = xdr.String(4)
        self.assertEqual(s.decode(s.pack("abcd")), "abcd")
        self.assertRaises(xdr.XDRError, s.pack, "abcde")
        e = self.assertRaises(xdr.XDRError, s.decode, u32(5) + b"abcde\0\0\0")
        self.assertIn("maximum", e.reason)

    def test_lengthBeyondBuffer(self) -> None:
        """
        A length larger than what remains fails before any copy, including
        when only the padding is missing.
        """
        s = xdr.String(1000)
        self.assertRaises(xdr.XDRError, s.decode, u32(8) + b"abcd")
        self.assertRaises(xdr.XDRError, s.decode, u32(5) + b"abcde")
        self.assertRaises(xdr.XDRError, s.decode, u32(1))
        self.assertRaises(xdr.XDRError, s.decode, b"\0\0")

    def test_negativeLength(self) -> None:
        e = self.assertRaises(xdr.XDRError, xdr.String(100).decode, u32(-1))
        self.assertIn("negative", e.reason)
        self.assertRaises(xdr.XDRError, xdr.Opaque(100).decode, u32(-4))
        # Unbounded types still refuse it (it cannot fit).
        self.assertRaises(xdr.XDRError, xdr.String().decode, u32(-1) + b"x" * 8)

    def test_nonZeroPaddingAccepted(self) -> None:
        """
        libvirt does not check padding bytes, so neither do we.
        """
        self.assertEqual(xdr.String(10).decode(u32(1) + b"a\x01\x02\x03"), "a")
        self.assertEqual(xdr.Opaque(10).decode(u32(2) + b"ab\xff\xff"), b"ab")
        self.assertEqual(xdr.FixedOpaque(3).decode(b"abc\x09"), b"abc")

    def test_trailing(self) -> None:
        self.assertRaises(xdr.XDRError, xdr.String(10).decode,
                          u32(1) + b"a\0\0\0" + b"\0")

    def test_opaque(self) -> None:
        o = xdr.Opaque(8)
        self.assertEqual(o.pack(b"\x00\x01\x02"), u32(3) + b"\0\1\2\0")
        self.assertEqual(o.decode(u32(3) + b"\0\1\2\0"), b"\0\1\2")
        self.assertIsInstance(o.decode(memoryview(u32(1) + b"z\0\0\0")), bytes)
        self.assertRaises(xdr.XDRError, o.pack, b"x" * 9)
        self.assertRaises(xdr.XDRError, o.decode, u32(9) + b"x" * 12)
        self.assertEqual(o.pack(bytearray(b"ab")), u32(2) + b"ab\0\0")

    def test_fixedOpaque(self) -> None:
        f = xdr.FixedOpaque(5)
        self.assertEqual(f.pack(b"abcde"), b"abcde\0\0\0")
        self.assertEqual(f.decode(b"abcde\0\0\0"), b"abcde")
        self.assertRaises(xdr.XDRError, f.pack, b"abcd")
        self.assertRaises(xdr.XDRError, f.pack, b"abcdef")
        self.assertRaises(xdr.XDRError, f.decode, b"abcde\0\0")
        self.assertEqual(UUID.pack(bytes(range(16))), bytes(range(16)))

    def test_memoryview(self) -> None:
        """
        Decoding works on any buffer: bytes, bytearray, memoryview.
        """
        s = xdr.String(10)
        raw = u32(2) + b"hi\0\0"
        dom = Dom.pack(("d", b"u" * 16, 3))
        doms = xdr.Array(Dom, 2).pack([("d", b"u" * 16, 3)])
        for kind in (bytes, bytearray, memoryview):
            self.assertEqual(s.decode(kind(raw)), "hi")
            self.assertEqual(Dom.decode(kind(dom)), ("d", b"u" * 16, 3))
            self.assertEqual(xdr.Array(Dom, 2).decode(kind(doms)), [("d", b"u" * 16, 3)])


class ArrayTests(SynchronousTestCase):
    """
    C{T<N>} and C{T[N]}.
    """

    def test_numeric(self) -> None:
        a = xdr.Array(xdr.Int, 10)
        self.assertEqual(a.pack([]), u32(0))
        self.assertEqual(a.pack([1, -1]), u32(2, 1, -1))
        self.assertEqual(a.decode(u32(2, 1, -1)), [1, -1])
        h = xdr.Array(xdr.UHyper, 3)
        self.assertEqual(h.decode(h.pack([0, 2**64 - 1])), [0, 2**64 - 1])

    def test_maxLength(self) -> None:
        a = xdr.Array(xdr.Int, 2)
        self.assertRaises(xdr.XDRError, a.pack, [1, 2, 3])
        e = self.assertRaises(xdr.XDRError, a.decode, u32(3, 1, 2, 3))
        self.assertIn("maximum", e.reason)

    def test_negativeCount(self) -> None:
        for a in (xdr.Array(xdr.Int, 100), xdr.Array(Dom, 100),
                  xdr.Array(xdr.String(10), 100)):
            e = self.assertRaises(xdr.XDRError, a.decode, u32(-1) + b"\0" * 64)
            self.assertIn("negative", e.reason)

    def test_countBeyondBufferFailsFast(self) -> None:
        """
        An array claiming 2**31-1 elements in an 8-byte buffer fails at once,
        without allocating room for them.
        """
        buf = u32(2**31 - 1, 0)
        for a in (xdr.Array(xdr.Int), xdr.Array(xdr.Hyper),
                  xdr.Array(xdr.String()), xdr.Array(Dom),
                  xdr.Array(xdr.Optional(xdr.Int)), TypedParams(2**31 - 1),
                  xdr.Array(xdr.Array(xdr.Int))):
            tracemalloc.start()
            started = time.perf_counter()
            try:
                self.assertRaises(xdr.XDRError, a.decode, buf)
                elapsed = time.perf_counter() - started
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            self.assertLess(elapsed, 0.1, a.name)
            self.assertLess(peak, 1 << 20, a.name)

    def test_elementsTruncated(self) -> None:
        a = xdr.Array(xdr.Int, 10)
        self.assertRaises(xdr.XDRError, a.decode, u32(3, 1, 2))
        self.assertRaises(xdr.XDRError, xdr.Array(Dom, 10).decode,
                          u32(1) + Dom.pack(("x", b"u" * 16, 1))[:-1])

    def test_structArray(self) -> None:
        a = xdr.Array(Dom, 3)
        doms = [("a", b"1" * 16, 1), ("bb", b"2" * 16, -1), ("", b"3" * 16, 7)]
        raw = a.pack(doms)
        self.assertEqual(raw[:4], u32(3))
        out = a.decode(raw)
        self.assertEqual(out, doms)
        self.assertEqual(out[1].name, "bb")
        self.assertRaises(xdr.XDRError, a.pack, doms + doms)

    def test_fixedArray(self) -> None:
        f = xdr.FixedArray(xdr.UInt, 3)
        self.assertEqual(f.pack([1, 2, 3]), u32(1, 2, 3))
        self.assertEqual(f.decode(u32(1, 2, 3)), [1, 2, 3])
        self.assertRaises(xdr.XDRError, f.pack, [1, 2])
        self.assertRaises(xdr.XDRError, f.decode, u32(1, 2))
        self.assertRaises(xdr.XDRError, f.decode, u32(1, 2, 3, 4))
        s = xdr.FixedArray(xdr.String(5), 2)
        self.assertEqual(s.decode(s.pack(["a", "bcdef"])), ["a", "bcdef"])

    def test_arrayOfStrings(self) -> None:
        a = xdr.Array(xdr.String(3), 4)
        self.assertEqual(a.decode(a.pack(["", "a", "abc"])), ["", "a", "abc"])
        self.assertRaises(xdr.XDRError, a.pack, ["abcd"])


class OptionalTests(SynchronousTestCase):
    """
    Optional data: a 0/1 flag and the value.
    """

    def test_roundTrip(self) -> None:
        o = xdr.Optional(xdr.String(10))
        self.assertEqual(o.pack(None), u32(0))
        self.assertEqual(o.pack("x"), u32(1, 1) + b"x\0\0\0")
        self.assertIsNone(o.decode(u32(0)))
        self.assertEqual(o.decode(u32(1, 1) + b"x\0\0\0"), "x")
        self.assertEqual(o.pack(""), u32(1, 0))

    def test_flagMustBeZeroOrOne(self) -> None:
        o = xdr.Optional(xdr.Int)
        for flag in (2, 0xFFFFFFFF, 0x100):
            e = self.assertRaises(xdr.XDRError, o.decode, u32(flag, 5))
            self.assertIn("optional", e.reason)

    def test_missingValue(self) -> None:
        self.assertRaises(xdr.XDRError, xdr.Optional(xdr.Int).decode, u32(1))

    def test_nested(self) -> None:
        o = xdr.Optional(Dom)
        d = ("n", b"u" * 16, 4)
        self.assertEqual(o.decode(o.pack(d)), d)


class StructTests(SynchronousTestCase):
    """
    Structs: field order, namedtuple values, errors inside fields.
    """

    def setUp(self) -> None:
        self.s = xdr.Struct("example", [
            ("a", xdr.Int), ("b", xdr.UHyper), ("name", xdr.String(8)),
            ("c", xdr.Char), ("d", xdr.Optional(xdr.Int)),
            ("uuid", xdr.FixedOpaque(16)), ("e", xdr.Double),
            ("list", xdr.Array(xdr.UInt, 4)), ("f", xdr.Bool)])
        self.value = self.s(a=-5, b=2**64 - 1, name="abc", c=65, d=None,
                            uuid=b"U" * 16, e=0.25, list=[1, 2], f=True)

    def test_roundTrip(self) -> None:
        raw = self.s.pack(self.value)
        expected = (u32(-5) + b"\xff" * 8 + u32(3) + b"abc\0" + u32(65)
                    + u32(0) + b"U" * 16 + struct.pack(">d", 0.25)
                    + u32(2, 1, 2) + u32(1))
        self.assertEqual(raw, expected)
        out = self.s.decode(raw)
        self.assertEqual(out, self.value)
        self.assertIsInstance(out, self.s.cls)
        self.assertEqual(out.name, "abc")
        self.assertEqual(self.s.make(*self.value), self.value)

    def test_anyTuple(self) -> None:
        self.assertEqual(self.s.pack(tuple(self.value)), self.s.pack(self.value))

    def test_fieldErrors(self) -> None:
        """
        Bad field values fail with L{xdr.XDRError}, on encode and decode.
        """
        raw = self.s.pack(self.value)
        self.assertRaises(xdr.XDRError, self.s.pack, self.value._replace(a=2**31))
        self.assertRaises(xdr.XDRError, self.s.pack,
                          self.value._replace(name="123456789"))
        self.assertRaises(xdr.XDRError, self.s.pack, self.value._replace(name=None))
        self.assertRaises(xdr.XDRError, self.s.pack, self.value[:3])
        for k in range(len(raw)):
            self.assertRaises(xdr.XDRError, self.s.decode, raw[:k])
        self.assertRaises(xdr.XDRError, self.s.decode, raw + b"\0\0\0\0")
        bad = bytearray(raw)
        bad[12:16] = u32(9)  # the string's length > its maximum 8
        self.assertRaises(xdr.XDRError, self.s.decode, bytes(bad))

    def test_fixedOpaqueFieldLength(self) -> None:
        """
        A fixed-size opaque inside a struct is checked like a standalone
        one: a 15- or 17-byte UUID must not be padded or cut silently.
        """
        self.assertRaises(xdr.XDRError, Dom.pack, ("x", b"u" * 15, 1))
        self.assertRaises(xdr.XDRError, Dom.pack, ("x", b"u" * 17, 1))
        self.assertRaises(xdr.XDRError, self.s.pack,
                          self.value._replace(uuid=b"short"))

    def test_emptyStruct(self) -> None:
        e = xdr.Struct("empty", [])
        self.assertEqual(e.pack(()), b"")
        self.assertEqual(e.decode(b""), ())

    def test_nested(self) -> None:
        outer = xdr.Struct("outer", [("dom", Dom), ("x", xdr.Int)])
        v = outer(dom=Dom(name="d", uuid=b"u" * 16, id=2), x=9)
        self.assertEqual(outer.decode(outer.pack(v)), v)
        self.assertEqual(outer.decode(outer.pack(v)).dom.id, 2)


class UnionTests(SynchronousTestCase):
    """
    Discriminated unions, including typed parameters.
    """

    def test_arms(self) -> None:
        u = xdr.Union("u", xdr.Int, {1: ("i", xdr.Int), 2: ("s", xdr.String(5)),
                                     3: ("nothing", xdr.Void)})
        self.assertEqual(u.pack((1, 7)), u32(1, 7))
        self.assertEqual(u.decode(u32(2, 1) + b"x\0\0\0"), (2, "x"))
        self.assertEqual(u.pack((3, None)), u32(3))
        self.assertEqual(u.decode(u32(3)), (3, None))

    def test_unknownDiscriminant(self) -> None:
        u = xdr.Union("u", xdr.Int, {1: ("i", xdr.Int)})
        e = self.assertRaises(xdr.XDRError, u.decode, u32(2, 0))
        self.assertIn("discriminant", e.reason)
        self.assertRaises(xdr.XDRError, u.pack, (2, 0))

    def test_default(self) -> None:
        u = xdr.Union("u", xdr.Int, {1: ("i", xdr.Int)},
                      default=("other", xdr.Void))
        self.assertEqual(u.decode(u32(42)), (42, None))
        self.assertEqual(u.pack((42, None)), u32(42))

    def test_typedParams(self) -> None:
        values = [("i", (1, -3)), ("ui", (2, 2**32 - 1)), ("l", (3, -(2**63))),
                  ("ul", (4, 2**64 - 1)), ("d", (5, 2.5)), ("b", (6, 1)),
                  ("s", (7, "text"))]
        tp = TypedParams(16)
        raw = tp.pack(values)
        self.assertEqual(tp.decode(raw), values)
        self.assertEqual(TypedParam.pack(("ui", (2, 1))),
                         u32(2) + b"ui\0\0" + u32(2, 1))
        bad = u32(1, 1) + b"x\0\0\0" + u32(8, 0)
        self.assertRaises(xdr.XDRError, tp.decode, bad)
        self.assertRaises(xdr.XDRError, TypedParams(1).decode, tp.pack(values[:2]))
