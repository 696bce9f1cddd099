"""``watch`` / ``unwatch``: edit the config file as text, so comments and layout survive.

PyYAML keeps no comments, so instead of dumping a new document we change lines: flip an existing
entry's ``enabled:``, append a new entry after the last watcher, or cut an entry's lines out. The
result is re-validated before it replaces the file (atomically, keeping its mode).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pagerbridge.errors import ConfigError
from pagerbridge.updates.checkers import CHECKERS


def _watcher_nodes(text: str, file: str) -> tuple[yaml.MappingNode | None, yaml.Node | None]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=file) from None
    if root is None:
        return None, None
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError("the document must be a mapping", file=file)
    for key, value in root.value:
        if key.value == "watchers":
            return root, value
    return root, None


def _items(seq: yaml.Node) -> list[tuple[str, yaml.MappingNode]]:
    if not isinstance(seq, yaml.SequenceNode):
        return []
    found = []
    for item in seq.value:
        if isinstance(item, yaml.MappingNode):
            kind = next((v.value for k, v in item.value if k.value == "type"), "")
            found.append((str(kind), item))
    return found


def _render(kind: str, options: Mapping[str, Any] | None, indent: int) -> list[str]:
    pad = " " * indent
    lines = [f"{pad}- type: {kind}\n", f"{pad}  enabled: true\n"]
    if options:
        dumped = yaml.safe_dump({"options": dict(options)}, sort_keys=False)
        lines += [f"{pad}  {line}\n" for line in dumped.splitlines()]
    return lines


def watch(text: str, kind: str, options: Mapping[str, Any] | None = None, *, file: str) -> str:
    """Enable ``kind``: flip ``enabled: false`` to true, or add a new entry."""
    if kind not in CHECKERS:
        raise ConfigError(
            f"unknown watcher type {kind!r} (supported: {', '.join(sorted(CHECKERS))})"
        )
    lines = text.splitlines(keepends=True)
    _, seq = _watcher_nodes(text, file)
    items = _items(seq) if seq is not None else []
    for existing, node in items:
        if existing != kind:
            continue
        for key, value in node.value:
            if key.value == "enabled":
                row = value.start_mark.line
                line = lines[row]
                col = value.start_mark.column
                end = value.end_mark.column
                lines[row] = line[:col] + "true" + line[end:]
                return "".join(lines)
        return text  # no `enabled:` key: enabled by default already
    if seq is not None and items:
        last = items[-1][1]
        indent = max(last.start_mark.column - 2, 0)
        insert_at = _item_end([n for _, n in items], len(items) - 1, lines)
        return "".join(lines[:insert_at] + _render(kind, options, indent) + lines[insert_at:])
    if seq is not None:  # `watchers: []` or empty
        row = seq.start_mark.line
        head = lines[row][: seq.start_mark.column].rstrip() + "\n"
        rest = lines[row][seq.end_mark.column :] if isinstance(seq, yaml.SequenceNode) else ""
        new_block = _render(kind, options, 2)
        return "".join(
            lines[:row] + [head] + new_block + ([rest] if rest.strip() else []) + lines[row + 1 :]
        )
    suffix = "" if not text or text.endswith("\n") else "\n"
    return text + suffix + "watchers:\n" + "".join(_render(kind, options, 2))


def _item_end(nodes: list[yaml.MappingNode], index: int, lines: list[str]) -> int:
    """The line after a sequence item's own content (trailing blanks and comments excluded: they
    usually introduce what follows)."""
    node = nodes[index]
    if index + 1 < len(nodes):
        end = nodes[index + 1].start_mark.line
    else:
        end = node.end_mark.line if node.end_mark.column == 0 else node.end_mark.line + 1
    end = min(end, len(lines))
    while end - 1 > node.start_mark.line and (
        not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")
    ):
        end -= 1
    return end


def unwatch(text: str, kind: str, *, file: str) -> str:
    """Remove every watcher entry of ``kind`` (Update-Watcher's ``unwatch``)."""
    lines = text.splitlines(keepends=True)
    _, seq = _watcher_nodes(text, file)
    nodes = [node for _, node in (_items(seq) if seq is not None else [])]
    kinds = [existing for existing, _ in (_items(seq) if seq is not None else [])]
    doomed = [i for i, existing in enumerate(kinds) if existing == kind]
    if not doomed:
        raise ConfigError(f"no {kind!r} watcher in the configuration", file=file)
    for i in reversed(doomed):
        start = nodes[i].start_mark.line
        del lines[start : _item_end(nodes, i, lines)]
    return "".join(lines)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (same mode; 0600 for a new file: configs hold secrets)."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".update-watcher-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
