#!/bin/sh
# Suspend and resume domain "test" of the daemon at $1 every second, with
# virsh, until stopped: something to watch with "event --loop".
while sleep 1; do
    virsh -q -c "$1" suspend test >/dev/null
    virsh -q -c "$1" resume test >/dev/null
done
