"""
Where libvirt keeps its TLS files, found the way libvirt finds them: a
C{pkipath=} directory, else a non-root user's C{~/.pki/libvirt/}, else
the system paths under C{/etc/pki}. L{locateClientCredentials} and
L{locateServerCredentials} return the paths, or fail naming the missing
file and what to do about it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from virtd.tls.context import _error

__all__ = [
    "ClientCredentials",
    "ServerCredentials",
    "locateClientCredentials",
    "locateServerCredentials",
]


SYSTEM_CA = "/etc/pki/CA/cacert.pem"
SYSTEM_CRL = "/etc/pki/CA/cacrl.pem"
SYSTEM_CLIENT_CERT = "/etc/pki/libvirt/clientcert.pem"
SYSTEM_CLIENT_KEY = "/etc/pki/libvirt/private/clientkey.pem"
SYSTEM_SERVER_CERT = "/etc/pki/libvirt/servercert.pem"
SYSTEM_SERVER_KEY = "/etc/pki/libvirt/private/serverkey.pem"


@dataclass(frozen=True)
class ClientCredentials:
    """
    The files a TLS client uses.

    @ivar ca: the CA certificate that must have signed the server's.
    @ivar crl: a revocation list, or C{None}.
    @ivar cert: our certificate, or C{None} to present none.
    @ivar key: its private key, or C{None}.
    """

    ca: str
    crl: str | None
    cert: str | None
    key: str | None


@dataclass(frozen=True)
class ServerCredentials:
    """
    The files a TLS server uses.

    @ivar ca: the CA certificate client certificates must be signed by.
    @ivar crl: a revocation list, or C{None}.
    @ivar cert: the server certificate.
    @ivar key: its private key.
    """

    ca: str
    crl: str | None
    cert: str
    key: str


def _userPki() -> str:
    return os.path.expanduser("~/.pki/libvirt")


def locateClientCredentials(pkipath: str | None = None, *,
                            euid: int | None = None) -> ClientCredentials:
    """
    Find the client's PKI files as libvirt does: C{pkipath/cacert.pem},
    C{cacrl.pem}, C{clientcert.pem}, C{clientkey.pem}; without C{pkipath},
    a non-root user's C{~/.pki/libvirt/} first (each file falling back on
    its own, certificate and key as a pair), then C{/etc/pki/CA/cacert.pem},
    C{/etc/pki/CA/cacrl.pem}, C{/etc/pki/libvirt/clientcert.pem} and
    C{/etc/pki/libvirt/private/clientkey.pem}.

    @param pkipath: the C{pkipath=} directory, or C{None}.
    @param euid: the effective uid to assume (default: ours).
    @return: the paths; a missing CRL or a missing certificate+key pair
        becomes C{None}.
    @raise LibvirtError: if the CA file is missing, or only one of the
        certificate and key exists.
    """
    if pkipath:
        ca = os.path.join(pkipath, "cacert.pem")
        crl = os.path.join(pkipath, "cacrl.pem")
        cert = os.path.join(pkipath, "clientcert.pem")
        key = os.path.join(pkipath, "clientkey.pem")
        where = f"pkipath {pkipath}"
    else:
        ca, crl, cert, key = SYSTEM_CA, SYSTEM_CRL, SYSTEM_CLIENT_CERT, SYSTEM_CLIENT_KEY
        if (os.geteuid() if euid is None else euid) != 0:
            user = _userPki()
            if os.path.exists(os.path.join(user, "cacert.pem")):
                ca = os.path.join(user, "cacert.pem")
            if os.path.exists(os.path.join(user, "cacrl.pem")):
                crl = os.path.join(user, "cacrl.pem")
            userCert = os.path.join(user, "clientcert.pem")
            userKey = os.path.join(user, "clientkey.pem")
            if os.path.exists(userCert) and os.path.exists(userKey):
                cert, key = userCert, userKey
        where = "the default locations (give pkipath=DIR to use another directory)"
    if not os.path.exists(ca):
        raise _error(
            f"Cannot read CA certificate '{ca}': No such file or directory; "
            f"{where} must hold cacert.pem (the CA that signed the server's "
            f"certificate)")
    haveCert, haveKey = os.path.exists(cert), os.path.exists(key)
    if haveCert != haveKey:
        missing = key if haveCert else cert
        raise _error(
            f"Cannot read {'client key' if haveCert else 'client certificate'} "
            f"'{missing}': No such file or directory; the client certificate "
            f"and key go together")
    return ClientCredentials(
        ca=ca,
        crl=crl if os.path.exists(crl) else None,
        cert=cert if haveCert else None,
        key=key if haveKey else None,
    )


def locateServerCredentials(pkiDir: str | None = None, *, caFile: str | None = None,
                            certFile: str | None = None, keyFile: str | None = None,
                            crlFile: str | None = None,
                            euid: int | None = None) -> ServerCredentials:
    """
    Find the server's PKI files: C{pkiDir/cacert.pem}, C{servercert.pem},
    C{serverkey.pem} (or C{private/serverkey.pem}), C{cacrl.pem}; without
    C{pkiDir}, a non-root daemon's C{~/.pki/libvirt/} first, then
    libvirt's system paths. Explicit files (libvirtd.conf's C{ca_file},
    C{cert_file}, C{key_file}, C{crl_file}) win.

    @raise LibvirtError: naming the missing file.
    """
    if pkiDir:
        bases = [pkiDir]
    elif (os.geteuid() if euid is None else euid) != 0:
        bases = [_userPki()]
    else:
        bases = []

    def pick(names: Sequence[str], system: str) -> str:
        for base in bases:
            for n in names:
                path = os.path.join(base, n)
                if os.path.exists(path):
                    return path
        if pkiDir:
            return os.path.join(pkiDir, names[0])
        return system

    ca = caFile or pick(["cacert.pem"], SYSTEM_CA)
    cert = certFile or pick(["servercert.pem"], SYSTEM_SERVER_CERT)
    key = keyFile or pick(["serverkey.pem", "private/serverkey.pem"], SYSTEM_SERVER_KEY)
    crl = crlFile or pick(["cacrl.pem"], SYSTEM_CRL)
    for what, path in (("CA certificate", ca), ("server certificate", cert),
                       ("server key", key)):
        if not os.path.exists(path):
            raise _error(
                f"Cannot read {what} '{path}': No such file or directory; create a "
                f"PKI with 'python -m virtd.pki init DIR' and point the daemon at "
                f"DIR/server")
    if crlFile and not os.path.exists(crlFile):
        raise _error(f"Cannot read CRL '{crlFile}': No such file or directory")
    return ServerCredentials(ca=ca, crl=crl if os.path.exists(crl) else None,
                             cert=cert, key=key)
