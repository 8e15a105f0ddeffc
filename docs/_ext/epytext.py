"""
A small Sphinx extension: autodoc reads virtd's epytext docstrings.

Sphinx's autodoc expects reStructuredText. This converts, in
C{autodoc-process-docstring}:

  - fields: C{@param x:}, C{@type x:}, C{@return:}, C{@rtype:},
    C{@raise E:}, C{@ivar x:}, C{@cvar x:}, C{@var x:}, C{@keyword x:}
    become Sphinx's info fields (C{:param x:}, C{:raises E:}, ...); any
    other C{@field:} becomes a plain field;
  - inline markup: C{C{code}}, C{L{target}} / C{L{text <target>}},
    C{I{italic}}, C{B{bold}}, C{U{url}} / C{U{text <url>}}, C{M{math}},
    C{E{lb}} / C{E{rb}} (braces nest, as in epytext);
  - characters that are markup in reST but plain text in epytext
    (C{*}, a backquote, C{|}, a trailing C{_}) are escaped, so a docstring
    never trips C{sphinx-build -W};
  - literal blocks (after a paragraph ending in C{::}) and doctest blocks
    are left alone.

L{convert} is a pure function, tested by C{tests/test_docs.py}.
"""

from __future__ import annotations

import re
from typing import Any

FIELDS = {
    "param": "param", "parameter": "param", "arg": "param", "type": "type",
    "return": "returns", "returns": "returns", "rtype": "rtype",
    "returntype": "rtype", "raise": "raises", "raises": "raises",
    "except": "raises", "exception": "raises", "ivar": "ivar",
    "cvar": "cvar", "var": "var", "keyword": "keyword", "kwarg": "keyword",
}

_FIELD = re.compile(r"^(\s*)@(\w+)(?:[ \t]+([^:]*?))?[ \t]*:(?:[ \t]+|$)(.*)$")
_SPECIAL = re.compile(r"([*`|\\])")
_TRAILING_UNDERSCORE = re.compile(r"(?<=\w)_(?=\W|$)")
_ESCAPES = {"lb": "{", "rb": "}", "rarr": "->", "larr": "<-"}


def _escape(text: str) -> str:
    text = _SPECIAL.sub(r"\\\1", text)
    return _TRAILING_UNDERSCORE.sub(r"\\_", text)


def _matchBrace(text: str, start: int) -> int:
    """
    The index of the C{}} closing the C{{} at C{start}, or -1.
    """
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _role(role: str, content: str) -> str:
    content = content.replace("`", "\\`")
    return f":{role}:`{content}`"


def _splitTarget(content: str) -> tuple[str, str | None]:
    m = re.match(r"^(.*?)\s*<([^<>]+)>\s*$", content, re.S)
    if m and m.group(1):
        return m.group(1), m.group(2)
    return content, None


def _markup(tag: str, content: str) -> str:
    if tag == "C":
        content = " ".join(content.split("\n"))
        if not content.strip():
            return _escape(content)
        return _role("code", content)
    if tag == "L":
        text, target = _splitTarget(" ".join(content.split()))
        if target is None:
            return _role("py:obj", text)
        return _role("py:obj", f"{text} <{target}>")
    if tag in ("I", "B"):
        inner = convertInline(content).strip()
        if not inner:
            return ""
        mark = "*" if tag == "I" else "**"
        return f"{mark}{inner}{mark}"
    if tag == "U":
        text, target = _splitTarget(" ".join(content.split()))
        if target is None:
            return f"`{text} <{text}>`__"
        return f"`{text} <{target}>`__"
    if tag == "M":
        return _role("math", content)
    if tag == "E":
        return _escape(_ESCAPES.get(content, content))
    return convertInline(content)  # S{}, X{}, G{}: keep the text


