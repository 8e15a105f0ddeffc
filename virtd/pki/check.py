"""
Checking a libvirt pkipath the way a person debugging a failed TLS
handshake would want (L{checkLayout}): every file present and parseable,
each key matching its certificate, each certificate signed by the CA and
within its validity period, and the extensions libvirt needs for each
role; one line per problem, saying which file and what is wrong.
"""

from __future__ import annotations

import datetime
import os

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from virtd.pki.dn import formatDN
from virtd.pki.layout import CA_CERT, CLIENT_CERT, CLIENT_KEY, SERVER_CERT, SERVER_KEY

__all__ = ["checkLayout"]


def _read(path: str, problems: list[str]) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        problems.append(f"{path}: missing")
    except OSError as e:
        problems.append(f"{path}: cannot read: {e.strerror}")
    return None


def _loadCert(path: str, problems: list[str]) -> x509.Certificate | None:
    data = _read(path, problems)
    if data is None:
        return None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        problems.append(f"{path}: not a PEM certificate")
        return None


def _loadKey(path: str, problems: list[str]) -> object | None:
    data = _read(path, problems)
    if data is None:
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
    now = now if now is not None else datetime.datetime.now(datetime.UTC)
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
