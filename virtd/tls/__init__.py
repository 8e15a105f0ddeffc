"""
TLS as libvirt does it: PKI file layout, certificate checks, the DN
allowlist and the single confirmation byte C{0x01} the server sends after
its checks pass.

Client side (used by L{virtd.transports}): L{TLSClientEndpoint}.

Server side (for the daemon)::

    from twisted.internet.endpoints import TCP4ServerEndpoint
    from virtd.tls import ConfirmingServerFactory, TLSServerFactory, serverSSLContext

    ctx = serverSSLContext("/etc/pki/virtd")      # or None: libvirt's paths
    TCP4ServerEndpoint(reactor, 16514, interface="127.0.0.1").listen(
        TLSServerFactory(
            ConfirmingServerFactory(rpcFactory, allowedDNs=["C=GB,O=virtd,CN=*"],
                                    handshakeTimeout=10, reactor=reactor),
            ctx))

L{serverSSLContext} requires a client certificate signed by the CA
(unless C{verifyClient=False}); L{TLSServerFactory} runs TLS 1.2 or 1.3
(without session tickets, which libvirt's client cannot take before the
confirmation byte) on Python's C{ssl}; L{ConfirmingServerFactory} waits for the
handshake, matches the client's DN against the allowlist (L{dnMatches}),
writes C{0x01} and only then builds the wrapped factory's protocol (which
sees no TLS detail and gets C{tlsPeerDN} set to the client's DN string);
a client that fails a check, or does not finish the handshake in time, is
disconnected without a word, as libvirtd does.

One module per job; import from C{virtd.tls} itself, which re-exports
them all:

  - L{virtd.tls.credentials}: where libvirt keeps a client's and a
    server's PKI files (C{pkipath}, C{~/.pki/libvirt}, C{/etc/pki}).
  - L{virtd.tls.context}: what both sides share: OpenSSL context
    defaults, loading a certificate/key pair and a CRL, OpenSSL errors as
    text, and the confirmation byte.
  - L{virtd.tls.dn}: a certificate's DN as libvirt writes it and the
    C{tls_allowed_dn_list} glob match.
  - L{virtd.tls.verify}: the client's checks of certificates (the
    server's name, our own files) and advice for OpenSSL verify errors.
  - L{virtd.tls.client}: L{TLSClientEndpoint}, TCP + TLS + waiting for
    the confirmation byte.
  - L{virtd.tls.sslcontext}: L{serverSSLContext}, the daemon's context
    on Python's C{ssl}.
  - L{virtd.tls.memorybio}: L{TLSServerFactory}, TLS over memory BIOs
    under any protocol factory.
  - L{virtd.tls.server}: L{ConfirmingServerFactory}.
"""

# The public names are listed in __all__; every other name virtd.tls had as
# one module is re-exported too (the "X as X" form), so old imports still work.
from virtd.tls.client import TLSClientEndpoint
from virtd.tls.client import _ClientCreator as _ClientCreator
from virtd.tls.client import _ConfirmingClientFactory as _ConfirmingClientFactory
from virtd.tls.client import _ConfirmingClientProtocol as _ConfirmingClientProtocol
from virtd.tls.client import _log as _log
from virtd.tls.client import _recordVerify as _recordVerify
from virtd.tls.context import CONFIRM_BYTE
from virtd.tls.context import _baseContext as _baseContext
from virtd.tls.context import _error as _error
from virtd.tls.context import _loadCRL as _loadCRL
from virtd.tls.context import _loadPair as _loadPair
from virtd.tls.context import _sslText as _sslText
from virtd.tls.credentials import SYSTEM_CA as SYSTEM_CA
from virtd.tls.credentials import SYSTEM_CLIENT_CERT as SYSTEM_CLIENT_CERT
from virtd.tls.credentials import SYSTEM_CLIENT_KEY as SYSTEM_CLIENT_KEY
from virtd.tls.credentials import SYSTEM_CRL as SYSTEM_CRL
from virtd.tls.credentials import SYSTEM_SERVER_CERT as SYSTEM_SERVER_CERT
from virtd.tls.credentials import SYSTEM_SERVER_KEY as SYSTEM_SERVER_KEY
from virtd.tls.credentials import (
    ClientCredentials,
    ServerCredentials,
    locateClientCredentials,
    locateServerCredentials,
)
from virtd.tls.credentials import _userPki as _userPki
from virtd.tls.dn import _glob as _glob
from virtd.tls.dn import _globCache as _globCache
from virtd.tls.dn import certificateDN, dnMatches
from virtd.tls.memorybio import TLSServerFactory
from virtd.tls.server import ConfirmingServerFactory
from virtd.tls.server import _ConfirmingServerProtocol as _ConfirmingServerProtocol
from virtd.tls.sslcontext import serverSSLContext
from virtd.tls.verify import _CHAIN_ERRORS as _CHAIN_ERRORS
from virtd.tls.verify import _VERIFY_TEXT as _VERIFY_TEXT
from virtd.tls.verify import _checkServerName as _checkServerName
from virtd.tls.verify import _issuerDN as _issuerDN
from virtd.tls.verify import _names as _names
from virtd.tls.verify import _sanityCheck as _sanityCheck

__all__ = [
    "ClientCredentials",
    "ServerCredentials",
    "locateClientCredentials",
    "locateServerCredentials",
    "TLSClientEndpoint",
    "serverSSLContext",
    "TLSServerFactory",
    "ConfirmingServerFactory",
    "certificateDN",
    "dnMatches",
    "CONFIRM_BYTE",
]
