"""Parsers for the table shapes package tools print: ``|``-separated, boxed, and column-aligned."""

from __future__ import annotations

import re

_BORDER = re.compile(r"^[\s+\-=|]*$")


def parse_pipe_table(text: str) -> list[dict[str, str]]:
    """Rows of a ``a | b | c`` table (zypper, wp-cli's boxes), keyed by the header's cells.

    Lines before the header, border lines (``---+---``, ``+----+``) and lines with a different
    number of cells are skipped, so tool chatter around the table does no harm. A second table
    with the same header (zypper prints one per section) just adds rows.
    """
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    for raw in text.splitlines():
        if "|" not in raw or _BORDER.match(raw):
            continue
        line = raw.strip()
        if line.startswith("|"):
            line = line[1:]
        if line.endswith("|"):
            line = line[:-1]
        cells = [c.strip() for c in line.split("|")]
        if header is None or (cells == header):
            header = cells
            continue
        if len(cells) != len(header):
            continue
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def parse_aligned_table(text: str, first_header: str) -> list[dict[str, str]]:
    """Rows of a column-aligned table whose header line starts with ``first_header``.

    Column boundaries are the header's word starts; a cell runs from its column's start to the
    next column's start, so values with spaces (flatpak's names) stay whole and empty cells
    (a missing version) come back as ``""``.
    """
    lines = text.splitlines()
    index = next((i for i, line in enumerate(lines) if line.startswith(first_header)), None)
    if index is None:
        return []
    header_line = lines[index]
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", header_line)]
    names = [m.group(0) for m in re.finditer(r"\S+(?: \S+)*", header_line)]
    rows: list[dict[str, str]] = []
    for line in lines[index + 1 :]:
        if not line.strip():
            continue
        row: dict[str, str] = {}
        for i, name in enumerate(names):
            end = starts[i + 1] if i + 1 < len(starts) else None
            row[name] = line[starts[i] : end].strip() if starts[i] < len(line) else ""
        rows.append(row)
    return rows
