"""
Regenerate virtd/protocol/remote.py and virtd/protocol/constants.py from the
libvirt 9.0 wire fact sheet.

Usage::

    python tools/gen_procedures.py [--facts PATH] [--check]

Sources in the sheet: Appendix A (all REMOTE procedures), Appendix B (helper
structs), the section 5 sub-tables (checked against Appendix A), Appendix C
(enumerations), section 3.4 (auth types), section 3.5 (list limits) and
section 4.6 (driver feature numbers).

The generated files are committed: nothing at run time reads the sheet.
Any type token the generator cannot map is an error, never a guess.
With C{--check} nothing is written; the exit status says whether the files on
disk are what the sheet generates.
"""

from __future__ import annotations

import argparse
import keyword
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_FACTS = Path("/work/shared/wire/libvirt-9.0-wire-facts.md")
LINE = 99

# Sheet notation -> name of the xdr type object in the generated module.
SCALARS = {
    "str": "NonnullString",
    "str?": "OptString",
    "i32": "Int",
    "i32(enum)": "Int",
    "u32": "UInt",
    "i64": "Hyper",
    "u64": "UHyper",
    "f64": "Double",
    "uuid": "UUID",
    "u8(as 4 bytes)": "UChar",
    "u16(as 4 bytes)": "UShort",
    "char(4 bytes each)": "Char",
    "char": "Char",
    "typed_param_value": "TypedParamValue",
}
XDR_NAMES = {"Array", "FixedArray", "FixedOpaque", "Opaque", "Optional", "Int",
             "UInt", "Hyper", "UHyper", "Double", "Char", "UChar", "UShort"}
HANDLES = {"Dom", "Net", "NetPort", "NWFilter", "NWFBinding", "Iface", "Pool",
           "Vol", "NodeDev", "Secret", "Snap", "Checkpoint"}
# Appendix B structs that already exist elsewhere: checked, not generated.
EXISTING = {
    "remote_nonnull_domain": ("virtd.protocol.types", "Dom"),
    "remote_nonnull_network": ("virtd.protocol.types", "Net"),
    "remote_nonnull_network_port": ("virtd.protocol.types", "NetPort"),
    "remote_nonnull_nwfilter": ("virtd.protocol.types", "NWFilter"),
    "remote_nonnull_nwfilter_binding": ("virtd.protocol.types", "NWFBinding"),
    "remote_nonnull_interface": ("virtd.protocol.types", "Iface"),
    "remote_nonnull_storage_pool": ("virtd.protocol.types", "Pool"),
    "remote_nonnull_storage_vol": ("virtd.protocol.types", "Vol"),
    "remote_nonnull_node_device": ("virtd.protocol.types", "NodeDev"),
    "remote_nonnull_secret": ("virtd.protocol.types", "Secret"),
    "remote_nonnull_domain_snapshot": ("virtd.protocol.types", "Snap"),
    "remote_nonnull_domain_checkpoint": ("virtd.protocol.types", "Checkpoint"),
    "remote_error": ("virtd.protocol.message", "RemoteError"),
    "remote_typed_param": ("virtd.protocol.types", "TypedParam"),
}


class SheetError(Exception):
    pass


# -- reading the sheet --------------------------------------------------------

def section(text: str, start: str, end: str) -> str:
    try:
        return text.split(start, 1)[1].split(end, 1)[0]
    except IndexError:
        raise SheetError(f"section {start!r} .. {end!r} not found") from None


