"""
What a libvirt pkipath holds, and reading and writing its files: the fixed
names libvirt looks for (C{cacert.pem}, C{servercert.pem} and
C{serverkey.pem} for a server; C{cacert.pem}, C{clientcert.pem} and
C{clientkey.pem} for a client; C{cakey.pem} beside a CA), the
L{CertAndKey} and L{PKILayout} values, L{loadCA}, and writing PEM files
with the right permissions (keys C{0600}, certificates C{0644}).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "CA_CERT",
    "CA_KEY",
    "CLIENT_CERT",
    "CLIENT_KEY",
    "SERVER_CERT",
    "SERVER_KEY",
    "CertAndKey",
    "PKILayout",
    "loadCA",
]


CA_CERT = "cacert.pem"
CA_KEY = "cakey.pem"
SERVER_CERT = "servercert.pem"
SERVER_KEY = "serverkey.pem"
CLIENT_CERT = "clientcert.pem"
CLIENT_KEY = "clientkey.pem"


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


def _writeCACert(directory: str, ca: CertAndKey) -> None:
    os.makedirs(directory, exist_ok=True)
    _writeFile(os.path.join(directory, CA_CERT), ca.certPEM())