def convertInline(text: str) -> str:
    """
    Convert epytext inline markup in C{text} to reST, escaping the rest.
    """
    out: list[str] = []
    i = 0
    plainStart = 0
    while i < len(text):
        if (text[i] in "CLIBUMESXG" and i + 1 < len(text) and text[i + 1] == "{"
                and (i == 0 or not text[i - 1].isalnum())):
            end = _matchBrace(text, i + 1)
            if end > 0:
                out.append(_escape(text[plainStart:i]))
                piece = _markup(text[i], text[i + 2:end])
                # reST wants inline markup set off from surrounding words.
                if piece and i > 0 and not text[i - 1].isspace() \
                        and text[i - 1] not in "([{'\"-/:":
                    piece = "\\ " + piece
                following = text[end + 1:end + 2]
                if piece and following and (following.isalnum() or following in "_{"):
                    piece += "\\ "
                out.append(piece)
                i = end + 1
                plainStart = i
                continue
        i += 1
    out.append(_escape(text[plainStart:]))
    return "".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _joinMarkup(lines: list[str]) -> list[list[str]]:
    """
    Group lines so that inline markup spanning lines is converted whole:
    a group ends where its braces balance.
    """
    groups: list[list[str]] = []
    current: list[str] = []
    depth = 0
    for line in lines:
        current.append(line)
        depth += line.count("{") - line.count("}")
        if depth <= 0:
            groups.append(current)
            current, depth = [], 0
    if current:
        groups.append(current)
    return groups


def _convertText(lines: list[str]) -> list[str]:
    out: list[str] = []
    for group in _joinMarkup(lines):
        if len(group) == 1:
            out.append(convertInline(group[0]))
            continue
        # Convert the group as one string, then split it back into lines
        # (with their indentation) so field bodies stay where they were.
        indents = [line[:_indent(line)] for line in group]
        joined = "\n".join(line.strip() for line in group)
        converted = convertInline(joined).split("\n")
        if len(converted) != len(group):
            out.append(indents[0] + " ".join(c.strip() for c in converted))
            continue
        out.extend(ind + c for ind, c in zip(indents, converted, strict=True))
    return out


def convert(lines: list[str]) -> list[str]:
    """
    Convert an epytext docstring, given as lines, to reST lines.
    """
    out: list[str] = []
    pending: list[str] = []
    prefix: list[str] = []  # the ":role arg:" of the field being collected
    literalIndent: int | None = None

    def flush() -> None:
        converted = _convertText(pending)
        if prefix and converted:
            converted[0] = prefix[0] + converted[0].lstrip()
        elif prefix:
            converted = [prefix[0].rstrip()]
        out.extend(converted)
        pending.clear()
        prefix.clear()

    for line in lines:
        stripped = line.strip()
        if literalIndent is not None:
            if not stripped or _indent(line) > literalIndent:
                out.append(line)
                continue
            literalIndent = None
        if stripped.startswith(">>>"):
            flush()
            out.append(line)
            continue
        field = _FIELD.match(line)
        if field:
            wasField = bool(prefix)
            flush()
            indent, name, argument, rest = field.groups()
            # A field list needs a blank line before it, unless it follows
            # another field.
            if out and out[-1].strip() and not wasField \
                    and not out[-1].lstrip().startswith(":"):
                out.append("")
            role = FIELDS.get(name.lower(), name.lower())
            head = f"{indent}:{role}"
            if argument:
                head += f" {argument.strip()}"
            prefix.append(head + ": ")
            pending.append(rest)
            continue
        if not stripped:
            flush()
            out.append(line)
            continue
        if stripped.endswith("::"):
            pending.append(line)
            flush()
            literalIndent = _indent(line)
            continue
        if prefix and not line[:1].isspace():
            flush()  # an unindented line ends the field body
        pending.append(line)
    flush()
    return out


def processDocstring(app: Any, what: str, name: str, obj: Any, options: Any,
                     lines: list[str]) -> None:
    lines[:] = convert(lines)


def setup(app: Any) -> dict[str, Any]:
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("autodoc-process-docstring", processDocstring)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