def rows(block: str) -> list[list[str]]:
    """
    The cells of every table row in C{block} whose first cell is a number.
    """
    out = []
    for line in block.splitlines():
        if not line.startswith("| "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if cells and re.fullmatch(r"\d+", cells[0]):
            out.append(cells)
    return out


def splitFields(cell: str) -> list[tuple[str, str]]:
    """
    C{"dom:Dom, flags:u32"} -> C{[("dom", "Dom"), ("flags", "u32")]};
    C{"—"} -> C{[]}.
    """
    cell = cell.strip()
    if cell in ("—", ""):
        return []
    out = []
    for part in cell.split(", "):
        name, sep, typ = part.partition(":")
        if not sep or not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise SheetError(f"cannot read field {part!r} in {cell!r}")
        out.append((name, typ.strip()))
    return out


def parseName(cell: str) -> tuple[str, str | None]:
    m = re.fullmatch(
        r"(\w+)(?: _\[(read|write)stream\([^)]*\)\]_)?", cell.strip())
    if not m:
        raise SheetError(f"cannot read procedure name {cell!r}")
    return m[1], m[2]


class Proc:
    def __init__(self, cells: list[str]) -> None:
        self.number = int(cells[0])
        self.name, self.stream = parseName(cells[1])
        self.args = splitFields(cells[2])
        body = cells[3]
        self.event = body.startswith("EVENT:")
        self.ret = splitFields(body[len("EVENT:"):] if self.event else body)
        self.priority = cells[4]
        ro = cells[5].replace("*", "")
        self.readonly = ro
        if self.priority not in ("high", "low"):
            raise SheetError(f"{self.name}: priority {cells[4]!r}")
        if self.event:
            if self.args or ro != "n/a" or self.stream:
                raise SheetError(f"{self.name}: event with args/ro/stream")
        elif ro not in ("yes", "no", "flag-dep"):
            raise SheetError(f"{self.name}: read-only class {cells[5]!r}")


def readAppendixA(text: str) -> list[Proc]:
    block = section(text, "## Appendix A.", "## Appendix B.")
    procs = []
    for cells in rows(block):
        if len(cells) != 6:
            raise SheetError(f"Appendix A row with {len(cells)} cells: {cells}")
        procs.append(Proc(cells))
    numbers = [p.number for p in procs]
    if numbers != list(range(1, len(numbers) + 1)):
        raise SheetError("Appendix A procedure numbers are not 1..N in order")
    if len({p.name for p in procs}) != len(procs):
        raise SheetError("Appendix A has duplicate procedure names")
    return procs


def readAppendixB(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    block = section(text, "## Appendix B.", "## Appendix C.")
    out = []
    for line in block.splitlines():
        m = re.fullmatch(r"\| (remote_\w+) \| (.*) \|", line.strip())
        if m:
            out.append((m[1], splitFields(m[2])))
    if not out:
        raise SheetError("no structs in Appendix B")
    return out


def checkSection5(text: str, procs: dict[int, Proc]) -> list[str]:
    """
    Compare every row of the section 5 sub-tables with Appendix A.
    """
    block = section(text, "## 5. Procedures", "### 5.2")
    problems = []
    seen = 0
    for cells in rows(block):
        seen += 1
        n = int(cells[0])
        a = procs.get(n)
        if a is None:
            problems.append(f"section 5: procedure {n} is not in Appendix A")
            continue
        if len(cells) == 3:
            name, body = cells[1], splitFields(cells[2])
            if name != a.name or not a.event or body != a.ret:
                problems.append(f"section 5.1: {n} {name} {body} != "
                                f"Appendix A {a.name} {a.ret}")
            continue
        if len(cells) != 7:
            problems.append(f"section 5: odd row {cells}")
            continue
        name, stream = parseName(cells[1])
        mine = (name, stream, splitFields(cells[2]), splitFields(cells[3]),
                cells[4], cells[5].replace("*", ""))
        theirs = (a.name, a.stream, a.args, a.ret, a.priority, a.readonly)
        for what, x, y in zip(("name", "stream", "args", "ret", "priority",
                               "read-only"), mine, theirs, strict=True):
            if x != y:
                problems.append(
                    f"section 5: {n} {name}: {what} {x!r} != Appendix A {y!r}")
    if not seen:
        problems.append("section 5: no rows found")
    return problems


# -- types --------------------------------------------------------------------

def camel(structName: str) -> str:
    """C{remote_vcpu_info} -> C{VcpuInfo}."""
    return "".join(w.capitalize() for w in structName[len("remote_"):].split("_"))


class Resolver:
    """
    Turns sheet type tokens into Python source for the generated module.
    """

    def __init__(self, helpers: set[str], procsByName: dict[str, Proc]) -> None:
        self.helpers = helpers          # Appendix B names without remote_
        self.procsByName = procsByName
        self.declared: set[str] = set()  # helper structs emitted so far
        self.used: set[str] = set()      # names to import
        self.number = 0                  # the procedure being declared

    def expr(self, tok: str) -> str:
        m = re.fullmatch(
            r"(?P<base>[A-Za-z_][\w]*(?:\((?:as 4 bytes|enum|4 bytes each)\))?)"
            r"(?:<(?P<var>\d+)>|\[(?P<fix>\d+)\])?"
            r"(?P<each>\(4B each\))?(?P<opt>\?)?", tok)
        if not m:
            raise SheetError(f"cannot map type token {tok!r}")
        base, var, fix, each, opt = (m["base"], m["var"], m["fix"], m["each"],
                                     m["opt"])
        if each and base != "char":
            raise SheetError(f"'(4B each)' on a non-char type in {tok!r}")
        if base == "char" and not each and (var or fix):
            raise SheetError(f"char array without '(4B each)' in {tok!r}")
        if base == "opaque":
            if opt:
                raise SheetError(f"optional opaque in {tok!r}")
            if var:
                return self.use("Opaque", f"Opaque({var})")
            if fix:
                return self.use("FixedOpaque", f"FixedOpaque({fix})")
            raise SheetError(f"opaque without a size in {tok!r}")
        if base == "TP":
            if not var or opt:
                raise SheetError(f"cannot map {tok!r}")
            return self.use("TypedParams", f"TypedParams({var})")
        if base == "str" and opt and not (var or fix):
            return self.use("OptString", "OptString")
        elem = self.element(base, tok)
        if var:
            e = self.use("Array", f"Array({elem}, {var})")
        elif fix:
            e = self.use("FixedArray", f"FixedArray({elem}, {fix})")
        else:
            e = elem
        if opt:
            e = self.use("Optional", f"Optional({e})")
        return e

    def use(self, name: str, expr: str) -> str:
        self.used.add(name)
        return expr

    def element(self, base: str, tok: str) -> str:
        if base in SCALARS:
            return self.use(SCALARS[base], SCALARS[base])
        if base in HANDLES:
            return self.use(base, base)
        if base.endswith("_msg"):
            # a legacy event's body, embedded in its callback variant
            proc = self.procsByName.get(base[:-len("_msg")].upper())
            if proc is None or not proc.event or proc.number >= self.number:
                raise SheetError(f"{tok!r}: no earlier event procedure "
                                 f"{base[:-4].upper()}")
            return f"_retOf(REMOTE_PROC_{proc.name})"
        if base.endswith("_ret"):
            proc = self.procsByName.get(base[:-len("_ret")].upper())
            if proc is None or proc.event or proc.number >= self.number:
                raise SheetError(f"{tok!r}: no earlier procedure "
                                 f"{base[:-4].upper()}")
            return f"_retOf(REMOTE_PROC_{proc.name})"
        if base in self.helpers:
            if base not in self.declared:
                raise SheetError(f"{tok!r}: helper struct used before it is "
                                 "declared")
            return camel("remote_" + base)
        raise SheetError(f"cannot map type token {tok!r}")


def pyField(name: str) -> str:
    # namedtuple refuses keywords as field names (DOMAIN_RESTORE's "from").
    return name + "_" if keyword.iskeyword(name) else name


def fieldList(res: Resolver, fields: list[tuple[str, str]]) -> list[str]:
    return [f'("{pyField(n)}", {res.expr(t)})' for n, t in fields]


def packItems(items: list[str], indent: int, last: str = "") -> list[str]:
    """
    C{items} separated by commas, packed into lines of at most LINE columns
    that start with C{indent} spaces; C{last} closes the final line.
    """
    lines = []
    pad = " " * indent
    cur = ""
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else last)
        if cur and len(pad) + len(cur) + 1 + len(piece) > LINE:
            lines.append(pad + cur)
            cur = piece
        else:
            cur = f"{cur} {piece}" if cur else piece
    lines.append(pad + cur)
    return lines


def declaration(lhs: str, func: str, head: list[str],
                lists: list[tuple[str, list[str]]]) -> list[str]:
    """
    C{lhs = func(head..., key=[items], ...)} on one line when it fits, else
    one argument group per line::

        lhs = func(
            head...,
            key=[items, wrapped
                 under the first item],
        )
    """
    parts = head + [f"{k}[{', '.join(v)}]" for k, v in lists]
    one = f"{lhs} = {func}({', '.join(parts)})"
    if len(one) <= LINE:
        return [one]
    out = [f"{lhs} = {func}("]
    out += packItems(head, 4, ",")
    for k, v in lists:
        block = packItems(v, 4 + len(k) + 1, "],")
        out.append("    " + k + "[" + block[0].lstrip())
        out += block[1:]
    out.append(")")
    return out


# -- remote.py ----------------------------------------------------------------

HEADER_REMOTE = '''"""
The REMOTE program of libvirt 9.0.0: all 443 procedures, one declaration each.

GENERATED by tools/gen_procedures.py from the wire fact sheet (Appendix A/B,
checked against section 5); do not edit by hand, regenerate instead.

Field names are the sheet's, except that a Python keyword gets a trailing
underscore (C{DOMAIN_RESTORE}'s C{from} is C{from_}).
"""
'''


def genRemote(procs: list[Proc], helpers: list[tuple[str, list]]) -> str:
    helperNames = {n[len("remote_"):] for n, _ in helpers}
    res = Resolver(helperNames, {p.name: p for p in procs})
    body: list[str] = []

    body.append("# Helper structs (Appendix B).")
    for name, fields in helpers:
        if name in EXISTING or name.endswith("_msg"):
            continue
        body += declaration(camel(name), "Struct", [f'"{name}"'],
                            [("", fieldList(res, fields))])
        res.declared.add(name[len("remote_"):])
    body.append("")
    body.append('_table = ProcedureTable("remote", PROGRAM, VERSION)')
    body.append("_call = _table.call")
    body.append("_event = _table.event")
    body.append("_retOf = _table.retOf")
    body.append("")
    for p in procs:
        res.number = p.number
        lhs = f"REMOTE_PROC_{p.name}"
        head = [str(p.number), f'"{p.name}"']
        if p.event:
            body += declaration(lhs, "_event", head,
                                [("body=", fieldList(res, p.ret))] if p.ret else [])
            continue
        head += [f'priority="{p.priority}"', f'readonly="{p.readonly}"']
        if p.stream:
            head.append(f'stream="{p.stream}"')
        lists = []
        if p.args:
            lists.append(("args=", fieldList(res, p.args)))
        if p.ret:
            lists.append(("ret=", fieldList(res, p.ret)))
        body += declaration(lhs, "_call", head, lists)
    body.append("")
    body.append("#: number -> L{Procedure}, all 443 of libvirt 9.0.0.")
    body.append("PROCEDURES: dict[int, Procedure] = _table.procedures")
    body.append("#: name (without C{REMOTE_PROC_}) -> L{Procedure}.")
    body.append("BY_NAME: dict[str, Procedure] = _table.byName")

    xdrNames = sorted((res.used & XDR_NAMES) | {"Struct"})
    typeNames = sorted(res.used - XDR_NAMES, key=isortKey)
    imports = [
        "from virtd.protocol.message import REMOTE_PROGRAM as PROGRAM",
        "from virtd.protocol.message import REMOTE_PROTOCOL_VERSION as VERSION",
        "from virtd.protocol.procedures import Procedure, ProcedureTable",
    ]
    imports += importLines("virtd.protocol.types", typeNames)
    imports += importLines("virtd.xdr", xdrNames)
    out = [HEADER_REMOTE]
    out.append('__all__ = ["PROGRAM", "VERSION", "PROCEDURES", "BY_NAME"]')
    out.append("")
    out += imports
    out.append("")
    out += body
    return "\n".join(out) + "\n"


def isortKey(name: str) -> tuple[int, str]:
    # ruff's isort order: CONSTANTS, then Classes, then the rest.
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name.lower()


def importLines(module: str, names: list[str]) -> list[str]:
    one = f"from {module} import {', '.join(names)}"
    if len(one) <= LINE:
        return [one]
    return [f"from {module} import ("] + [f"    {n}," for n in names] + [")"]


# -- constants.py -------------------------------------------------------------

# Appendix C enum label -> the VIR_ prefix libvirt gives its values.
ENUM_PREFIXES = {
    "`virDomainState`": "VIR_DOMAIN_",
    "`virDomainRunningReason`": "VIR_DOMAIN_RUNNING_",
    "`virDomainPausedReason`": "VIR_DOMAIN_PAUSED_",
    "`virDomainShutoffReason`": "VIR_DOMAIN_SHUTOFF_",
    "`virDomainEventType`": "VIR_DOMAIN_EVENT_",
    "DEFINED details": "VIR_DOMAIN_EVENT_DEFINED_",
    "UNDEFINED details": "VIR_DOMAIN_EVENT_UNDEFINED_",
    "STARTED details": "VIR_DOMAIN_EVENT_STARTED_",
    "SUSPENDED details": "VIR_DOMAIN_EVENT_SUSPENDED_",
    "RESUMED details": "VIR_DOMAIN_EVENT_RESUMED_",
    "STOPPED details": "VIR_DOMAIN_EVENT_STOPPED_",
    "SHUTDOWN details": "VIR_DOMAIN_EVENT_SHUTDOWN_",
    "PMSUSPENDED details": "VIR_DOMAIN_EVENT_PMSUSPENDED_",
    "CRASHED details": "VIR_DOMAIN_EVENT_CRASHED_",
    "`virDomainEventID`": "VIR_DOMAIN_EVENT_ID_",
    "`virStoragePoolState`": "VIR_STORAGE_POOL_",
    "`virStorageVolType`": "VIR_STORAGE_VOL_",
    "`virSecretUsageType`": "VIR_SECRET_USAGE_TYPE_",
    "`virConnectCloseReason`": "VIR_CONNECT_CLOSE_REASON_",
    "`virConnectFlags`": "VIR_CONNECT_",
    "`virConnectListAllDomainsFlags`": "VIR_CONNECT_LIST_DOMAINS_",
    "`virConnectListAllNetworksFlags`": "VIR_CONNECT_LIST_NETWORKS_",
    "`virConnectListAllStoragePoolsFlags`": "VIR_CONNECT_LIST_STORAGE_POOLS_",
    "`virConnectListAllInterfacesFlags`": "VIR_CONNECT_LIST_INTERFACES_",
    "`virConnectListAllSecretsFlags`": "VIR_CONNECT_LIST_SECRETS_",
    "`virConnectListAllNodeDeviceFlags`": "VIR_CONNECT_LIST_NODE_DEVICES_",
    "`virDomainXMLFlags`": "VIR_DOMAIN_XML_",
    "`virDomainCreateFlags`": "VIR_DOMAIN_",
    "`virDomainDefineFlags`": "VIR_DOMAIN_DEFINE_",
    "`virDomainUndefineFlagsValues`": "VIR_DOMAIN_UNDEFINE_",
    "`virDomainDestroyFlagsValues`": "VIR_DOMAIN_DESTROY_",
    "`virDomainSnapshotCreateFlags`": "VIR_DOMAIN_SNAPSHOT_CREATE_",
    "`virDomainSnapshotDeleteFlags`": "VIR_DOMAIN_SNAPSHOT_DELETE_",
    "`virDomainSnapshotListFlags`": "VIR_DOMAIN_SNAPSHOT_LIST_",
    "`virDomainConsoleFlags`": "VIR_DOMAIN_CONSOLE_",
    "`virStoragePoolBuildFlags`": "VIR_STORAGE_POOL_BUILD_",
    "`virStorageVolCreateFlags`": "VIR_STORAGE_VOL_CREATE_",
    "`virStorageVolDeleteFlags`": "VIR_STORAGE_VOL_DELETE_",
    "`virTypedParameterFlags`": "VIR_TYPED_PARAM_",
}


def _pairs(cell: str) -> list[tuple[int, str]]:
    out = []
    for part in cell.split(", "):
        m = re.fullmatch(r"(\d+|1<<\d+) ([A-Z][A-Z0-9_]*)(?: \(.*\))?", part.strip())
        if not m:
            raise SheetError(f"cannot read enum value {part!r}")
        v = m[1]
        out.append((1 << int(v[3:]) if v.startswith("1<<") else int(v), m[2]))
    return out


def readEnums(text: str) -> list[tuple[str, list[tuple[str, int]]]]:
    """
    Appendix C as C{(label, [(VIR_NAME, value), ...])} groups.
    """
    block = section(text, "## Appendix C.", "## Appendix D.")
    groups = []
    for line in block.splitlines():
        m = re.fullmatch(r"\| (.+?) \| (.+) \|", line.strip())
        if not m or m[1] in ("Enum", "---"):
            continue
        label, cell = m[1], m[2]
        values: list[tuple[str, int]] = []
        if label in ENUM_PREFIXES:
            cell = re.sub(r"\s*\(note:.*?\)", "", cell)
            cell = re.sub(r"\s*\(LAST = (\d+)\)", r", \1 LAST", cell)
            cell = cell.replace(
                "1 ROOTS (same bit as 1 DESCENDANTS for the children APIs)",
                "1 ROOTS, 1 DESCENDANTS")
            cell = cell.replace("4 STRING_OKAY (added by the client when "
                                "feature 9 = 1)", "4 STRING_OKAY")
            prefix = ENUM_PREFIXES[label]
            values = [(prefix + n, v) for v, n in _pairs(cell)]
        elif label == "`virNetworkEventID` / lifecycle":
            ids, events = cell.split("; events ")
            values = [("VIR_NETWORK_EVENT_ID_" + n, v)
                      for v, n in _pairs(ids.removeprefix("ID "))]
            values.append(("VIR_NETWORK_EVENT_ID_LAST", len(values)))
            values += [("VIR_NETWORK_EVENT_" + n, v) for v, n in _pairs(events)]
        elif label == "`virStoragePoolEventID` / lifecycle":
            ids, events = cell.split("; events ")
            values = [("VIR_STORAGE_POOL_EVENT_ID_" + n, v)
                      for v, n in _pairs(ids.removeprefix("IDs "))]
            values.append(("VIR_STORAGE_POOL_EVENT_ID_LAST", len(values)))
            values += [("VIR_STORAGE_POOL_EVENT_" + n, v)
                       for v, n in _pairs(events)]
        elif label.startswith("`virDomainModificationImpact`"):
            impact, dev, mem, vcpu = cell.split("; ")
            base = _pairs(impact)
            values = [("VIR_DOMAIN_AFFECT_" + n, v) for v, n in base]
            for prefix, extra in (("VIR_DOMAIN_DEVICE_MODIFY_", dev),
                                  ("VIR_DOMAIN_MEM_", mem),
                                  ("VIR_DOMAIN_VCPU_", vcpu)):
                extra = re.sub(r"^[a-z-]+ ", "", extra)
                values += [(prefix + n, v) for v, n in base + _pairs(extra)]
        elif label.startswith("`virDomainShutdownFlagValues`"):
            for prefix in ("VIR_DOMAIN_SHUTDOWN_", "VIR_DOMAIN_REBOOT_"):
                values += [(prefix + n, v) for v, n in _pairs(cell)]
        elif label == "Upload/Download flags":
            (v, n), = _pairs(cell)
            values = [("VIR_STORAGE_VOL_UPLOAD_" + n, v),
                      ("VIR_STORAGE_VOL_DOWNLOAD_" + n, v)]
        else:
            raise SheetError(f"Appendix C: no naming rule for enum {label}")
        groups.append((label.strip("`"), values))
    return groups

HEADER_CONSTANTS = '''"""
libvirt 9.0.0 constants used on the wire: driver features, auth types,
connection flags, domain states and reasons, event types, details and IDs,
list flags and other enumerations, and the REMOTE program's list limits.

GENERATED by tools/gen_procedures.py from the wire fact sheet (sections 3.4,
3.5, 4.6 and Appendix C); do not edit by hand, regenerate instead.
Names are libvirt's own C{VIR_*} / C{REMOTE_*} names.
"""

from virtd.protocol.types import (  # noqa: F401  (re-exported)
    REMOTE_STRING_MAX,
    VIR_TYPED_PARAM_BOOLEAN,
    VIR_TYPED_PARAM_DOUBLE,
    VIR_TYPED_PARAM_FIELD_LENGTH,
    VIR_TYPED_PARAM_INT,
    VIR_TYPED_PARAM_LLONG,
    VIR_TYPED_PARAM_STRING,
    VIR_TYPED_PARAM_UINT,
    VIR_TYPED_PARAM_ULLONG,
    VIR_UUID_BUFLEN,
)
'''


def genConstants(text: str) -> tuple[str, dict[str, int]]:
    from virtd.protocol import types
    REEXPORTED = {n: getattr(types, n) for n in re.findall(
        r"^    (\w+),$", HEADER_CONSTANTS, re.M)}
    values: dict[str, int] = {}
    out = [HEADER_CONSTANTS]

    def emit(name: str, value: int) -> None:
        if name in REEXPORTED:
            if REEXPORTED[name] != value:
                raise SheetError(f"{name} is {value} in the sheet but "
                                 f"{REEXPORTED[name]} in virtd.protocol.types")
            return
        if name in values:
            if values[name] != value:
                raise SheetError(f"{name} defined as {values[name]} and {value}")
            return
        values[name] = value
        out.append(f"{name} = {value}")

    out.append("# VIR_DRV_FEATURE_* (section 4.6)")
    feats = section(text, "### 4.6", "### 4.7")
    for cells in rows(feats):
        emit("VIR_DRV_FEATURE_" + cells[1], int(cells[0]))
    out.append("")
    out.append("# remote_auth_type (section 3.4)")
    auth = section(text, "### 3.4", "### 3.5")
    found = re.findall(r"(\d+) = (REMOTE_AUTH_\w+)", auth)
    if len(found) != 3:
        raise SheetError("section 3.4: expected three auth types")
    for v, n in found:
        emit(n, int(v))
    out.append("")
    out.append("# List and size limits of remote_protocol.x (section 3.5)")
    limits = section(text, "### 3.5", "## 4.")
    for m in re.finditer(r"^\| `(REMOTE_\w+)` \| (\d+)", limits, re.M):
        emit(m[1], int(m[2]))
    for label, group in readEnums(text):
        out.append("")
        out.append(f"# {label} (Appendix C)")
        for n, v in group:
            emit(n, v)
    return "\n".join(out) + "\n", values


# -- checks against what already exists --------------------------------------

def checkExisting(helpers: list[tuple[str, list]], procs: dict[str, Proc]) -> list[str]:
    """
    Appendix B structs that live in types.py/message.py, and the legacy
    C{*_msg} structs, must agree with the sheet.
    """
    import importlib

    res = Resolver(set(), procs)
    # The names the generated expressions refer to, to evaluate our own
    # output for the structs that already exist.
    ns: dict = {}
    exec("from virtd.protocol.types import *\n"
         "from virtd.protocol.types import TypedParamValue, OptString\n"
         "from virtd.xdr import *", ns)
    problems = []
    for name, fields in helpers:
        if name.endswith("_msg"):
            proc = procs.get(name[len("remote_"):-len("_msg")].upper())
            if proc is None or proc.ret != fields:
                problems.append(f"Appendix B {name} does not match the body "
                                f"of event {name[7:-4].upper()}")
            continue
        if name not in EXISTING:
            continue
        mod, attr = EXISTING[name]
        obj = getattr(importlib.import_module(mod), attr)
        mine = [f for f, _ in fields]
        theirs = [f for f, _ in obj.fields]
        if mine != theirs or obj.name != name:
            problems.append(f"{mod}.{attr} ({obj.name}) fields {theirs} != "
                            f"sheet {name} {mine}")
            continue
        for (f, tok), (_, t) in zip(fields, obj.fields, strict=True):
            got = eval(res.expr(tok), ns)
            if got.name != t.name:
                problems.append(f"{mod}.{attr}.{f}: {t.name} != sheet {tok}")
    return problems


def checkLibvirt(values: dict[str, int]) -> list[str]:
    """
    Cross-check the constants libvirt-python also defines, when it is
    installed; names it lacks are only reported, values must agree.
    """
    try:
        import libvirt
    except ImportError:
        return ["libvirt-python not installed: constants not cross-checked"]
    notes = []
    for n, v in values.items():
        if not n.startswith("VIR_") or n.startswith("VIR_DRV_"):
            continue
        lv = getattr(libvirt, n, None)
        if lv is None:
            notes.append(f"note: libvirt-python has no {n}")
        elif lv != v:
            notes.append(f"MISMATCH: {n} = {v} but libvirt-python says {lv}")
    return notes


def ruffClean(path: Path) -> None:
    ruff = ROOT / ".venv" / "bin" / "ruff"
    if ruff.exists():
        r = subprocess.run([str(ruff), "check", "-q", str(path)], cwd=ROOT)
        if r.returncode:
            raise SheetError(f"generated {path} fails ruff check")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--facts", type=Path, default=DEFAULT_FACTS)
    ap.add_argument("--check", action="store_true",
                    help="write nothing; fail if the files are out of date")
    opts = ap.parse_args(argv)
    text = opts.facts.read_text(encoding="utf-8")

    procs = readAppendixA(text)
    helpers = readAppendixB(text)
    byNumber = {p.number: p for p in procs}
    byName = {p.name: p for p in procs}
    problems = checkSection5(text, byNumber) + checkExisting(helpers, byName)
    for p in problems:
        print("DISAGREEMENT:", p, file=sys.stderr)

    remote = genRemote(procs, helpers)
    constants, values = genConstants(text)
    for note in checkLibvirt(values):
        print(note, file=sys.stderr)

    targets = {ROOT / "virtd/protocol/remote.py": remote,
               ROOT / "virtd/protocol/constants.py": constants}
    stale = []
    for path, content in targets.items():
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old != content:
            stale.append(path)
            if not opts.check:
                path.write_text(content, encoding="utf-8")
                ruffClean(path)
    events = sum(p.event for p in procs)
    print(f"{len(procs)} procedures ({events} events), {len(helpers)} "
          f"Appendix B structs, {len(values)} constants; "
          f"{len(problems)} disagreements", file=sys.stderr)
    if opts.check and stale:
        print("out of date: " + ", ".join(str(p) for p in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SheetError as e:
        print(f"gen_procedures: {e}", file=sys.stderr)
        sys.exit(2)
