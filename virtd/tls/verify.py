"""
The TLS client's checks of certificates, with advice a person can act on:
the server's certificate names the host we dialled (checked with
service_identity), our own files are readable, current and signed by our
CA before we try (skipped with C{no_sanity=1}), and OpenSSL's verify error
numbers become sentences.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from virtd.tls.context import _error
from virtd.tls.credentials import ClientCredentials
from virtd.tls.dn import certificateDN

_CHAIN_ERRORS = {2, 7, 18, 19, 20, 21, 24, 27, 28, 32}
_VERIFY_TEXT = {
    9: "is not valid yet (check the clocks of both machines)",
    10: "has expired; the server needs a new one",
    23: "has been revoked (it is listed in the CRL)",
    26: "is not meant for a TLS server (its extendedKeyUsage lacks serverAuth)",
    3: "cannot be checked against a CRL: cacrl.pem has no list for its issuer",
    12: "cannot be checked: the CRL has expired",
}


def _names(cert: Any) -> list[str]:
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return ([f"DNS:{n}" for n in san.get_values_for_type(x509.DNSName)]
            + [f"IP:{n}" for n in san.get_values_for_type(x509.IPAddress)])


def _checkServerName(cert: Any, host: str) -> str | None:
    """
    @return: C{None} if C{cert} is valid for C{host}, else the complaint.
    """
    from service_identity import CertificateError, VerificationError
    from service_identity.cryptography import (
        verify_certificate_hostname,
        verify_certificate_ip_address,
    )

    try:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            verify_certificate_hostname(cert, host)
        else:
            verify_certificate_ip_address(cert, host)
    except CertificateError:
        return (f"server certificate has no subjectAltName for '{host}' (it has no "
                f"subjectAltName at all; subject {certificateDN(cert)!r}): reissue it "
                f"with subjectAltName DNS:<name> or IP:<address>, or use no_verify=1")
    except VerificationError:
        names = ", ".join(_names(cert)) or "nothing"
        return (f"server certificate has no subjectAltName for '{host}' (it lists "
                f"{names}): connect using one of those names, reissue the certificate "
                f"for '{host}', or use no_verify=1")
    return None


def _issuerDN(cert: Any) -> str:
    from virtd.pki import formatDN

    if cert is None:
        return "?"
    if hasattr(cert, "to_cryptography"):
        cert = cert.to_cryptography()
    return formatDN(cert.issuer)


def _sanityCheck(creds: ClientCredentials) -> None:
    """
    libvirt's checks of our own files (skipped with C{no_sanity=1}):
    readable, within validity, our certificate signed by our CA.
    """
    import datetime

    from cryptography import x509

    def load(path: str, what: str) -> Any:
        try:
            with open(path, "rb") as f:
                return x509.load_pem_x509_certificate(f.read())
        except (OSError, ValueError) as e:
            raise _error(f"Cannot read {what} '{path}': {e}") from None

    now = datetime.datetime.now(datetime.UTC)
    ca = load(creds.ca, "CA certificate")
    checks = [(creds.ca, ca)]
    if creds.cert:
        cert = load(creds.cert, "client certificate")
        checks.append((creds.cert, cert))
        try:
            cert.verify_directly_issued_by(ca)
        except Exception:
            raise _error(
                f"our client certificate {creds.cert} is not signed by the CA in "
                f"{creds.ca}; the server would refuse it (use no_sanity=1 to try anyway)"
            ) from None
    for path, c in checks:
        if now > c.not_valid_after_utc:
            raise _error(f"the certificate {path} expired on {c.not_valid_after_utc:%Y-%m-%d}")
        if now < c.not_valid_before_utc:
            raise _error(f"the certificate {path} is not valid before "
                         f"{c.not_valid_before_utc:%Y-%m-%d %H:%M} UTC (check the clock)")
