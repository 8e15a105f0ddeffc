"""
The command table: each command is an C{async} function registered with
L{command}, with the argparse arguments it takes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Command", "COMMANDS", "command", "arg", "Context", "UsageError"]


class UsageError(Exception):
    """
    A problem with the command line or a local file, printed as one
    C{error:} line.
    """


@dataclass
class Context:
    """
    What a command runs with.

    @ivar conn: the open L{virtd.client.Connection}.
    @ivar timeout: seconds allowed for each call, or C{None}.
    @ivar reactor: the reactor the command runs on.
    @ivar write: writes text to stdout (events print as they arrive).
    @ivar asJSON: whether C{--json} was given.
    """

    conn: Any
    timeout: float | None
    reactor: Any
    write: Callable[[str], None]
    asJSON: bool = False


@dataclass
class Command:
    """
    One command of the CLI.

    @ivar name: what the user types (C{"net-list"}).
    @ivar run: C{async run(ctx, args) -> result}; the result is a
        L{virtd.cli.output.Table}, L{virtd.cli.output.Fields},
        L{virtd.cli.output.Text}, or C{None} when the command printed
        everything itself.
    @ivar summary: one line for C{--help}.
    @ivar arguments: C{(flags, kwargs)} pairs for C{add_argument}.
    """

    name: str
    run: Callable[[Context, Any], Awaitable[Any]]
    summary: str
    arguments: list[tuple[tuple[str, ...], dict[str, Any]]] = field(
        default_factory=list)


#: Every command, by name, in the order they were registered.
COMMANDS: dict[str, Command] = {}


def arg(*flags: str, **kwargs: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    """
    An argument for L{command}, spelled as for C{ArgumentParser.add_argument}.
    """
    return (flags, kwargs)


def command(name: str, summary: str,
            *arguments: tuple[tuple[str, ...], dict[str, Any]]
            ) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """
    Register an C{async def f(ctx, args)} as command C{name}.

    @param summary: one line shown by C{--help}.
    @param arguments: made with L{arg}.
    """

    def register(function: Callable[..., Awaitable[Any]]
                 ) -> Callable[..., Awaitable[Any]]:
        COMMANDS[name] = Command(name, function, summary, list(arguments))
        return function

    return register
