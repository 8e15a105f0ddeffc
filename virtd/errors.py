"""
L{LibvirtError}: every error a virtd user sees, shaped like
C{libvirt.libvirtError}, plus libvirt's error numbers and domains.
"""

from __future__ import annotations

from typing import Any

from virtd.errorcodes import *  # noqa: F403  (re-exported constants)
from virtd.errorcodes import (
    DOMAIN_NAMES,
    ERROR_NAMES,
    MESSAGES,
    VIR_ERR_ERROR,
    VIR_ERR_INTERNAL_ERROR,
    VIR_FROM_NONE,
)


def printable(text: str | None) -> str | None:
    """
    C{text} safe to log or print: bytes a peer sent that are not UTF-8
    (kept by the codec as lone surrogates) become C{\\xNN} escapes.
    """
    if text is None:
        return None
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode(
            "utf-8", "backslashreplace")


class LibvirtError(Exception):
    """
    An error with libvirt's code, domain and message.

    The accessors match C{libvirt.libvirtError}, so code written against
    libvirt-python reads errors from virtd unchanged.

    @ivar err: C{(code, domain, message, level, str1, str2, str3, int1, int2)}
        as libvirt-python's C{libvirtError.err}.
    """

    def __init__(self, message: str | None, code: int = VIR_ERR_INTERNAL_ERROR,
                 domain: int = VIR_FROM_NONE, level: int = VIR_ERR_ERROR,
                 str1: str | None = None, str2: str | None = None,
                 str3: str | None = None, int1: int = -1,
                 int2: int = -1) -> None:
        super().__init__(message if message is not None else "Unknown error")
        self.err = (code, domain, message, level, str1, str2, str3, int1,
                    int2)

    @classmethod
    def fromCode(cls, code: int, domain: int,
                 detail: str | None = None) -> LibvirtError:
        """
        Build an error the way libvirt's C{virReportError} does: the
        message is the code's template with C{detail} substituted, C{str1}
        the template and C{str2} the detail.

        @param detail: the text substituted into the template, or C{None}
            for the code's short message.
        """
        short, template = MESSAGES.get(code, ("unknown error", "%s"))
        if detail is None:
            return cls(short, code, domain, str1=short)
        return cls(template.replace("%s", detail, 1), code, domain,
                   str1=template, str2=detail)

    def get_error_code(self) -> int:
        return self.err[0]

    def get_error_domain(self) -> int:
        return self.err[1]

    def get_error_message(self) -> str | None:
        return self.err[2]

    def get_error_level(self) -> int:
        return self.err[3]

    def get_str1(self) -> str | None:
        return self.err[4]

    def get_str2(self) -> str | None:
        return self.err[5]

    def get_str3(self) -> str | None:
        return self.err[6]

    def get_int1(self) -> int:
        return self.err[7]

    def get_int2(self) -> int:
        return self.err[8]

    def __repr__(self) -> str:
        code, domain = self.err[0], self.err[1]
        return (f"LibvirtError({self.err[2]!r}, "
                f"code={ERROR_NAMES.get(code, code)}, "
                f"domain={DOMAIN_NAMES.get(domain, domain)})")

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, LibvirtError) and other.err == self.err

    __hash__ = Exception.__hash__
