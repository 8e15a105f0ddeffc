"""
The CLI's entry point: parse the command line, connect, run one command
on the reactor (C{twisted.internet.task.react}), print its result, and
exit with status 0, or 1 after printing one C{error:} line.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from typing import IO, Any

from twisted.internet.defer import Deferred

# The command modules register themselves in COMMANDS when imported.
from virtd.cli import domains, events, host  # noqa: F401
from virtd.cli.output import render
from virtd.cli.registry import COMMANDS, Context, UsageError
from virtd.errorcodes import DOMAIN_NAMES, ERROR_NAMES
from virtd.errors import LibvirtError

__all__ = ["main", "run", "buildParser", "formatError"]

_DESCRIPTION = (
    "A small virsh-like client for libvirt daemons (virtd or libvirtd), "
    "built on virtd's Twisted client.")
_EPILOG = (
    "NAME is a libvirt URI (test+unix:///default?socket=PATH, "
    "qemu+tls://host/system?pkipath=DIR, qemu+ssh://root@host/system, ...) "
    "or a remote: name (remote:tls:host:16514 pkipath=DIR); without -c, "
    "$LIBVIRT_DEFAULT_URI or the local daemon. Exit status: 0 on success, "
    "1 after an error (printed as one line with libvirt's error code), 2 "
    "for a bad command line.")


def _addCommonOptions(parser: argparse.ArgumentParser, top: bool,
                      timeout: bool = True) -> None:
    # Sub-parsers repeat the options (with SUPPRESS defaults, so they do
    # not reset what was given before the command): `virtd list --json`.
    default: Any = None if top else argparse.SUPPRESS
    parser.add_argument(
        "-c", "--connect", metavar="NAME", default=default,
        help="the daemon to connect to (see below)")
    parser.add_argument(
        "-r", "--readonly", action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="open a read-only connection")
    parser.add_argument(
        "--json", action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="print JSON instead of tables (errors too, on stderr)")
    if timeout:
        parser.add_argument(
            "--timeout", type=float, metavar="SECONDS", default=default,
            help="give up when connecting, or any one call, takes longer")


def buildParser() -> argparse.ArgumentParser:
    """
    @return: the parser for C{virtd [options] COMMAND [arguments]}.
    """
    parser = argparse.ArgumentParser(
        prog="virtd", description=_DESCRIPTION, epilog=_EPILOG)
    _addCommonOptions(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                     required=True)
    for cmd in COMMANDS.values():
        sub = commands.add_parser(cmd.name, help=cmd.summary,
                                  description=cmd.summary)
        for flags, kwargs in cmd.arguments:
            sub.add_argument(*flags, **kwargs)
        # `event --timeout` is how long to wait for events, as in virsh.
        _addCommonOptions(sub, top=False, timeout=cmd.name != "event")
    return parser


def formatError(error: BaseException, asJSON: bool = False) -> str:
    """
    One line describing an error, ending with a newline:
    C{error: <message> (VIR_ERR_NAME, code N)} for a L{LibvirtError}, or
    the JSON object C{{"error": {...}}} with C{asJSON}.
    """
    if isinstance(error, LibvirtError):
        code, domain = error.get_error_code(), error.get_error_domain()
        message = " ".join((error.get_error_message() or str(error)).split())
        codeName = ERROR_NAMES.get(code, "VIR_ERR_UNKNOWN")
        if asJSON:
            return json.dumps({"error": {
                "message": message, "code": code, "code_name": codeName,
                "domain": domain,
                "domain_name": DOMAIN_NAMES.get(domain, "VIR_FROM_UNKNOWN")}}) + "\n"
        return f"error: {message} ({codeName}, code {code})\n"
    if isinstance(error, UsageError):
        message = str(error)
    else:
        message = f"unexpected {type(error).__name__}: {error}"
    message = " ".join(message.split())
    if asJSON:
        return json.dumps({"error": {"message": message}}) + "\n"
    return f"error: {message}\n"


async def run(reactor: Any, args: argparse.Namespace,
              stdout: IO[str] | None = None,
              stderr: IO[str] | None = None) -> int:
    """
    Connect, run the command C{args.command} and print its result.

    @param reactor: the reactor to run on.
    @param args: parsed by L{buildParser}.
    @param stdout: where results go (default C{sys.stdout}).
    @param stderr: where errors go (default C{sys.stderr}).
    @return: the exit status: 0, or 1 after an error was printed.
    """
    import virtd

    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr

    def write(text: str) -> None:
        out.write(text)
        out.flush()

    try:
        conn = await virtd.connect(args.connect, readonly=args.readonly,
                                   reactor=reactor, timeout=args.timeout)
    except Exception as e:
        err.write(formatError(e, args.json))
        return 1
    ctx = Context(conn, args.timeout, reactor, write, args.json)
    status = 0
    try:
        result = await COMMANDS[args.command].run(ctx, args)
        if result is not None:
            write(render(result, args.json))
    except Exception as e:
        err.write(formatError(e, args.json))
        status = 1
    try:
        await conn.close(timeout=args.timeout)
    except Exception:
        pass  # the command's outcome is what matters; the socket goes anyway
    return status


def _showWarning(message: Any, category: Any, filename: str, lineno: int,
                 file: Any = None, line: Any = None) -> None:
    sys.stderr.write(f"warning: {message}\n")


def main(argv: Sequence[str] | None = None) -> None:
    """
    Run the CLI (C{python -m virtd} and the C{virtd} console script) and
    exit the process with the command's status.

    @param argv: the arguments after the program name (default
        C{sys.argv[1:]}).
    """
    from twisted.internet.task import react

    args = buildParser().parse_args(argv)
    warnings.showwarning = _showWarning

    async def runAndExit(reactor: Any) -> None:
        status = await run(reactor, args)
        if status:
            raise SystemExit(status)

    react(lambda reactor: Deferred.fromCoroutine(runAndExit(reactor)))
