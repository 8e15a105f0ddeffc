"""
The virtd daemon: twistd options, listeners, per-client sessions, dispatch
of calls to libvirt-python handlers in bounded thread pools.

Entry points: L{virtd.server.tap.makeService} (what C{twistd virtd} runs)
and L{virtd.server.options.Options}.
"""
