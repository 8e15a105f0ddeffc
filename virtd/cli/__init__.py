"""
A small virsh-like command line on virtd's Deferred client.

    python -m virtd -c 'test+unix:///default?socket=/run/libvirt/libvirt-sock' list --all
    virtd -c 'remote:tls:host pkipath=/etc/pki/me' --json dominfo test

Modules:

  - L{virtd.cli.main}: argument parsing, connecting, running a command on
    the reactor with C{twisted.internet.task.react}, errors and exit status;
  - L{virtd.cli.commands}: the commands, each an C{async} function from a
    connection and the parsed arguments to a result;
  - L{virtd.cli.output}: results (tables, fields, text) rendered as
    virsh-like text or as JSON;
  - L{virtd.cli.events}: the C{event} command.
"""

from virtd.cli.main import main, run

__all__ = ["main", "run"]
