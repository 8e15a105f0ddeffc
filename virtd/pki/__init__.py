"""
Create and check libvirt-style PKI directories (a "pkipath").

libvirt looks for fixed file names in a directory:

  - server side: C{cacert.pem}, C{servercert.pem}, C{serverkey.pem};
  - client side: C{cacert.pem}, C{clientcert.pem}, C{clientkey.pem}.

This package issues a small CA and the server and client certificates
signed by it, with the extensions libvirt (GnuTLS) insists on, and checks
an existing directory the way a person debugging a failed TLS handshake
would want.

Distinguished names are written as libvirt writes them in
C{tls_allowed_dn_list}: comma-separated C{KEY=value} pairs in certificate
order, most general first, e.g. C{"C=GB,O=virtd,CN=client1"}.

Command line::

    python -m virtd.pki init DIR [--server-name NAME]... [--server-ip IP]...
                                 [--client-dn DN] [--ca-cn CN] [--days N]
    python -m virtd.pki client CADIR OUTDIR --dn DN
    python -m virtd.pki --check DIR

One module per job; import from C{virtd.pki} itself, which re-exports
them all:

  - L{virtd.pki.layout}: the file names of a pkipath, the L{CertAndKey}
    and L{PKILayout} values, reading a CA back, writing PEM files.
  - L{virtd.pki.dn}: DN strings as libvirt writes them (L{parseDN},
    L{formatDN}).
  - L{virtd.pki.create}: issuing CA, server and client certificates and
    writing whole pkipaths (L{initPKI}).
  - L{virtd.pki.check}: what is wrong with a pkipath (L{checkLayout}).
  - L{virtd.pki.cli}: the command line (L{main}).
"""

# The public names are listed in __all__; every other name virtd.pki had as
# one module is re-exported too (the "X as X" form; the tests use some), so
# old imports still work.
from virtd.pki.check import _checkCA as _checkCA
from virtd.pki.check import _checkDates as _checkDates
from virtd.pki.check import _checkLeaf as _checkLeaf
from virtd.pki.check import _extension as _extension
from virtd.pki.check import _loadCert as _loadCert
from virtd.pki.check import _loadKey as _loadKey
from virtd.pki.check import _publicBytes as _publicBytes
from virtd.pki.check import checkLayout
from virtd.pki.cli import _parser as _parser
from virtd.pki.cli import _runCheck as _runCheck
from virtd.pki.cli import main
from virtd.pki.create import DEFAULT_CA_CN as DEFAULT_CA_CN
from virtd.pki.create import DEFAULT_DAYS as DEFAULT_DAYS
from virtd.pki.create import _issue as _issue
from virtd.pki.create import _keyUsage as _keyUsage
from virtd.pki.create import _newKey as _newKey
from virtd.pki.create import _now as _now
from virtd.pki.create import _validity as _validity
from virtd.pki.create import (
    initPKI,
    makeCA,
    makeClientCert,
    makeServerCert,
    writeClientLayout,
    writeServerLayout,
)
from virtd.pki.dn import _DN_KEYS as _DN_KEYS
from virtd.pki.dn import _DN_NAMES as _DN_NAMES
from virtd.pki.dn import DEFAULT_CLIENT_DN as DEFAULT_CLIENT_DN
from virtd.pki.dn import formatDN, parseDN
from virtd.pki.layout import (
    CA_CERT,
    CA_KEY,
    CLIENT_CERT,
    CLIENT_KEY,
    SERVER_CERT,
    SERVER_KEY,
    CertAndKey,
    PKILayout,
    loadCA,
)
from virtd.pki.layout import _write as _write
from virtd.pki.layout import _writeCACert as _writeCACert
from virtd.pki.layout import _writeFile as _writeFile

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
