"""
Create and check libvirt-style PKI directories (a "pkipath").

libvirt looks for fixed file names in a directory:

  - server side: C{cacert.pem}, C{servercert.pem}, C{serverkey.pem};
  - client side: C{cacert.pem}, C{clientcert.pem}, C{clientkey.pem}.

This module issues a small CA and the server and client certificates signed
by it, with the extensions libvirt (GnuTLS) insists on, and checks an existing
directory the way a person debugging a failed TLS handshake would want.

Distinguished names are written as libvirt writes them in
C{tls_allowed_dn_list}: comma-separated C{KEY=value} pairs in certificate
order, most general first, e.g. C{"C=GB,O=virtd,CN=client1"}.

Command line::

    python -m virtd.pki init DIR [--server-name NAME]... [--server-ip IP]...
                                 [--client-dn DN] [--ca-cn CN] [--days N]
    python -m virtd.pki client CADIR OUTDIR --dn DN
    python -m virtd.pki --check DIR
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CA_CERT",
    "CA_KEY",
    "CLIENT_CERT",
    "CLIENT_KEY",
    "SERVER_CERT",
    "SERVER_KEY",
    "CertAndKey",
    "PKILayout",
    "checkLayout",
    "formatDN",
    "initPKI",
    "loadCA",
    "main",
    "makeCA",
    "makeClientCert",
    "makeServerCert",
    "parseDN",
    "writeClientLayout",
    "writeServerLayout",
]

CA_CERT = "cacert.pem"
CA_KEY = "cakey.pem"
SERVER_CERT = "servercert.pem"
SERVER_KEY = "serverkey.pem"
CLIENT_CERT = "clientcert.pem"
CLIENT_KEY = "clientkey.pem"

DEFAULT_DAYS = 3650
DEFAULT_CLIENT_DN = "C=GB,O=virtd,CN=client1"
DEFAULT_CA_CN = "virtd CA"

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


@dataclass(frozen=True)
class CertAndKey:
    """
    A certificate and its private key.

    @ivar cert: the certificate.
    @ivar key: the private key matching C{cert}.
    """

    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    def certPEM(self) -> bytes:
        """
        @return: the certificate in PEM form.
        """
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def keyPEM(self) -> bytes:
        """
        @return: the unencrypted private key in PEM form (PKCS#1).
        """
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )


@dataclass(frozen=True)
class PKILayout:
    """
    The directories written by L{initPKI}.

    @ivar caDir: holds C{cacert.pem} and C{cakey.pem}.
    @ivar serverDir: a libvirt server pkipath.
    @ivar clientDir: a libvirt client pkipath.
    """

    caDir: str
    serverDir: str
    clientDir: str


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


def _writeFile(path: str, data: bytes, private: bool = False) -> None:
    mode = 0o600 if private else 0o644
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def _write(
    directory: str | None, pair: CertAndKey, certName: str, keyName: str
) -> None:
    if directory is None:
        return
    os.makedirs(directory, exist_ok=True)
    _writeFile(os.path.join(directory, certName), pair.certPEM())
    _writeFile(os.path.join(directory, keyName), pair.keyPEM(), private=True)


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


def loadCA(directory: str) -> CertAndKey:
    """
    Read a CA written by L{makeCA}.

    @param directory: holds C{cacert.pem} and C{cakey.pem}.
    @return: the CA certificate and key.
    @raise FileNotFoundError: if either file is missing.
    @raise ValueError: if a file is not PEM or the key is not RSA.
    """
    with open(os.path.join(directory, CA_CERT), "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(os.path.join(directory, CA_KEY), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{directory}/{CA_KEY}: expected an RSA key")
    return CertAndKey(cert, key)


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


def _writeCACert(directory: str, ca: CertAndKey) -> None:
    os.makedirs(directory, exist_ok=True)
    _writeFile(os.path.join(directory, CA_CERT), ca.certPEM())


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


# --- checking -------------------------------------------------------------


def _loadCert(path: str, problems: list[str]) -> x509.Certificate | None:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        problems.append(f"{path}: missing")
        return None
    except OSError as e:
        problems.append(f"{path}: cannot read: {e.strerror}")
        return None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        problems.append(f"{path}: not a PEM certificate")
        return None


def _loadKey(path: str, problems: list[str]) -> object | None:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        problems.append(f"{path}: missing")
        return None
    except OSError as e:
        problems.append(f"{path}: cannot read: {e.strerror}")
        return None
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        problems.append(f"{path}: the key is encrypted; libvirt needs it unencrypted")
    except ValueError:
        problems.append(f"{path}: not an unencrypted PEM private key")
    return None


def _extension(cert: x509.Certificate, kind: type) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _publicBytes(key: object) -> bytes:
    if hasattr(key, "private_bytes"):
        key = key.public_key()  # type: ignore[attr-defined]
    return key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    )


def _checkDates(
    path: str, cert: x509.Certificate, now: datetime.datetime, problems: list[str]
) -> None:
    if now < cert.not_valid_before_utc:
        problems.append(
            f"{path}: not valid yet (valid from "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC); check the clock"
        )
    if now > cert.not_valid_after_utc:
        problems.append(
            f"{path}: expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC; "
            f"issue a new one"
        )


def _checkCA(path: str, ca: x509.Certificate, problems: list[str]) -> None:
    constraints = _extension(ca, x509.BasicConstraints)
    if constraints is None or not constraints.ca:  # type: ignore[attr-defined]
        problems.append(f"{path}: not a CA certificate (basicConstraints CA:TRUE missing)")
    usage = _extension(ca, x509.KeyUsage)
    if usage is not None and not usage.key_cert_sign:  # type: ignore[attr-defined]
        problems.append(f"{path}: keyUsage does not allow keyCertSign")


def _checkLeaf(
    path: str,
    cert: x509.Certificate,
    role: str,
    purpose: x509.ObjectIdentifier,
    problems: list[str],
) -> None:
    constraints = _extension(cert, x509.BasicConstraints)
    if constraints is not None and constraints.ca:  # type: ignore[attr-defined]
        problems.append(f"{path}: is a CA certificate; a {role} certificate must be CA:FALSE")
    usage = _extension(cert, x509.KeyUsage)
    if usage is not None:
        if not usage.digital_signature:  # type: ignore[attr-defined]
            problems.append(f"{path}: keyUsage lacks digitalSignature")
        if not usage.key_encipherment:  # type: ignore[attr-defined]
            problems.append(f"{path}: keyUsage lacks keyEncipherment")
    extended = _extension(cert, x509.ExtendedKeyUsage)
    purposeName = "serverAuth" if role == "server" else "clientAuth"
    if extended is None:
        if role == "client":
            problems.append(f"{path}: no extendedKeyUsage; a client certificate needs clientAuth")
    elif purpose not in extended:  # type: ignore[operator]
        problems.append(f"{path}: extendedKeyUsage lacks {purposeName}")
    if role == "server":
        san = _extension(cert, x509.SubjectAlternativeName)
        if san is None or not (
            san.get_values_for_type(x509.DNSName)  # type: ignore[attr-defined]
            or san.get_values_for_type(x509.IPAddress)  # type: ignore[attr-defined]
        ):
            problems.append(
                f"{path}: no subjectAltName DNS name or IP address; clients cannot "
                f"verify the host they dial"
            )


def checkLayout(
    directory: str, now: datetime.datetime | None = None
) -> tuple[str, list[str]]:
    """
    Check a libvirt pkipath as libvirt would use it.

    The role is found from the files present: C{servercert.pem} makes it a
    server pkipath, C{clientcert.pem} a client one (both may be present).
    Checked: every file exists and parses; each key matches its
    certificate; each certificate is signed by C{cacert.pem} and within its
    validity period; the CA is a CA; a server certificate has
    subjectAltName entries and allows serverAuth; a client certificate has
    extendedKeyUsage clientAuth.

    @param directory: the pkipath.
    @param now: the time to check validity against (default: now).
    @return: C{(roles, problems)}: a description of what was found
        (C{"server"}, C{"client"}, C{"server+client"} or C{""}) and one
        line per problem, empty if the directory is usable.
    """
    now = now if now is not None else _now()
    problems: list[str] = []
    if not os.path.isdir(directory):
        return "", [f"{directory}: not a directory"]
    roles = []
    if os.path.exists(os.path.join(directory, SERVER_CERT)) or os.path.exists(
        os.path.join(directory, SERVER_KEY)
    ):
        roles.append(("server", SERVER_CERT, SERVER_KEY, ExtendedKeyUsageOID.SERVER_AUTH))
    if os.path.exists(os.path.join(directory, CLIENT_CERT)) or os.path.exists(
        os.path.join(directory, CLIENT_KEY)
    ):
        roles.append(("client", CLIENT_CERT, CLIENT_KEY, ExtendedKeyUsageOID.CLIENT_AUTH))
    if not roles:
        return "", [
            f"{directory}: neither {SERVER_CERT} nor {CLIENT_CERT} found; "
            f"this is not a libvirt pkipath (create one with: "
            f"python -m virtd.pki init DIR)"
        ]

    caPath = os.path.join(directory, CA_CERT)
    ca = _loadCert(caPath, problems)
    if ca is not None:
        _checkCA(caPath, ca, problems)
        _checkDates(caPath, ca, now, problems)

    for role, certName, keyName, purpose in roles:
        certPath = os.path.join(directory, certName)
        keyPath = os.path.join(directory, keyName)
        cert = _loadCert(certPath, problems)
        key = _loadKey(keyPath, problems)
        if cert is None:
            continue
        if key is not None and _publicBytes(key) != _publicBytes(cert.public_key()):
            problems.append(f"{keyPath}: does not match the public key in {certPath}")
        if ca is not None:
            try:
                cert.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                problems.append(
                    f"{certPath}: not signed by {caPath} (issuer "
                    f"{formatDN(cert.issuer)!r}, CA subject {formatDN(ca.subject)!r})"
                )
        _checkDates(certPath, cert, now, problems)
        _checkLeaf(certPath, cert, role, purpose, problems)
    return "+".join(r[0] for r in roles), problems


# --- command line -----------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m virtd.pki",
        description="Create or check libvirt-style PKI directories (pkipath).",
    )
    parser.add_argument(
        "--check",
        metavar="DIR",
        help="check an existing server or client pkipath (or a directory made "
        "by 'init', checking its server/ and client/) and print what is wrong",
    )
    commands = parser.add_subparsers(dest="command")
    init = commands.add_parser(
        "init", help="create DIR/ca, DIR/server and DIR/client"
    )
    init.add_argument("directory", metavar="DIR")
    init.add_argument(
        "--server-name",
        action="append",
        dest="serverNames",
        metavar="NAME",
        help="DNS name for the server certificate (repeatable; default localhost)",
    )
    init.add_argument(
        "--server-ip",
        action="append",
        dest="serverIPs",
        metavar="IP",
        help="IP address for the server certificate (repeatable; default 127.0.0.1)",
    )
    init.add_argument(
        "--client-dn",
        default=DEFAULT_CLIENT_DN,
        dest="clientDN",
        metavar="DN",
        help=f"client certificate subject (default {DEFAULT_CLIENT_DN!r})",
    )
    init.add_argument("--ca-cn", default=DEFAULT_CA_CN, dest="caCN", metavar="CN")
    init.add_argument("--days", type=int, default=DEFAULT_DAYS)

    client = commands.add_parser(
        "client", help="issue another client pkipath from an existing CA directory"
    )
    client.add_argument("caDirectory", metavar="CADIR", help="holds cacert.pem and cakey.pem")
    client.add_argument("directory", metavar="OUTDIR")
    client.add_argument("--dn", required=True, metavar="DN")
    client.add_argument("--days", type=int, default=DEFAULT_DAYS)
    return parser


def _runCheck(directory: str, out: list[str]) -> bool:
    targets = [directory]
    sub = [os.path.join(directory, d) for d in ("server", "client")]
    if all(os.path.isdir(d) for d in sub) and not os.path.exists(
        os.path.join(directory, CA_CERT)
    ):
        targets = sub
    ok = True
    for target in targets:
        roles, problems = checkLayout(target)
        if problems:
            ok = False
            out.append(f"{target}: {len(problems)} problem(s):")
            out.extend(f"  {p}" for p in problems)
        else:
            out.append(f"{target}: OK ({roles} pkipath)")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    """
    Command-line entry point (C{python -m virtd.pki}, C{virtd-pki}).

    @param argv: the arguments, without the program name (default:
        C{sys.argv[1:]}).
    @return: the exit status: 0 on success, 1 if a check found problems or
        creation failed, 2 on a usage error.
    """
    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    out: list[str] = []
    status = 0
    try:
        if args.check is not None:
            if args.command is not None:
                parser.error("use either --check DIR or a command, not both")
            status = 0 if _runCheck(args.check, out) else 1
        elif args.command == "init":
            layout = initPKI(
                args.directory,
                serverNames=args.serverNames or ["localhost"],
                serverIPs=args.serverIPs or ["127.0.0.1"],
                clientDN=args.clientDN,
                caCN=args.caCN,
                days=args.days,
            )
            out.append(f"CA (keep cakey.pem private): {layout.caDir}")
            out.append(f"server pkipath: {layout.serverDir}")
            out.append(f"client pkipath: {layout.clientDir}")
        elif args.command == "client":
            ca = loadCA(args.caDirectory)
            writeClientLayout(args.directory, ca, args.dn, days=args.days)
            out.append(f"client pkipath: {args.directory}")
        else:
            parser.error("nothing to do: give a command (init, client) or --check DIR")
    except (OSError, ValueError) as e:
        sys.stderr.write(f"virtd.pki: {e}\n")
        return 1
    sys.stdout.write("".join(line + "\n" for line in out))
    return status


if __name__ == "__main__":
    sys.exit(main())
