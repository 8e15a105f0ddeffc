"""
Distinguished names as libvirt writes them in C{tls_allowed_dn_list}:
comma-separated C{KEY=value} pairs in certificate order, most general
first (e.g. C{"C=GB,O=virtd,CN=client1"}), a backslash escaping a comma
or backslash inside a value. L{parseDN} reads that form into an
C{x509.Name}; L{formatDN} writes one.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

__all__ = ["DEFAULT_CLIENT_DN", "formatDN", "parseDN"]

# The client subject used when none is given; also the example in errors.
DEFAULT_CLIENT_DN = "C=GB,O=virtd,CN=client1"


# Short names accepted in DN strings, in the spelling GnuTLS prints them.
_DN_KEYS: dict[str, x509.ObjectIdentifier] = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
    "DC": NameOID.DOMAIN_COMPONENT,
    "UID": NameOID.USER_ID,
    "EMAIL": NameOID.EMAIL_ADDRESS,
    "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
}


_DN_NAMES: dict[x509.ObjectIdentifier, str] = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.USER_ID: "UID",
    NameOID.EMAIL_ADDRESS: "EMAIL",
    NameOID.SERIAL_NUMBER: "serialNumber",
}


def parseDN(dn: str) -> x509.Name:
    """
    Parse a distinguished name written as libvirt's C{tls_allowed_dn_list}
    writes it: C{KEY=value} pairs separated by commas, in certificate order.

    A comma or backslash inside a value is escaped with a backslash.

    @param dn: e.g. C{"C=GB,O=virtd,CN=client1"}.
    @return: the name, with one attribute per relative distinguished name.
    @raise ValueError: if a pair has no C{=}, an unknown key, or an empty
        value.
    """
    parts: list[str] = []
    current: list[str] = []
    chars = iter(dn)
    for ch in chars:
        if ch == "\\":
            current.append(next(chars, ""))
        elif ch == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))

    attributes = []
    for part in parts:
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not value:
            raise ValueError(
                f"bad distinguished name {dn!r}: {part!r} is not KEY=value "
                f"(expected something like {DEFAULT_CLIENT_DN!r})"
            )
        oid = _DN_KEYS.get(key.upper())
        if oid is None:
            known = ", ".join(sorted({_DN_NAMES[o] for o in _DN_KEYS.values()}))
            raise ValueError(
                f"bad distinguished name {dn!r}: unknown key {key!r} "
                f"(known keys: {known})"
            )
        attributes.append(x509.NameAttribute(oid, value))
    return x509.Name(attributes)


def formatDN(name: x509.Name) -> str:
    """
    Write a name in the form L{parseDN} reads, which is also the form
    libvirt matches against C{tls_allowed_dn_list}.

    @param name: a certificate subject or issuer.
    @return: e.g. C{"C=GB,O=virtd,CN=client1"}.
    """
    out = []
    for attribute in name:
        key = _DN_NAMES.get(attribute.oid, attribute.oid.dotted_string)
        value = str(attribute.value).replace("\\", "\\\\").replace(",", "\\,")
        out.append(f"{key}={value}")
    return ",".join(out)
