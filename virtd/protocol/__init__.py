"""
libvirt's RPC programs as data: the message header and limits, the error
struct, and the procedure tables of the REMOTE and KEEPALIVE programs.
Nothing here does I/O or imports Twisted.
"""
