"""
Every command in the documentation runs here, so the docs cannot rot.

What is executed:

  - C{.. code-block:: console} blocks: each line starting with C{$ } is a
    command (a trailing backslash continues it on the next line); the lines
    after it, up to the next command, are its expected output, compared
    with what the command prints on stdout and stderr together, line by
    line with trailing spaces ignored and C{...} matching anything (as
    doctest's ELLIPSIS). A command whose expected output has a line starting
    with C{error:} must exit non-zero; every other command must exit 0.
  - C{>>>} examples (doctest blocks), run with L{doctest} per page.
  - files under C{docs/examples/} are shown with C{literalinclude} and run
    by the console blocks that show how to run them.

How a page runs (the placeholder mechanism):

  - each page runs, block after block, in a fresh short directory under
    C{/tmp}, as a reader following it in a checkout would: C{.venv} there is
    a link to the checkout's virtualenv (and C{tac} to its C{tac/}
    directory), the files of C{docs/examples/} are
    copied in, C{HOME} is a private directory, and C{$PWD} is that
    directory;
  - the well-known port numbers the pages use are placeholders, replaced
    (in commands, expected output, markers and the copied examples) by
    free ports: see L{PORT_PLACEHOLDERS};
  - C{.. doctest-console: background wait=tcp:PORT} or C{wait=unix:PATH},
    an rst comment (invisible in the HTML) right before a console block,
    runs that block's commands in the background (a daemon "in another
    terminal") and waits until the port or socket accepts connections; the
    processes are stopped when the page ends;
  - C{.. doctest-console: fixture sshd} provides a private sshd on
    loopback for the ssh page: its port replaces C{2222}, and
    C{~/.ssh/id_ed25519} is the key it accepts (see L{SshPageTests}).
"""

from __future__ import annotations

import doctest
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from twisted.trial import unittest

from tests.support import freePort, removeTree, shortTempDir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
EXAMPLES = os.path.join(DOCS, "examples")

#: Port numbers the pages use, replaced by free ports when a page runs.
PORT_PLACEHOLDERS = ("16514", "16509", "2222")

_MARKER = re.compile(r"^\s*\.\. doctest-console:\s*(.*)$")
_BLOCK = re.compile(r"^(\s*)\.\. code-block:: console\s*$")


@dataclass
class Command:
    """
    One C{$ } command of a console block and the output the page shows.
    """

    line: int
    text: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    """
    A console block and the marker before it (if any).
    """

    line: int
    commands: list[Command]
    marker: str = ""


def parseConsoleBlocks(text: str) -> list[Block]:
    """
    Find the console blocks of an rst page.

    @param text: the page.
    @return: its blocks, in order.
    """
    lines = text.split("\n")
    blocks: list[Block] = []
    marker = ""
    i = 0
    while i < len(lines):
        m = _MARKER.match(lines[i])
        if m:
            marker = m.group(1).strip()
            i += 1
            continue
        m = _BLOCK.match(lines[i])
        if not m:
            if lines[i].strip():
                marker = ""  # a marker applies to the block right after it
            i += 1
            continue
        outer = len(m.group(1))
        start = i + 1
        i += 1
        body: list[str] = []
        while i < len(lines) and (not lines[i].strip()
                                  or len(lines[i]) - len(lines[i].lstrip()) > outer):
            body.append(lines[i])
            i += 1
        while body and not body[-1].strip():
            body.pop()
        indent = min((len(b) - len(b.lstrip()) for b in body if b.strip()), default=0)
        body = [b[indent:] for b in body]
        commands: list[Command] = []
        j = 0
        while j < len(body):
            line = body[j]
            if line.startswith("$ "):
                text_ = line[2:]
                while text_.endswith("\\") and j + 1 < len(body):
                    j += 1
                    text_ = text_[:-1] + "\n" + body[j].strip()
                    text_ = text_.replace("\n", " ")
                commands.append(Command(start + j + 1, text_))
            elif commands:
                commands[-1].expected.append(line.rstrip())
            j += 1
        for c in commands:
            while c.expected and not c.expected[-1]:
                c.expected.pop()
        blocks.append(Block(start, commands, marker))
        marker = ""
    return blocks


def outputMatches(expected: list[str], actual: str) -> bool:
    """
    Whether C{actual} matches the expected lines (C{...} matches anything,
    trailing spaces and trailing blank lines are ignored).
    """
    got = "\n".join(line.rstrip() for line in actual.rstrip("\n").split("\n")) + "\n"
    want = "\n".join(expected) + "\n"
    return doctest.OutputChecker().check_output(want, got, doctest.ELLIPSIS)


def _ready(spec: str, cwd: str) -> bool:
    kind, _, where = spec.partition(":")
    family = socket.AF_INET if kind == "tcp" else socket.AF_UNIX
    address = ("127.0.0.1", int(where)) if kind == "tcp" else os.path.join(cwd, where)
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        return s.connect_ex(address) == 0


