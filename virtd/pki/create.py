"""
Issuing certificates libvirt accepts: a small self-signed CA
(L{makeCA}), TLS server certificates naming their hosts in
subjectAltName (L{makeServerCert}), and client certificates whose subject
a server's DN allowlist matches (L{makeClientCert}), each with the
extensions libvirt (GnuTLS) insists on; and writing whole pkipaths
(L{writeServerLayout}, L{writeClientLayout}, L{initPKI}).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from virtd.pki.dn import DEFAULT_CLIENT_DN, parseDN
from virtd.pki.layout import (
    CA_CERT,
    CA_KEY,
    CLIENT_CERT,
    CLIENT_KEY,
    SERVER_CERT,
    SERVER_KEY,
    CertAndKey,
    PKILayout,
    _write,
    _writeCACert,
)

__all__ = [
    "initPKI",
    "makeCA",
    "makeClientCert",
    "makeServerCert",
    "writeClientLayout",
    "writeServerLayout",
]


DEFAULT_DAYS = 3650
DEFAULT_CA_CN = "virtd CA"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _newKey(keySize: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=keySize)


def _validity(
    days: int, now: datetime.datetime | None
) -> tuple[datetime.datetime, datetime.datetime]:
    start = now if now is not None else _now()
    # A little slack so a peer whose clock is slightly behind accepts it.
    return start - datetime.timedelta(hours=1), start + datetime.timedelta(days=days)


def _issue(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: CertAndKey | None,
    days: int,
    now: datetime.datetime | None,
    extensions: Iterable[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    notBefore, notAfter = _validity(days, now)
    signingKey = key if issuer is None else issuer.key
    issuerName = subject if issuer is None else issuer.cert.subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuerName)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(notBefore)
        .not_valid_after(notAfter)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False
        )
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer.key.public_key()
            ),
            False,
        )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    return builder.sign(signingKey, hashes.SHA256())


def _keyUsage(**enabled: bool) -> x509.KeyUsage:
    flags = dict.fromkeys(
        [
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ],
        False,
    )
    flags.update(enabled)
    return x509.KeyUsage(**flags)


def makeCA(
    directory: str | None,
    cn: str = DEFAULT_CA_CN,
    days: int = DEFAULT_DAYS,
    keySize: int = 2048,
    now: datetime.datetime | None = None,
) -> CertAndKey:
    """
    Create a self-signed certificate authority.

    @param directory: where to write C{cacert.pem} and C{cakey.pem} (created
        if missing), or L{None} to write nothing.
    @param cn: the CA's common name; its subject is C{O=virtd,CN=<cn>}.
    @param days: how long the certificate is valid.
    @param keySize: RSA key size in bits.
    @param now: the start of validity (default: the current time); pass an
        old date to make an expired certificate for tests.
    @return: the CA certificate and key.
    """
    key = _newKey(keySize)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "virtd"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )
    cert = _issue(
        subject,
        key,
        None,
        days,
        now,
        [
            (x509.BasicConstraints(ca=True, path_length=None), True),
            (_keyUsage(key_cert_sign=True, crl_sign=True), True),
        ],
    )
    pair = CertAndKey(cert, key)
    _write(directory, pair, CA_CERT, CA_KEY)
    return pair


def makeServerCert(
    directory: str | None,
    ca: CertAndKey,
    names: Sequence[str] = ("localhost",),
    ips: Sequence[str] = ("127.0.0.1",),
    days: int = DEFAULT_DAYS,
    keySize: int = 2048,
    now: datetime.datetime | None = None,
) -> CertAndKey:
    """
    Issue a TLS server certificate, as libvirtd wants it.

    The subject is C{O=virtd,CN=<first name or IP>}; every name and IP goes
    into subjectAltName, which is what clients check against the host they
    dial.

    @param directory: where to write C{servercert.pem} and C{serverkey.pem},
        or L{None} to write nothing.
    @param ca: the issuing CA.
    @param names: DNS names for subjectAltName.
    @param ips: IPv4/IPv6 addresses (as strings) for subjectAltName.
    @param days: how long the certificate is valid.
    @param keySize: RSA key size in bits.
    @param now: the start of validity (default: the current time).
    @return: the server certificate and key.
    @raise ValueError: if neither a name nor an IP is given, or an IP does
        not parse.
    """
    if not names and not ips:
        raise ValueError(
            "a server certificate needs at least one DNS name or IP address: "
            "clients check it against the host they connect to"
        )
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    for ip in ips:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError:
            raise ValueError(f"not an IP address: {ip!r}") from None
    key = _newKey(keySize)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "virtd"),
            x509.NameAttribute(NameOID.COMMON_NAME, (list(names) + list(ips))[0]),
        ]
    )
    cert = _issue(
        subject,
        key,
        ca,
        days,
        now,
        [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (_keyUsage(digital_signature=True, key_encipherment=True), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            (x509.SubjectAlternativeName(sans), False),
        ],
    )
    pair = CertAndKey(cert, key)
    _write(directory, pair, SERVER_CERT, SERVER_KEY)
    return pair


def makeClientCert(
    directory: str | None,
    ca: CertAndKey,
    dn: str = DEFAULT_CLIENT_DN,
    days: int = DEFAULT_DAYS,
    keySize: int = 2048,
    now: datetime.datetime | None = None,
) -> CertAndKey:
    """
    Issue a TLS client certificate, as libvirt clients present it.

    @param directory: where to write C{clientcert.pem} and C{clientkey.pem},
        or L{None} to write nothing.
    @param ca: the issuing CA.
    @param dn: the subject, e.g. C{"C=GB,O=virtd,CN=client1"} (see
        L{parseDN}); this is what a server's DN allowlist matches.
    @param days: how long the certificate is valid.
    @param keySize: RSA key size in bits.
    @param now: the start of validity (default: the current time).
    @return: the client certificate and key.
    @raise ValueError: if C{dn} does not parse.
    """
    key = _newKey(keySize)
    cert = _issue(
        parseDN(dn),
        key,
        ca,
        days,
        now,
        [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (_keyUsage(digital_signature=True, key_encipherment=True), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
        ],
    )
    pair = CertAndKey(cert, key)
    _write(directory, pair, CLIENT_CERT, CLIENT_KEY)
    return pair


def writeServerLayout(
    directory: str,
    ca: CertAndKey,
    names: Sequence[str] = ("localhost",),
    ips: Sequence[str] = ("127.0.0.1",),
    **kwargs: int,
) -> CertAndKey:
    """
    Write a libvirt server pkipath: C{cacert.pem}, C{servercert.pem} and
    C{serverkey.pem} (the CA's key is not copied).

    @param directory: the pkipath to write (created if missing).
    @param ca: the issuing CA.
    @param names: DNS names for subjectAltName.
    @param ips: IP addresses for subjectAltName.
    @param kwargs: C{days} or C{keySize}, passed to L{makeServerCert}.
    @return: the server certificate and key.
    """
    _writeCACert(directory, ca)
    return makeServerCert(directory, ca, names, ips, **kwargs)


def writeClientLayout(
    directory: str,
    ca: CertAndKey,
    dn: str = DEFAULT_CLIENT_DN,
    **kwargs: int,
) -> CertAndKey:
    """
    Write a libvirt client pkipath: C{cacert.pem}, C{clientcert.pem} and
    C{clientkey.pem} (the CA's key is not copied).

    @param directory: the pkipath to write (created if missing).
    @param ca: the issuing CA.
    @param dn: the client's subject (see L{parseDN}).
    @param kwargs: C{days} or C{keySize}, passed to L{makeClientCert}.
    @return: the client certificate and key.
    """
    _writeCACert(directory, ca)
    return makeClientCert(directory, ca, dn, **kwargs)


def initPKI(
    directory: str,
    serverNames: Sequence[str] = ("localhost",),
    serverIPs: Sequence[str] = ("127.0.0.1",),
    clientDN: str = DEFAULT_CLIENT_DN,
    caCN: str = DEFAULT_CA_CN,
    days: int = DEFAULT_DAYS,
) -> PKILayout:
    """
    Write a complete PKI: C{directory/ca} (the CA, keep its key private),
    C{directory/server} (a server pkipath) and C{directory/client} (a client
    pkipath).

    @param directory: the top directory (created if missing).
    @param serverNames: DNS names for the server certificate.
    @param serverIPs: IP addresses for the server certificate.
    @param clientDN: the client certificate's subject.
    @param caCN: the CA's common name.
    @param days: validity of every certificate.
    @return: the three directories.
    """
    layout = PKILayout(
        caDir=os.path.join(directory, "ca"),
        serverDir=os.path.join(directory, "server"),
        clientDir=os.path.join(directory, "client"),
    )
    ca = makeCA(layout.caDir, caCN, days=days)
    writeServerLayout(layout.serverDir, ca, serverNames, serverIPs, days=days)
    writeClientLayout(layout.clientDir, ca, clientDN, days=days)
    return layout
