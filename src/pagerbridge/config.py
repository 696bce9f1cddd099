"""Typed configuration from YAML, with ``${VAR}`` / ``${VAR:-default}`` and errors that say where.

Only entry points (the CLI, server start-up) call :func:`load_config`; everything below them
receives the resulting objects. Nothing here reads the environment or a file at import time.

A validation error names the file, the line and the dotted key, e.g.
``/etc/pagerbridge/agent.yaml:12 (delivery.workers): Input should be a valid integer``, and an
unknown key the nearest known one (``did you mean 'workers'?``). Every problem found is reported
at once (:class:`ConfigProblems`), so a file is fixed in one pass, not one restart per mistake.
This module is the one implementation of reading, expanding and validating a configuration file:
the agent (``agent/config.py``) and update-watcher (``updates/config.py``) both use it.
"""

from __future__ import annotations

import difflib
import os
import re
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from pagerbridge.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$\$")

Loc = tuple[str | int, ...]


class ConfigProblems(ConfigError):
    """Several problems in one configuration, each a :class:`ConfigError` with its own file, line
    and key; printed one per line. ``file``/``line``/``key``/``message`` are the first one's, so
    code that reads a single problem keeps working."""

    def __init__(self, problems: Sequence[ConfigError]) -> None:
        self.problems = list(problems)
        first = self.problems[0]
        ConfigError.__init__(self, first.message, file=first.file, line=first.line, key=first.key)

    def __str__(self) -> str:
        files = {p.file for p in self.problems}
        where = f" in {next(iter(files))}" if len(files) == 1 and None not in files else ""
        lines = "\n".join(f"  {p}" for p in self.problems)
        return f"{len(self.problems)} problems{where}:\n{lines}"


def _one_per_key(problems: Iterable[ConfigError]) -> list[ConfigError]:
    """The first problem found at each key: a value whose variable is unset is reported as
    such, not again as the empty or unexpanded value it left behind."""
    seen: set[tuple[str | None, str]] = set()
    out: list[ConfigError] = []
    for problem in problems:
        if problem.key is not None:
            if (problem.file, problem.key) in seen:
                continue
            seen.add((problem.file, problem.key))
        out.append(problem)
    return out


def raise_problems(problems: Sequence[ConfigError]) -> None:
    """Raise what ``problems`` holds: nothing, the one problem itself, or all of them, one per
    key, in the order of the file (problems of the whole file first)."""
    found = _one_per_key(problems)
    if len(found) == 1:
        raise found[0]
    if found:
        raise ConfigProblems(sorted(found, key=lambda p: (p.file or "", p.line or 0)))


@dataclass
class SourceMap:
    """Line numbers (1-based) of every key path in a YAML document."""

    file: str
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, path: Loc) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def as_written(self, path: Loc) -> Loc:
        """``path`` as the user wrote it (a format that moves keys before validation says how)."""
        return path

    def known_beside(self, path: Loc) -> Iterable[str]:
        """Keys valid where the user wrote ``path`` besides its model's own (for suggestions)."""
        return ()


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
    node: yaml.Node,
    path: Loc,
    smap: SourceMap,
    environ: Mapping[str, str],
    problems: list[ConfigError],
) -> Any:
    smap.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _to_python(key_node, path, SourceMap(smap.file), environ, problems)
            child = (*path, str(key))
            smap.lines[child] = key_node.start_mark.line + 1
            result[key] = _to_python(value_node, child, smap, environ, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _to_python(item, (*path, i), smap, environ, problems)
            for i, item in enumerate(node.value)
        ]
    assert isinstance(node, yaml.ScalarNode)
    if node.tag == "tag:yaml.org,2002:str" and "$" in node.value:
        where = ".".join(str(p) for p in path)
        try:
            expanded = expand_env(node.value, environ, where=where)
        except ConfigError as exc:
            problems.append(
                ConfigError(
                    exc.message, file=smap.file, line=node.start_mark.line + 1, key=where or None
                )
            )
            return node.value  # left as written; validation skips a key with a problem
        # A whole-value substitution is re-typed, so `${PORT}` can fill an integer field.
        if node.style is None and node.value.strip().startswith("${"):
            return yaml.safe_load(expanded) if expanded.strip() else expanded
        return expanded
    constructor = yaml.SafeLoader("")
    return constructor.construct_object(node, deep=True)


