#!/bin/sh
# Carry the RPC stream between stdin/stdout and a daemon's unix socket.
exec socat STDIO UNIX-CONNECT:"${VIRTD_SOCKET:-virtd-sock}"
