"""
Read-only enforcement (DESIGN decision 6, wire facts 7.4): which calls a
read-only client may not make, and the exact error libvirt gives for each.

libvirt refuses such calls in its public API layer, so the error names the
public function (C{virDomainDestroy}) and carries the error domain of the
source file that function lives in. We derive both from the procedure name;
tests/test_server_readonly.py checks every refused procedure against a real
libvirtd.
"""

from __future__ import annotations

from typing import Any

from virtd.errors import (
    VIR_ERR_OPERATION_DENIED,
    VIR_FROM_DOMAIN,
    VIR_FROM_DOMAIN_CHECKPOINT,
    VIR_FROM_DOMAIN_SNAPSHOT,
    VIR_FROM_INTERFACE,
    VIR_FROM_NETWORK,
    VIR_FROM_NODEDEV,
    VIR_FROM_NWFILTER,
    VIR_FROM_SECRET,
    VIR_FROM_STORAGE,
    VIR_FROM_STREAMS,
    LibvirtError,
)

__all__ = ["apiName", "errorDomain", "readonlyDenial"]

# Words the public API spells in capitals (or mixed case) rather than
# "Capitalised".
_WORDS = {
    "XML": "XML", "UUID": "UUID", "ID": "ID", "NMI": "NMI", "PM": "PM",
    "FSTRIM": "FSTrim", "FSFREEZE": "FSFreeze", "FSTHAW": "FSThaw",
    "FSINFO": "FSInfo", "FD": "FD", "IOTHREAD": "IOThread", "CPU": "CPU",
    "SEV": "SEV", "NWFILTER": "NWFilter", "SSH": "SSH",
}

# Longest prefix first: the source file, hence the error domain, of the
# public API behind a procedure.
_DOMAINS = [
    ("DOMAIN_SNAPSHOT_", VIR_FROM_DOMAIN_SNAPSHOT),
    ("DOMAIN_CHECKPOINT_", VIR_FROM_DOMAIN_CHECKPOINT),
    ("DOMAIN_REVERT_TO_SNAPSHOT", VIR_FROM_DOMAIN_SNAPSHOT),
    ("NODE_DEVICE_", VIR_FROM_NODEDEV),
    ("NETWORK_", VIR_FROM_NETWORK),
    ("STORAGE_", VIR_FROM_STORAGE),
    ("CONNECT_FIND_STORAGE_POOL_SOURCES", VIR_FROM_STORAGE),
    ("INTERFACE_", VIR_FROM_INTERFACE),
    ("SECRET_", VIR_FROM_SECRET),
    ("NWFILTER_", VIR_FROM_NWFILTER),
    ("STREAM_", VIR_FROM_STREAMS),
]

# Flag-dependent procedures: (flags field, mask or exact value, message).
# A "secure" XML getter names the API "with secure flag"; the others use the
# ordinary wording.
_SECURE = "{api} with secure flag"
_PLAIN = "read only access prevents {api}"
_FLAG_DEP = {
    "DOMAIN_GET_XML_DESC": ("flags", 1 | 8, _SECURE),
    "DOMAIN_SNAPSHOT_GET_XML_DESC": ("flags", 1, _SECURE),
    "DOMAIN_CHECKPOINT_GET_XML_DESC": ("flags", 1, _SECURE),
    "DOMAIN_MANAGED_SAVE_GET_XML_DESC": ("flags", 1, _SECURE),
    "DOMAIN_GET_VCPUS_FLAGS": ("flags", 8, _PLAIN),
    # source == VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT (1)
    "DOMAIN_INTERFACE_ADDRESSES": ("source", None, _PLAIN),
}

_cache: dict[str, LibvirtError] = {}


def apiName(procName: str) -> str:
    """
    The public libvirt function behind a procedure, as libvirt names it in
    its read-only refusals.

    @param procName: e.g. C{'DOMAIN_GET_XML_DESC'}.
    @return: e.g. C{'virDomainGetXMLDesc'}.
    """
    return "vir" + "".join(_WORDS.get(w) or w.capitalize()
                           for w in procName.split("_"))


def errorDomain(procName: str) -> int:
    """
    @return: the C{VIR_FROM_*} domain libvirt reports errors of the public
        API behind C{procName} with.
    """
    for prefix, domain in _DOMAINS:
        if procName.startswith(prefix):
            return domain
    return VIR_FROM_DOMAIN


def _denied(procName: str, template: str) -> LibvirtError:
    key = procName + template
    err = _cache.get(key)
    if err is None:
        err = LibvirtError.fromCode(
            VIR_ERR_OPERATION_DENIED, errorDomain(procName),
            template.format(api=apiName(procName)))
        _cache[key] = err
    return err


def readonlyDenial(proc: Any, args: Any) -> LibvirtError | None:
    """
    Decide whether a read-only client may make this call.

    @param proc: the L{virtd.protocol.procedures.Procedure}.
    @param args: its decoded arguments.
    @return: the error to answer with, or C{None} when the call is allowed.
    """
    ro = proc.readonly
    if ro == "yes":
        return None
    if ro == "flag-dep":
        rule = _FLAG_DEP.get(proc.name)
        if rule is None:
            return None
        field, mask, template = rule
        value = getattr(args, field, 0)
        if mask is None:
            refused = value == 1
        else:
            refused = bool(value & mask)
        return _denied(proc.name, template) if refused else None
    return _denied(proc.name, _PLAIN)
