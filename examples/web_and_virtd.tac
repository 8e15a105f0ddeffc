"""
virtd next to an existing twisted.web service, in one process:

    twistd -n -y examples/web_and_virtd.tac

The daemon listens on unix sockets in C{$VIRTD_RUN_DIR} (default C{./run});
the web site (C{$VIRTD_WEB_ENDPOINT}, default
C{tcp:8080:interface=127.0.0.1}) serves C{/domains}, a JSON list of the
domains, which it reads from the daemon with virtd's client over the
read-only socket -- the same way it would read any other libvirt host.
"""

import json
import os

from twisted.application import service, strports
from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import resource, server

import virtd
from virtd.server.config import ServerConfig
from virtd.server.service import VirtdService

RUN = os.environ.get("VIRTD_RUN_DIR", os.path.join(os.getcwd(), "run"))
WEB = os.environ.get("VIRTD_WEB_ENDPOINT", "tcp:8080:interface=127.0.0.1")
SOCK = os.path.join(RUN, "virtd-sock")
SOCK_RO = os.path.join(RUN, "virtd-sock-ro")

log = Logger(namespace="web")


async def listDomains() -> list:
    conn = await virtd.connect(f"test+unix:///default?socket={SOCK_RO}",
                               readonly=True, timeout=10)
    try:
        result = []
        for dom in await conn.listAllDomains():
            state, maxMem, memory, vcpus, cpuTime = await dom.info()
            result.append({"name": dom.name(), "uuid": dom.UUIDString(),
                           "state": state, "memory": memory, "vcpus": vcpus})
        return result
    finally:
        await conn.close()


class Domains(resource.Resource):
    isLeaf = True

    def render_GET(self, request):
        def done(body, status=200):
            request.setResponseCode(status)
            request.setHeader(b"content-type", b"application/json")
            request.write(json.dumps(body).encode() + b"\n")
            request.finish()

        def failed(failure):
            log.failure("listing domains failed", failure)
            done({"error": failure.getErrorMessage()}, 502)

        d = defer.Deferred.fromCoroutine(listDomains())
        d.addCallbacks(done, failed)
        return server.NOT_DONE_YET


class Home(resource.Resource):
    def render_GET(self, request):
        request.setHeader(b"content-type", b"text/plain")
        return b"virtd is running next to this site; see /domains\n"


root = Home()
root.putChild(b"", Home())
root.putChild(b"domains", Domains())

application = service.Application("web and virtd")
VirtdService(ServerConfig(unix=SOCK, unixRO=SOCK_RO)).setServiceParent(
    application)
strports.service(WEB, server.Site(root)).setServiceParent(application)
