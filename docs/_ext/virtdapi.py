"""
Sphinx helpers for virtd's own documentation.

  - C{.. virtd-uri-params::} renders the table of connection-name
    parameters from L{virtd.uri}'s own data (C{CONSUMED_PARAMS}, the value
    choices, the integer flags) plus the descriptions below; the build fails
    (a warning under C{-W}) when a parameter has no description or a
    description names a parameter virtd.uri no longer knows, so the table
    cannot drift from the code.
  - C{.. virtd-transports::} renders the transports and their default
    ports from C{virtd.uri.TRANSPORTS} and C{DEFAULT_PORTS}.
  - C{.. virtd-daemon-options::} renders the C{twistd virtd} options
    from L{virtd.server.options.Options} itself (names, defaults, help
    text), so the table always matches C{twistd -n virtd --help}.
  - The client's one-line remote methods (C{getHostname =
    rpc("CONNECT_GET_HOSTNAME")}) are descriptors, not functions: autodoc
    lists them as attributes, so their docstring is replaced with one that
    gives the method's Python signature and procedure.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

_log = logging.getLogger(__name__)

#: What each parameter does, by name (the table's rows come from virtd.uri).
PARAM_DOCS = {
    "name": "The name sent to the daemon in CONNECT_OPEN: which hypervisor "
            "it opens (``test:///default``, ``qemu:///system``). Default for "
            "URIs: derived as libvirt does (scheme without transport, path, "
            "unconsumed parameters); for ``remote:`` names: empty, so the "
            "daemon picks its default.",
    "command": "ssh: the program run instead of ``ssh``; ext: the program "
               "to spawn (its stdin/stdout carry the connection).",
    "socket": "The unix socket: local for unix, on the far host for ssh "
              "(opened there with ``nc -U``).",
    "auth": "libvirt's choice of SASL/polkit mechanism. Accepted for "
            "compatibility; the virtd client supports only servers that ask "
            "for no authentication (TLS client certificates still apply).",
    "sshauth": "libssh/libssh2 and ``remote:ssh``: the methods to try, in "
               "order, comma-separated (``agent``, ``privkey``, "
               "``password``, ``keyboard-interactive``). Default "
               "``agent,privkey``.",
    "netcat": "ssh: the netcat program on the far host (default ``nc``).",
    "keyfile": "ssh family: the private key to log in with.",
    "pkipath": "tls: the directory holding ``cacert.pem``, "
               "``clientcert.pem`` and ``clientkey.pem`` (see :doc:`tls`).",
    "known_hosts": "libssh/libssh2 and ``remote:ssh``: the known_hosts file "
                   "(default ``~/.ssh/known_hosts``).",
    "known_hosts_verify": "libssh/libssh2 and ``remote:ssh``: ``normal`` "
                          "(unknown hosts fail), ``auto`` (unknown hosts "
                          "are added) or ``ignore``.",
    "tls_priority": "tls: a GnuTLS priority string. Accepted and logged; "
                    "virtd uses OpenSSL's defaults.",
    "mode": "Which daemon socket: ``legacy`` (libvirtd's), ``direct`` (the "
            "per-driver daemon's, e.g. ``virtqemud-sock``) or ``auto``.",
    "proxy": "ssh: what runs on the far host: ``netcat`` (``nc -U "
             "socket``), ``native`` (``virt-ssh-helper``) or ``auto``.",
    "no_sanity": "tls: ``1`` skips the checks of our own certificate files "
                 "before connecting.",
    "no_verify": "tls: ``1`` skips the server certificate checks; ssh: "
                 "``1`` accepts an unknown host key.",
    "no_tty": "ssh: ``1`` never asks for a password on the terminal "
              "(``ssh -o BatchMode=yes``).",
    "authfile": "libvirt's auth credentials file. Accepted for "
                "compatibility; unused by virtd (see ``auth``).",
    "framing": "virtd only: ``record`` speaks RFC 5531 record marking (the "
               "original design's SunRPC framing; virtd's daemon detects "
               "it), ``libvirt`` (default) libvirt's length words.",
}

TRANSPORT_DOCS = {
    "unix": "a local unix socket (``socket=`` or libvirt's default path)",
    "tls": "TCP with TLS, client certificate required (:doc:`tls`)",
    "tcp": "plain TCP, unauthenticated: loopback and tests only",
    "ssh": "the system ``ssh`` program, running ``nc -U socket`` on the far "
           "host (:doc:`ssh`)",
    "libssh": "ssh in-process (Twisted conch)",
    "libssh2": "ssh in-process (Twisted conch)",
    "ext": "any program (``command=``) whose stdin/stdout carry the "
           "connection",
}


def _choices(uri: Any, key: str) -> str:
    choices = getattr(uri, "_CHOICES", {}).get(key)
    if choices:
        return " | ".join(f"``{c}``" for c in choices)
    if key in getattr(uri, "_INT_PARAMS", ()):
        return "``0`` | ``1``"
    return "text"


class _TableDirective(SphinxDirective):
    has_content = False

    def rows(self) -> list[list[str]]:
        raise NotImplementedError

    header: list[str] = []
    widths = ""

    def run(self) -> list[nodes.Node]:
        lines = [".. list-table::", "   :header-rows: 1"]
        if self.widths:
            lines.append(f"   :widths: {self.widths}")
        lines.append("")
        for row in [self.header, *self.rows()]:
            lines.append(f"   * - {row[0]}")
            lines.extend(f"     - {cell}" for cell in row[1:])
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, "virtdapi"),
                                 container)
        return container.children


class URIParamsDirective(_TableDirective):
    header = ["Parameter", "Values", "Meaning"]
    widths = "15 20 65"

    def rows(self) -> list[list[str]]:
        from virtd import uri

        known = set(uri.CONSUMED_PARAMS)
        for key in sorted(set(PARAM_DOCS) - known):
            _log.warning("docs/_ext/virtdapi.py describes parameter %r, which "
                         "virtd.uri no longer accepts", key,
                         location=self.get_location())
        rows = []
        for key in uri.CONSUMED_PARAMS:
            if key not in PARAM_DOCS:
                _log.warning("virtd.uri accepts parameter %r but "
                             "docs/_ext/virtdapi.py has no description for it",
                             key, location=self.get_location())
                continue
            rows.append([f"``{key}``", _choices(uri, key), PARAM_DOCS[key]])
        return rows


class TransportsDirective(_TableDirective):
    header = ["Transport", "Default port", "What it is"]
    widths = "15 15 70"

    def rows(self) -> list[list[str]]:
        from virtd import uri

        rows = []
        for name in uri.TRANSPORTS:
            if name not in TRANSPORT_DOCS:
                _log.warning("virtd.uri knows transport %r but "
                             "docs/_ext/virtdapi.py has no description for it",
                             name, location=self.get_location())
                continue
            port = uri.DEFAULT_PORTS.get(name)
            rows.append([f"``{name}``", str(port) if port else "--",
                         TRANSPORT_DOCS[name]])
        return rows


def daemonOptionRows(options: Any) -> list[list[str]]:
    """
    One row per C{twistd virtd} option: C{--name VALUE}, default, help.

    @param options: a L{twisted.python.usage.Options} subclass.
    """
    rows = []
    seen = set()

    def clean(text: str | None) -> str:
        # Plain help text: keep reST from reading *, _, ` or | as markup.
        text = " ".join((text or "").split()).replace("\\", "\\\\")
        for c in "*_`|":
            text = text.replace(c, "\\" + c)
        return text

    for flag in getattr(options, "optFlags", []):
        name, doc = flag[0], clean(flag[2] if len(flag) > 2 else "")
        seen.add(name)
        rows.append([f"``--{name}``", "off", doc])
    for param in getattr(options, "optParameters", []):
        name, default = param[0], param[2]
        doc = clean(param[3] if len(param) > 3 else "")
        seen.add(name)
        if default is None:
            shown = "--"
        elif default == "":
            shown = "(empty)"
        else:
            shown = f"``{default}``"
        rows.append([f"``--{name} VALUE``", shown, doc])
    for attr in sorted(dir(options)):
        if not attr.startswith("opt_"):
            continue
        name = attr[4:].replace("_", "-")
        if name in seen or name in ("help", "version"):
            continue
        method = getattr(options, attr)
        takesValue = method.__code__.co_argcount > 1
        rows.append([f"``--{name}{' VALUE' if takesValue else ''}``",
                     "--", clean(method.__doc__)])
    return rows


class DaemonOptionsDirective(_TableDirective):
    header = ["Option", "Default", "Meaning"]
    widths = "25 12 63"

    def rows(self) -> list[list[str]]:
        from virtd.server.options import Options

        return daemonOptionRows(Options)


def _isRPC(obj: Any) -> bool:
    from virtd.client.calls import rpc

    return isinstance(obj, rpc)


def rpcSignature(spec: Any) -> str:
    """
    The Python signature of a client method declared with C{rpc(...)}.
    """
    params = []
    for name in spec.names:
        if name in spec.defaults:
            params.append(f"{name}={spec.defaults[name]!r}")
        else:
            params.append(name)
    params += ["*", "timeout=None"]
    return f"({', '.join(params)})"


def rpcDocstring(app: Any, what: str, name: str, obj: Any, options: Any,
                 lines: list[str]) -> None:
    """
    Give C{rpc(...)} class attributes (the client's one-line remote
    methods) a method's docstring: autodoc sees a descriptor, not a
    function, and would otherwise show the descriptor class's docstring.
    """
    if not _isRPC(obj):
        return
    short = name.rsplit(".", 1)[-1]
    text = [f"C{{{short}{rpcSignature(obj)}}}: a method sending "
            f"C{{{obj.procName}}}.", ""]
    if obj.doc:
        text += [*obj.doc.split("\n"), ""]
    text.append("@return: a Deferred firing with what libvirt-python's "
                "method of the same name returns.")
    lines[:] = text


def setup(app: Any) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.autodoc")
    app.add_directive("virtd-uri-params", URIParamsDirective)
    app.add_directive("virtd-transports", TransportsDirective)
    app.add_directive("virtd-daemon-options", DaemonOptionsDirective)
    # Before the epytext conversion (default priority 500).
    app.connect("autodoc-process-docstring", rpcDocstring, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
