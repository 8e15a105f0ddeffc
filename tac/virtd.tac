"""
Run virtd from a .tac file: C{twistd -ny tac/virtd.tac}.

Edit the settings below (every field of L{virtd.server.config.ServerConfig}
can be set; the defaults are libvirtd's), or keep using the command line
form C{twistd -n virtd --help}.
"""

import os

from twisted.application import service

from virtd.server.config import ServerConfig
from virtd.server.reactor import installIfNoneChosen
from virtd.server.service import VirtdService

# What `twistd virtd` does first (unless --twisted-reactor): the daemon's
# own epoll reactor, unless twistd was given --reactor. None of the imports
# above imports a reactor. Delete the line to keep twistd's default.
installIfNoneChosen()

RUN = os.environ.get("VIRTD_RUN_DIR", os.path.join(os.getcwd(), "run"))
os.makedirs(RUN, exist_ok=True)

config = ServerConfig(
    unix=os.path.join(RUN, "virtd-sock"),
    unixRO=os.path.join(RUN, "virtd-sock-ro"),
    # tcpPort=16509, listenAddr="127.0.0.1",
    # tlsPort=16514, pkiPath="/etc/pki/virtd", allowedDNs=["C=GB,O=virtd,CN=*"],
    uri="test:///default",
    workers=20,
    prioWorkers=5,
    maxClients=5000,
    maxClientRequests=5,
    keepaliveInterval=5,
    keepaliveCount=5,
)

application = service.Application("virtd")
VirtdService(config).setServiceParent(application)