class PageRunner:
    """
    Runs the console blocks of one page in a fresh directory.
    """

    def __init__(self, testCase: unittest.SynchronousTestCase, page: str,
                 substitutions: dict[str, str] | None = None) -> None:
        self.testCase = testCase
        self.page = page
        self.directory = shortTempDir("vdd")
        testCase.addCleanup(removeTree, self.directory)
        self.subs = {p: str(freePort()) for p in PORT_PLACEHOLDERS}
        self.subs.update(substitutions or {})
        self.background: list[subprocess.Popen] = []
        testCase.addCleanup(self.stopBackground)
        os.symlink(os.path.join(ROOT, ".venv"), os.path.join(self.directory, ".venv"))
        os.symlink(os.path.join(ROOT, "tac"), os.path.join(self.directory, "tac"))
        home = os.path.join(self.directory, "home")
        os.makedirs(home)
        self.env = dict(os.environ, HOME=home, PWD=self.directory, LC_ALL="C",
                        PYTHONPATH=ROOT)
        for name in ("LIBVIRT_DEFAULT_URI", "VIRSH_DEFAULT_CONNECT_URI"):
            self.env.pop(name, None)
        for name in os.listdir(EXAMPLES):
            if name.endswith((".py", ".xml", ".sh")):
                with open(os.path.join(EXAMPLES, name)) as f:
                    source = self.substitute(f.read())
                target = os.path.join(self.directory, name)
                with open(target, "w") as f:
                    f.write(source)
                os.chmod(target, os.stat(os.path.join(EXAMPLES, name)).st_mode)

    def substitute(self, text: str) -> str:
        for placeholder, value in self.subs.items():
            text = text.replace(placeholder, value)
        return text

    def stopBackground(self) -> None:
        for process in self.background:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()

    def run(self) -> list[Block]:
        with open(os.path.join(DOCS, self.page)) as f:
            blocks = parseConsoleBlocks(f.read())
        for block in blocks:
            marker = self.substitute(block.marker)
            if marker.startswith("background"):
                self.runBackground(block, marker)
            else:
                for command in block.commands:
                    self.runCommand(command)
        return blocks

    def where(self, command: Command) -> str:
        return f"docs/{self.page}:{command.line}: {command.text}"

    def runBackground(self, block: Block, marker: str) -> None:
        log = open(os.path.join(self.directory, f"background-{block.line}.log"), "w")
        self.testCase.addCleanup(log.close)
        for command in block.commands:
            self.background.append(subprocess.Popen(
                ["bash", "-c", "exec " + self.substitute(command.text)],
                cwd=self.directory, env=self.env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True))
        m = re.search(r"wait=(\S+)", marker)
        if not m:
            return
        deadline = time.monotonic() + 60
        while not _ready(m.group(1), self.directory):
            if time.monotonic() > deadline or any(
                    p.poll() is not None for p in self.background):
                with open(log.name) as f:
                    self.testCase.fail(
                        f"docs/{self.page}:{block.line}: the background command "
                        f"did not become ready ({m.group(1)}):\n{f.read()}")
            time.sleep(0.2)

    def runCommand(self, command: Command) -> str:
        text = self.substitute(command.text)
        done = subprocess.run(["bash", "-c", text], cwd=self.directory,
                              env=self.env, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)
        output = done.stdout + done.stderr
        expected = [self.substitute(e) for e in command.expected]
        failing = any(e.startswith("error:") for e in expected)
        if failing:
            self.testCase.assertNotEqual(
                done.returncode, 0, f"{self.where(command)} should fail:\n{output}")
        else:
            self.testCase.assertEqual(
                done.returncode, 0, f"{self.where(command)} failed:\n{output}")
        if expected:
            self.testCase.assertTrue(
                outputMatches(expected, output),
                f"{self.where(command)}: output differs from the docs.\n"
                f"--- documented:\n" + "\n".join(expected) + f"\n--- got:\n{output}")
        return output


class HarnessTests(unittest.SynchronousTestCase):
    """
    The block parser and the output matcher.
    """

    def test_parse(self) -> None:
        """
        Commands, continuation lines, expected output and markers.
        """
        page = (
            "Text\n\n"
            ".. doctest-console: background wait=tcp:16514\n\n"
            ".. code-block:: console\n\n"
            "   $ daemon --port 16514\n\n"
            "Then:\n\n"
            ".. code-block:: console\n\n"
            "   $ echo a \\\n"
            "       b\n"
            "   a b\n"
            "   $ true\n\n"
            "After.\n")
        first, second = parseConsoleBlocks(page)
        self.assertEqual(first.marker, "background wait=tcp:16514")
        self.assertEqual([c.text for c in first.commands], ["daemon --port 16514"])
        self.assertEqual(second.marker, "")
        self.assertEqual([(c.text, c.expected) for c in second.commands],
                         [("echo a  b", ["a b"]), ("true", [])])

    def test_matcher(self) -> None:
        """
        Trailing spaces are ignored and C{...} matches anything.
        """
        self.assertTrue(outputMatches(["a", "b ..."], "a  \nb 123\n\n"))
        self.assertFalse(outputMatches(["a"], "b\n"))


