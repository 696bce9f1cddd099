"""Typed configuration from YAML, with ``${VAR}`` / ``${VAR:-default}`` and errors that say where.

Only entry points (the CLI, server start-up) call :func:`load_config`; everything below them
receives the resulting objects. Nothing here reads the environment or a file at import time.

A validation error names the file, the line and the dotted key, e.g.
``/etc/pagerbridge/agent.yaml:12 (delivery.workers): Input should be a valid integer``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from pagerbridge.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$\$")


@dataclass
class SourceMap:
    """Line numbers (1-based) of every key path in a YAML document."""

    file: str
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)

    def line_of(self, path: tuple[str | int, ...]) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


def expand_env(text: str, environ: Mapping[str, str], *, where: str = "") -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}``; ``$$`` is a literal ``$``.

    An unset variable without a default is an error: silently sending an empty routing key is
    worse than refusing to start.
    """

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        value = environ.get(name)
        if value is None or (value == "" and default is not None and ":-" in match.group(0)):
            if default is not None:
                return default
            raise ConfigError(f"environment variable {name} is not set", key=where or None)
        return value

    return _VAR.sub(substitute, text)


def _to_python(
    node: yaml.Node, path: tuple[str | int, ...], smap: SourceMap, environ: Mapping[str, str]
) -> Any:
    smap.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _to_python(key_node, path, SourceMap(smap.file), environ)
            child = (*path, str(key))
            smap.lines[child] = key_node.start_mark.line + 1
            result[key] = _to_python(value_node, child, smap, environ)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, (*path, i), smap, environ) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    if node.tag == "tag:yaml.org,2002:str" and "$" in node.value:
        where = ".".join(str(p) for p in path)
        try:
            expanded = expand_env(node.value, environ, where=where)
        except ConfigError as exc:
            raise ConfigError(
                exc.message, file=smap.file, line=node.start_mark.line + 1, key=where or None
            ) from None
        # A whole-value substitution is re-typed, so `${PORT}` can fill an integer field.
        if node.style is None and node.value.strip().startswith("${"):
            return yaml.safe_load(expanded) if expanded.strip() else expanded
        return expanded
    constructor = yaml.SafeLoader("")
    return constructor.construct_object(node, deep=True)


def load_yaml(
    text: str, *, file: str = "<config>", environ: Mapping[str, str] | None = None
) -> tuple[Any, SourceMap]:
    """Parse YAML text into plain Python data and a map of each key's line."""
    env = os.environ if environ is None else environ
    smap = SourceMap(file)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"not valid YAML: {exc.problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=file) from None
    if node is None:
        return {}, smap
    return _to_python(node, (), smap, env), smap


def read_config_file(
    path: str | Path, environ: Mapping[str, str] | None = None
) -> tuple[Any, SourceMap]:
    """Read and parse a YAML file; a missing or unreadable file is a ConfigError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("configuration file not found", file=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read configuration file: {exc}", file=str(p)) from None
    return load_yaml(text, file=str(p), environ=environ)


def validate(model: type[M], data: Any, smap: SourceMap) -> M:
    """Validate parsed data against ``model``; the first error becomes a ConfigError with a line."""
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems = []
        first_line: int | None = None
        first_key: str | None = None
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if isinstance(p, str | int))
            key = ".".join(str(p) for p in loc) or None
            line = smap.line_of(loc)
            if first_line is None:
                first_line, first_key = line, key
            at = f"line {line}" if line else "top level"
            problems.append(f"{at} ({key or 'document'}): {err['msg']}")
        message = problems[0].split(": ", 1)[1] if len(problems) == 1 else "; ".join(problems)
        raise ConfigError(message, file=smap.file, line=first_line, key=first_key) from None


def load_config(model: type[M], path: str | Path, environ: Mapping[str, str] | None = None) -> M:
    """Read ``path`` as YAML, expand environment variables and validate it as ``model``."""
    data, smap = read_config_file(path, environ)
    return validate(model, data, smap)