def load_yaml(
    text: str,
    *,
    file: str = "<config>",
    environ: Mapping[str, str] | None = None,
    problems: list[ConfigError] | None = None,
) -> tuple[Any, SourceMap]:
    """Parse YAML text into plain Python data and a map of each key's line.

    Unset variables are collected into ``problems`` when it is given (so validation can add its
    own), else raised, all of them. Broken YAML is raised at once: nothing after it can be read.
    """
    env = os.environ if environ is None else environ
    found: list[ConfigError] = [] if problems is None else problems
    smap = SourceMap(file)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"not valid YAML: {exc.problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=file) from None
    data = {} if node is None else _to_python(node, (), smap, env, found)
    if problems is None:
        raise_problems(found)
    return data, smap


def read_config_text(path: str | Path) -> str:
    """A configuration file's text; a missing or unreadable file is a ConfigError."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("configuration file not found", file=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read configuration file: {exc}", file=str(p)) from None


def read_config_file(
    path: str | Path,
    environ: Mapping[str, str] | None = None,
    *,
    problems: list[ConfigError] | None = None,
) -> tuple[Any, SourceMap]:
    """Read and parse a YAML file (see :func:`load_yaml` for ``problems``)."""
    text = read_config_text(path)
    return load_yaml(text, file=str(path), environ=environ, problems=problems)


def _members(annotation: Any) -> list[Any]:
    """The types an annotation allows, through ``Annotated`` and unions (``X | None``)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [t for arg in get_args(annotation) for t in _members(arg)]
    return [annotation]


def _child(annotation: Any, part: str | int) -> list[Any]:
    """The types found one step (a key or a list index) inside a value of ``annotation``."""
    found: list[Any] = []
    for member in _members(annotation):
        origin = get_origin(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            for name, info in member.model_fields.items():
                if part in (name, info.alias):
                    found.append(info.annotation)
        elif isinstance(part, int) and origin in (list, tuple, set, frozenset):
            found.append(get_args(member)[0])
        elif isinstance(part, str) and origin is dict:
            found.append(get_args(member)[1])
    return found


def known_keys(model: type[BaseModel], path: Loc) -> list[str]:
    """The keys a mapping at ``path`` inside ``model`` may have (as written: aliases)."""
    annotations: list[Any] = [model]
    for part in path:
        annotations = [child for a in annotations for child in _child(a, part)]
    return sorted(
        {
            info.alias or name
            for a in annotations
            for m in _members(a)
            if isinstance(m, type) and issubclass(m, BaseModel)
            for name, info in m.model_fields.items()
        }
    )


def unknown_key(key: str, known: Iterable[str]) -> str:
    """The message for an unknown ``key``: the nearest known key, else the known ones."""
    candidates = sorted(set(known))
    nearest = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if nearest:
        return f"unknown key {key!r}; did you mean {nearest[0]!r}?"
    if candidates:
        return f"unknown key {key!r} (known here: {', '.join(candidates)})"
    return f"unknown key {key!r}"


def _message(err: Any, model: type[BaseModel], smap: SourceMap, where: Loc) -> str:
    if err["type"] == "extra_forbidden" and where and isinstance(where[-1], str):
        loc = tuple(p for p in err["loc"] if isinstance(p, str | int))
        known = [*known_keys(model, loc[:-1]), *smap.known_beside(where)]
        return unknown_key(where[-1], known)
    if err["type"] == "value_error" and "error" in err.get("ctx", {}):
        return str(err["ctx"]["error"])  # the validator's own words, without "Value error, "
    return str(err["msg"])


def collect(
    model: type[M],
    data: Any,
    smap: SourceMap,
    problems: list[ConfigError],
    *,
    prefix: Loc = (),
) -> M | None:
    """Validate ``data`` (found at ``prefix`` in the file) as ``model``; every error becomes a
    ConfigError with its line and key, appended to ``problems`` (None returned)."""
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        for err in exc.errors():
            loc = prefix + tuple(p for p in err["loc"] if isinstance(p, str | int))
            written = smap.as_written(loc)
            key = ".".join(str(p) for p in written) or None
            problems.append(
                ConfigError(
                    _message(err, model, smap, written),
                    file=smap.file,
                    line=smap.line_of(loc),
                    key=key,
                )
            )
        return None


def validate(model: type[M], data: Any, smap: SourceMap, *, prefix: Loc = ()) -> M:
    """Validate parsed data against ``model``; every error is reported, each with its line."""
    problems: list[ConfigError] = []
    result = collect(model, data, smap, problems, prefix=prefix)
    raise_problems(problems)
    assert result is not None
    return result


def load_config(model: type[M], path: str | Path, environ: Mapping[str, str] | None = None) -> M:
    """Read ``path`` as YAML, expand environment variables and validate it as ``model``; every
    problem (unset variables and invalid values alike) is reported at once."""
    problems: list[ConfigError] = []
    data, smap = read_config_file(path, environ, problems=problems)
    result = collect(model, data, smap, problems)
    raise_problems(problems)
    assert result is not None
    return result
