"""
The command line of L{virtd.pki} (C{python -m virtd.pki}, C{virtd-pki})::

    python -m virtd.pki init DIR [--server-name NAME]... [--server-ip IP]...
                                 [--client-dn DN] [--ca-cn CN] [--days N]
    python -m virtd.pki client CADIR OUTDIR --dn DN
    python -m virtd.pki --check DIR

C{init} writes C{DIR/ca}, C{DIR/server} and C{DIR/client}; C{client}
issues another client pkipath from an existing CA; C{--check} prints what
is wrong with a pkipath (or with both halves of an C{init} directory).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from virtd.pki.check import checkLayout
from virtd.pki.create import DEFAULT_CA_CN, DEFAULT_DAYS, initPKI, writeClientLayout
from virtd.pki.dn import DEFAULT_CLIENT_DN
from virtd.pki.layout import CA_CERT, loadCA

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m virtd.pki",
        description="Create or check libvirt-style PKI directories (pkipath).",
    )
    parser.add_argument(
        "--check",
        metavar="DIR",
        help="check an existing server or client pkipath (or a directory made "
        "by 'init', checking its server/ and client/) and print what is wrong",
    )
    commands = parser.add_subparsers(dest="command")
    init = commands.add_parser(
        "init", help="create DIR/ca, DIR/server and DIR/client"
    )
    init.add_argument("directory", metavar="DIR")
    init.add_argument(
        "--server-name",
        action="append",
        dest="serverNames",
        metavar="NAME",
        help="DNS name for the server certificate (repeatable; default localhost)",
    )
    init.add_argument(
        "--server-ip",
        action="append",
        dest="serverIPs",
        metavar="IP",
        help="IP address for the server certificate (repeatable; default 127.0.0.1)",
    )
    init.add_argument(
        "--client-dn",
        default=DEFAULT_CLIENT_DN,
        dest="clientDN",
        metavar="DN",
        help=f"client certificate subject (default {DEFAULT_CLIENT_DN!r})",
    )
    init.add_argument("--ca-cn", default=DEFAULT_CA_CN, dest="caCN", metavar="CN")
    init.add_argument("--days", type=int, default=DEFAULT_DAYS)

    client = commands.add_parser(
        "client", help="issue another client pkipath from an existing CA directory"
    )
    client.add_argument("caDirectory", metavar="CADIR", help="holds cacert.pem and cakey.pem")
    client.add_argument("directory", metavar="OUTDIR")
    client.add_argument("--dn", required=True, metavar="DN")
    client.add_argument("--days", type=int, default=DEFAULT_DAYS)
    return parser


def _runCheck(directory: str, out: list[str]) -> bool:
    targets = [directory]
    sub = [os.path.join(directory, d) for d in ("server", "client")]
    if all(os.path.isdir(d) for d in sub) and not os.path.exists(
        os.path.join(directory, CA_CERT)
    ):
        targets = sub
    ok = True
    for target in targets:
        roles, problems = checkLayout(target)
        if problems:
            ok = False
            out.append(f"{target}: {len(problems)} problem(s):")
            out.extend(f"  {p}" for p in problems)
        else:
            out.append(f"{target}: OK ({roles} pkipath)")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    """
    Command-line entry point (C{python -m virtd.pki}, C{virtd-pki}).

    @param argv: the arguments, without the program name (default:
        C{sys.argv[1:]}).
    @return: the exit status: 0 on success, 1 if a check found problems or
        creation failed, 2 on a usage error.
    """
    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    out: list[str] = []
    status = 0
    try:
        if args.check is not None:
            if args.command is not None:
                parser.error("use either --check DIR or a command, not both")
            status = 0 if _runCheck(args.check, out) else 1
        elif args.command == "init":
            layout = initPKI(
                args.directory,
                serverNames=args.serverNames or ["localhost"],
                serverIPs=args.serverIPs or ["127.0.0.1"],
                clientDN=args.clientDN,
                caCN=args.caCN,
                days=args.days,
            )
            out.append(f"CA (keep cakey.pem private): {layout.caDir}")
            out.append(f"server pkipath: {layout.serverDir}")
            out.append(f"client pkipath: {layout.clientDir}")
        elif args.command == "client":
            ca = loadCA(args.caDirectory)
            writeClientLayout(args.directory, ca, args.dn, days=args.days)
            out.append(f"client pkipath: {args.directory}")
        else:
            parser.error("nothing to do: give a command (init, client) or --check DIR")
    except (OSError, ValueError) as e:
        sys.stderr.write(f"virtd.pki: {e}\n")
        return 1
    sys.stdout.write("".join(line + "\n" for line in out))
    return status
