"""
Command results and how they are printed: virsh-like text for people,
JSON for scripts.

A command returns one of L{Table}, L{Fields} or L{Text}; L{render} turns
it into the text written to stdout. Text output follows virsh's layout
(tables with a dashed rule, C{Label:  value} lines, a blank line after
each command) so that scripts and eyes used to virsh feel at home; JSON
output is one document per command, with typed values (numbers, booleans,
C{null}) instead of display strings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Table", "Fields", "Text", "render", "formatTable", "displayValue"]


def displayValue(value: Any) -> str:
    """
    How a table cell shows a JSON value: C{None} as C{-} (virsh's inactive
    domain id), booleans as C{yes}/C{no}, everything else with C{str}.
    """
    if value is None:
        return "-"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


def formatTable(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """
    Lay out a table as virsh 9.0 does: one leading space, columns three
    spaces apart, no padding after the last column, a dashed rule two
    characters longer than the widest line, and a blank line at the end.

    @param headers: the column titles.
    @param rows: the cells, already formatted as text.
    @return: the table, ending with a blank line.
    """
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        padded = [c.ljust(w) for c, w in zip(cells[:-1], widths, strict=False)]
        return " " + "   ".join([*padded, cells[-1]])

    rule = "-" * (1 + sum(widths) + 3 * (len(widths) - 1) + 2)
    return "\n".join([line(headers), rule, *(line(r) for r in rows), "", ""])


@dataclass
class Table:
    """
    Rows of records.

    @ivar columns: C{(header, key)} pairs: the column title in text output
        and the record key in JSON output.
    @ivar records: one dict per row, keyed by the column keys, with JSON
        values.
    """

    columns: Sequence[tuple[str, str]]
    records: list[dict[str, Any]] = field(default_factory=list)

    def text(self) -> str:
        headers = [h for h, _ in self.columns]
        rows = [[displayValue(r[k]) for _, k in self.columns]
                for r in self.records]
        return formatTable(headers, rows)

    def json(self) -> Any:
        return self.records


@dataclass
class Fields:
    """
    One record shown as C{Label: value} lines (virsh's C{dominfo}).

    @ivar items: C{(label, key, value, shown)}: the text label, the JSON key,
        the JSON value and the text shown for it.
    """

    items: list[tuple[str, str, Any, str]] = field(default_factory=list)

    def add(self, label: str, key: str, value: Any,
            shown: str | None = None) -> None:
        """
        Append a field; C{shown} defaults to L{displayValue}C{(value)}.
        """
        self.items.append(
            (label, key, value, displayValue(value) if shown is None else shown))

    def text(self) -> str:
        # virsh pads "Label:" to 15 columns, then one space.
        lines = [f"{label + ':':<15} {shown}" for label, _, _, shown in self.items]
        return "\n".join([*lines, "", ""])

    def json(self) -> Any:
        return {key: value for _, key, value, _ in self.items}


@dataclass
class Text:
    """
    Free text (a message, an XML document) and its JSON counterpart.

    @ivar value: what text output prints (a newline is added).
    @ivar data: what JSON output prints.
    """

    value: str
    data: Any = None

    def text(self) -> str:
        return self.value.rstrip("\n") + "\n\n"

    def json(self) -> Any:
        return self.value if self.data is None else self.data


def render(result: Table | Fields | Text, asJSON: bool) -> str:
    """
    @param result: what a command returned.
    @param asJSON: print JSON (one document and a newline) instead of text.
    @return: the text to write to stdout.
    """
    if asJSON:
        return json.dumps(result.json(), indent=2, sort_keys=False) + "\n"
    return result.text()
