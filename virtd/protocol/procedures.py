"""
The shape of a procedure table: one L{Procedure} per procedure number, and
L{ProcedureTable}, which turns one declaration per procedure into an entry
with its args/ret structs built and named the way libvirt's C{.x} files name
them (C{remote_<name>_args}, C{_ret}, C{_msg}).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from virtd import xdr

__all__ = ["Procedure", "ProcedureTable", "Fields"]

#: A struct's fields in wire order; empty means C{void}.
Fields = Sequence[tuple[str, xdr.Type]]

_PRIORITIES = {"high": True, "low": False}
_READONLY = ("yes", "no", "flag-dep")
_STREAMS = (None, "read", "write")


class Procedure(NamedTuple):
    """
    One procedure of an RPC program.

    @ivar program: the program number (e.g. C{0x20008086}).
    @ivar version: the program version (always 1 for libvirt's programs).
    @ivar number: the procedure number within the program.
    @ivar name: the procedure name without the C{REMOTE_PROC_} prefix, e.g.
        C{'DOMAIN_GET_INFO'}.
    @ivar args: the type of a CALL's payload (L{xdr.Void} when there is none;
        always L{xdr.Void} for event procedures, which are never called).
    @ivar ret: the type of a successful REPLY's payload, or for an event
        procedure the type of the MESSAGE body (the C{*_msg} struct).
    @ivar priority: C{True} when libvirt annotates the procedure
        C{@priority: high} (it may run on the priority worker pool).
    @ivar readonly: C{'yes'} if the call may succeed on a read-only
        connection, C{'no'} if it is refused there, C{'flag-dep'} if that
        depends on its flags. Event procedures are C{'no'}: they can never be
        called at all.
    @ivar event: C{True} for procedures that are only ever sent as MESSAGE
        (events, keepalive PING/PONG); a CALL for one is an unknown procedure.
    @ivar stream: C{'read'} (data flows daemon to client after the reply),
        C{'write'} (client to daemon) or C{None}.
    """

    program: int
    version: int
    number: int
    name: str
    args: xdr.Type
    ret: xdr.Type
    priority: bool
    readonly: str
    event: bool
    stream: str | None


class ProcedureTable:
    """
    Builds the procedure table of one program, one declaration at a time.

    @ivar procedures: number -> L{Procedure}.
    @ivar byName: name -> L{Procedure}.
    """

    def __init__(self, prefix: str, program: int, version: int) -> None:
        """
        @param prefix: the struct name prefix, e.g. C{'remote'}, so that
            C{DOMAIN_GET_INFO}'s args struct is C{remote_domain_get_info_args}.
        """
        self.prefix = prefix
        self.program = program
        self.version = version
        self.procedures: dict[int, Procedure] = {}
        self.byName: dict[str, Procedure] = {}

    def _struct(self, name: str, suffix: str, fields: Fields) -> xdr.Type:
        if not fields:
            return xdr.Void
        return xdr.Struct(f"{self.prefix}_{name.lower()}_{suffix}", fields)

    def _add(self, proc: Procedure) -> int:
        if proc.number in self.procedures:
            raise ValueError(
                f"{self.prefix} procedure {proc.number} declared twice "
                f"({self.procedures[proc.number].name} and {proc.name})")
        if proc.name in self.byName:
            raise ValueError(
                f"{self.prefix} procedure name {proc.name} declared twice")
        self.procedures[proc.number] = proc
        self.byName[proc.name] = proc
        return proc.number

    def call(self, number: int, name: str, *, args: Fields = (),
             ret: Fields = (), priority: str = "low", readonly: str = "yes",
             stream: str | None = None) -> int:
        """
        Declare a procedure that clients call.

        @param args: the fields of the C{*_args} struct, in wire order.
        @param ret: the fields of the C{*_ret} struct, in wire order.
        @param priority: C{'high'} or C{'low'}, as libvirt's annotation.
        @param readonly: C{'yes'}, C{'no'} or C{'flag-dep'}.
        @param stream: C{'read'}, C{'write'} or C{None}.
        @return: C{number}, so a declaration can also define the
            C{<PREFIX>_PROC_<NAME>} constant.
        @raise ValueError: a bad annotation, or the number or name is taken.
        """
        if priority not in _PRIORITIES:
            raise ValueError(f"{name}: priority must be 'high' or 'low'")
        if readonly not in _READONLY:
            raise ValueError(f"{name}: readonly must be one of {_READONLY}")
        if stream not in _STREAMS:
            raise ValueError(f"{name}: stream must be one of {_STREAMS}")
        return self._add(Procedure(
            self.program, self.version, number, name,
            self._struct(name, "args", args), self._struct(name, "ret", ret),
            _PRIORITIES[priority], readonly, False, stream))

    def event(self, number: int, name: str, body: Fields = ()) -> int:
        """
        Declare a procedure that is only sent as a MESSAGE (an event).

        @param body: the fields of the C{*_msg} struct, in wire order.
        @return: C{number}.
        @raise ValueError: the number or name is taken.
        """
        return self._add(Procedure(
            self.program, self.version, number, name, xdr.Void,
            self._struct(name, "msg", body), False, "no", True, None))

    def retOf(self, number: int) -> xdr.Type:
        """
        The ret (or event body) type of an already declared procedure, for
        procedures whose payload embeds another one's (callback events embed
        the legacy event's C{*_msg}).

        @raise KeyError: no such procedure declared yet.
        """
        return self.procedures[number].ret
