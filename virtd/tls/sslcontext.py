"""
The daemon's TLS context on Python's own C{ssl} module: L{serverSSLContext}
loads the server's PKI files into an C{ssl.SSLContext} for
L{virtd.tls.memorybio.TLSServerFactory}.

Python's C{ssl} can do what pyOpenSSL cannot: send no TLS 1.3 session
tickets (C{num_tickets = 0}). libvirt's client reads the confirmation
byte right after its handshake and fails on a ticket arriving first, so
a server on pyOpenSSL has to stay at TLS 1.2, one round trip and one key
exchange more per connection than libvirtd's TLS 1.3.
"""

from __future__ import annotations

import ssl

from virtd.tls.context import _error
from virtd.tls.credentials import ServerCredentials, locateServerCredentials

__all__ = ["serverSSLContext"]


def serverSSLContext(pkiDir: str | None = None, *, caFile: str | None = None,
                     certFile: str | None = None, keyFile: str | None = None,
                     crlFile: str | None = None,
                     verifyClient: bool = True) -> ssl.SSLContext:
    """
    The TLS context (TLS 1.2 or 1.3) for a libvirt-compatible server.

    @param pkiDir: a directory with C{cacert.pem}, C{servercert.pem},
        C{serverkey.pem} and optionally C{cacrl.pem} (see
        L{locateServerCredentials} for the defaults when C{None}).
    @param caFile: overrides the CA (libvirtd.conf C{ca_file}).
    @param certFile: overrides the certificate (C{cert_file}).
    @param keyFile: overrides the key (C{key_file}).
    @param crlFile: overrides the CRL (C{crl_file}).
    @param verifyClient: require a client certificate signed by the CA
        (C{False} is libvirtd's C{tls_no_verify_certificate = 1}: none is
        asked for).
    @return: the context; its C{credentials} attribute names the files.
    @raise LibvirtError: naming an unreadable or mismatched file.
    """
    creds = locateServerCredentials(pkiDir, caFile=caFile, certFile=certFile,
                                    keyFile=keyFile, crlFile=crlFile)
    ctx = _Context(ssl.PROTOCOL_TLS_SERVER)
    ctx.credentials = creds
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION
    ctx.num_tickets = 0
    try:
        ctx.load_cert_chain(creds.cert, creds.key)
    except (OSError, ssl.SSLError) as e:
        raise _error(
            f"Cannot load server certificate '{creds.cert}' or key "
            f"'{creds.key}' (or they do not match): {_text(e)}") from None
    try:
        ctx.load_verify_locations(creds.ca)
    except (OSError, ssl.SSLError) as e:
        raise _error(f"Cannot load CA certificate '{creds.ca}': {_text(e)}") from None
    if creds.crl:
        try:
            ctx.load_verify_locations(creds.crl)
        except (OSError, ssl.SSLError) as e:
            raise _error(f"Cannot load CRL '{creds.crl}': {_text(e)}") from None
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    ctx.verify_mode = ssl.CERT_REQUIRED if verifyClient else ssl.CERT_NONE
    return ctx


class _Context(ssl.SSLContext):
    # ssl.SSLContext takes no new attributes; the daemon reports the files.
    credentials: ServerCredentials


def _text(e: BaseException) -> str:
    reason = getattr(e, "reason", None)
    if isinstance(e, ssl.SSLError) and reason:
        return reason.replace("_", " ").lower()
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e)
