"""
What the client and server sides of libvirt's TLS share: OpenSSL context
defaults (TLS 1.2 or newer, no compression), loading a certificate/key
pair and a CRL into a context, OpenSSL errors turned into readable text,
errors raised as L{LibvirtError}, and the confirmation byte C{0x01} the
server writes once it has accepted a client.
"""

from __future__ import annotations

from typing import Any

from virtd.errors import VIR_ERR_SYSTEM_ERROR, VIR_FROM_RPC, LibvirtError

__all__ = ["CONFIRM_BYTE"]


CONFIRM_BYTE = b"\x01"


def _error(message: str, code: int = VIR_ERR_SYSTEM_ERROR) -> LibvirtError:
    return LibvirtError(message, code=code, domain=VIR_FROM_RPC)


def _baseContext(method: int) -> Any:
    from OpenSSL import SSL

    ctx = SSL.Context(method)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_options(SSL.OP_NO_COMPRESSION)
    return ctx


def _loadPair(ctx: Any, cert: str, key: str, role: str) -> None:
    from OpenSSL import SSL

    try:
        ctx.use_certificate_chain_file(cert)
    except SSL.Error as e:
        raise _error(f"Cannot load {role} certificate '{cert}': {_sslText(e)}") from None
    try:
        ctx.use_privatekey_file(key)
        ctx.check_privatekey()
    except SSL.Error as e:
        raise _error(
            f"Cannot load {role} key '{key}' (or it does not match '{cert}'): "
            f"{_sslText(e)}") from None


def _loadCRL(ctx: Any, path: str) -> None:
    from cryptography import x509
    from OpenSSL import crypto

    with open(path, "rb") as f:
        data = f.read()
    try:
        crl = x509.load_pem_x509_crl(data)
    except ValueError:
        crl = x509.load_der_x509_crl(data)
    store = ctx.get_cert_store()
    store.add_crl(crl)
    store.set_flags(crypto.X509StoreFlags.CRL_CHECK)


def _sslText(e: BaseException) -> str:
    args = getattr(e, "args", ())
    if args and isinstance(args[0], list):
        texts = [t[2] for t in args[0] if isinstance(t, tuple) and len(t) == 3 and t[2]]
        if texts:
            return "; ".join(texts)
    return str(e) or type(e).__name__