class EpytextTests(unittest.SynchronousTestCase):
    """
    docs/_ext/epytext.py, which lets autodoc read the epytext docstrings.
    """

    def setUp(self) -> None:
        sys.path.insert(0, os.path.join(DOCS, "_ext"))
        self.addCleanup(sys.path.remove, os.path.join(DOCS, "_ext"))
        import epytext

        self.convert = epytext.convert

    def test_fields(self) -> None:
        """
        Fields become Sphinx info fields, with a blank line before them.
        """
        self.assertEqual(
            self.convert(["Do it.", "@param x: the", "    thing.",
                          "@return: C{1}.", "@raise LibvirtError: if not."]),
            ["Do it.", "", ":param x: the", "    thing.",
             ":returns: :code:`1`.", ":raises LibvirtError: if not."])

    def test_inline(self) -> None:
        """
        Nested braces, links with text, adjacent words and reST
        characters that epytext treats as plain text.
        """
        self.assertEqual(
            self.convert(["C{{a: 1}} L{the API <virtd.connect>} I{x}s a * b_ c"]),
            [r":code:`{a: 1}` :py:obj:`the API <virtd.connect>` *x*\ s a \* b\_ c"])

    def test_literalBlocksUntouched(self) -> None:
        """
        Literal blocks keep their text.
        """
        self.assertEqual(self.convert(["Example::", "", "    f(*a) C{x}", "", "Done."]),
                         ["Example::", "", "    f(*a) C{x}", "", "Done."])


class DoctestPagesTests(unittest.SynchronousTestCase):
    """
    The C{>>>} examples of the pages.
    """

    def test_names(self) -> None:
        """
        docs/names.rst's parsing examples.
        """
        result = doctest.testfile(os.path.join(DOCS, "names.rst"),
                                  module_relative=False, report=True,
                                  optionflags=doctest.ELLIPSIS)
        self.assertGreater(result.attempted, 5)
        self.assertEqual(result.failed, 0)


class ConsolePagesTests(unittest.SynchronousTestCase):
    """
    The console blocks of each page, run for real.
    """

    def runPage(self, page: str, minimum: int = 1) -> None:
        blocks = PageRunner(self, page).run()
        self.assertGreaterEqual(sum(len(b.commands) for b in blocks), minimum)

    def test_tls(self) -> None:
        """
        docs/tls.rst: from nothing to virsh and virtd.connect over TLS.
        """
        self.runPage("tls.rst", minimum=6)

    def test_cli(self) -> None:
        """
        docs/cli.rst.
        """
        self.runPage("cli.rst", minimum=8)

    def test_client(self) -> None:
        """
        docs/client.rst and its examples.
        """
        self.runPage("client.rst", minimum=4)

    def test_events(self) -> None:
        """
        docs/events.rst: the client's callbacks, libvirt-python on the
        reactor and C{event} on the command line.
        """
        self.runPage("events.rst", minimum=5)

    def test_names(self) -> None:
        """
        docs/names.rst's commands.
        """
        self.runPage("names.rst", minimum=2)

    def test_gettingStarted(self) -> None:
        """
        docs/getting-started.rst: the command C{make run} runs, then the
        virsh and Python commands it prints, the PKI helper and a single
        test.
        """
        self.runPage("getting-started.rst", minimum=12)

    def test_daemon(self) -> None:
        """
        docs/daemon.rst: twistd virtd, the read-only socket, the tac file
        and systemd socket activation (with systemd-socket-activate).
        """
        self.runPage("daemon.rst", minimum=10)

    def test_security(self) -> None:
        """
        docs/security.rst: --allow-uri and read-only refusals.
        """
        self.runPage("security.rst", minimum=4)

    def test_testing(self) -> None:
        """
        docs/testing.rst: the example unit tests of virtd.testing pass.
        """
        self.runPage("testing.rst", minimum=1)


class SshPageTests(unittest.SynchronousTestCase):
    """
    docs/ssh.rst against a private sshd on loopback. The page's
    C{root@localhost:2222} is that sshd; its key is installed as
    C{~/.ssh/id_ed25519} in the page's private home, and the sshd's host key
    is in C{~/.ssh/known_hosts} there, as for a reader who has logged in
    once before.
    """

    def test_ssh(self) -> None:
        from tests.support import PrivateSshd

        sshd = PrivateSshd.forTest(self)
        runner = PageRunner(self, "ssh.rst", {"2222": str(sshd.port)})
        sshDir = os.path.join(runner.env["HOME"], ".ssh")
        os.makedirs(sshDir, mode=0o700)
        shutil.copy(sshd.keyfile, os.path.join(sshDir, "id_ed25519"))
        os.chmod(os.path.join(sshDir, "id_ed25519"), 0o600)
        with open(sshd.knownHostsFile) as f:
            known = f.read()
        with open(os.path.join(sshDir, "known_hosts"), "w") as f:
            f.write(known)
        blocks = runner.run()
        self.assertGreaterEqual(sum(len(b.commands) for b in blocks), 3)
