"""
What the two name parsers share: the transport parameters the client
consumes, the checks on their values, and the error a bad name raises.
"""

from __future__ import annotations

from virtd.errors import VIR_ERR_INVALID_ARG, VIR_FROM_REMOTE, LibvirtError

__all__ = ["CONSUMED_PARAMS"]

# Parameters the client consumes (never forwarded in the CONNECT_OPEN name).
# The first group is libvirt 9.0's; "framing" is virtd's own.
CONSUMED_PARAMS = (
    "name", "command", "socket", "auth", "sshauth", "netcat", "keyfile",
    "pkipath", "known_hosts", "known_hosts_verify", "tls_priority", "mode",
    "proxy", "no_sanity", "no_verify", "no_tty", "authfile", "framing",
)
_INT_PARAMS = ("no_sanity", "no_verify", "no_tty")
_CHOICES = {
    "mode": ("auto", "direct", "legacy"),
    "proxy": ("auto", "netcat", "native"),
    "known_hosts_verify": ("normal", "auto", "ignore"),
    "framing": ("libvirt", "record"),
}


def _invalid(message: str) -> LibvirtError:
    return LibvirtError(message, code=VIR_ERR_INVALID_ARG, domain=VIR_FROM_REMOTE)


def _checkParams(params: dict[str, str], original: str) -> None:
    for key in _INT_PARAMS:
        if key in params:
            try:
                int(params[key], 10)
            except ValueError:
                raise _invalid(
                    f"{key} in {original!r} must be an integer (0 or 1), "
                    f"not {params[key]!r}"
                ) from None
    for key, choices in _CHOICES.items():
        if key in params and params[key].lower() not in choices:
            raise _invalid(
                f"{key}={params[key]!r} in {original!r} is not one of "
                f"{', '.join(choices)}"
            )
        if key in params:
            params[key] = params[key].lower()
    if params.get("proxy") == "native" and "netcat" in params:
        raise _invalid(
            f"netcat= cannot be used with proxy=native in {original!r}: "
            f"virt-ssh-helper needs no netcat"
        )
