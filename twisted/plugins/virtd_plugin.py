"""
The C{virtd} twistd plugin: C{twistd -n virtd --help}.

Lazy: twistd's plugin scan imports this file, and this file imports nothing
of virtd until the command is actually run.
"""

from twisted.application.service import ServiceMaker

virtd = ServiceMaker(
    "virtd",
    "virtd.server.tap",
    "libvirt's RPC daemon (libvirt 9.x wire protocol) on Twisted: virsh and "
    "libvirt-python manage this host's hypervisor through it",
    "virtd",
)
