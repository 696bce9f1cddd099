"""Jinja2 templates for rules, sandboxed and strict: a bad template fails at load, not at 3 a.m.

Every template string in a rule is compiled once, when the configuration loads, in a
:class:`~jinja2.sandbox.SandboxedEnvironment` with :class:`~jinja2.StrictUndefined`:

- a syntax error is a :class:`TemplateProblem` (the settings turn it into a config error with
  file, line and key);
- the names a template reads are known at load (:func:`names_read`), so a name the source can
  never set is refused there too;
- at run time a value that is missing from one message (an optional field, a dict key) raises
  :class:`RenderError`, which the sink counts as a drop with the reason.

A string without ``{{`` or ``{%`` is a constant and is never rendered (the hot path).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.runtime import new_context
from jinja2.sandbox import SandboxedEnvironment

#: Longest rendered value kept (PagerDuty's own limits are smaller for most fields).
RENDER_MAX = 64 * 1024


class TemplateProblem(ValueError):
    """A template that cannot be compiled (syntax); the message says where in the template."""


class RenderError(Exception):
    """A template failed for one message (missing field, a type error in an expression)."""


@functools.cache
def environment() -> SandboxedEnvironment:
    """The one sandboxed environment (built on first use, not at import)."""
    return SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
    )


def render_context(values: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping templates render with: the sandbox's globals, then ``values``."""
    return {**environment().globals, **values}


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def names_read(text: str) -> frozenset[str]:
    """The top-level names ``text`` reads (fields, regex groups); TemplateProblem on bad syntax."""
    if not is_template(text):
        return frozenset()
    try:
        parsed = environment().parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(
            f"template syntax error on its line {exc.lineno}: {exc.message}"
        ) from None
    return frozenset(meta.find_undeclared_variables(parsed))


def _problem(exc: jinja2.TemplateSyntaxError) -> TemplateProblem:
    return TemplateProblem(f"template syntax error on its line {exc.lineno}: {exc.message}")


@dataclass(frozen=True, slots=True)
class Template:
    """One compiled template (or a constant)."""

    text: str
    _compiled: jinja2.Template | None

    def render(self, context: Mapping[str, Any]) -> str:
        """Render with ``context``, which must already hold the environment's globals
        (:func:`render_context`): it is used as is, not copied (Jinja's own ``render`` copies
        the globals into a ChainMap per call, which was most of a rule's cost)."""
        if self._compiled is None:
            return self.text
        compiled = self._compiled
        try:
            # shared: ``context`` is the parent as is; no globals: Jinja would iterate the
            # template's globals ChainMap for every render (they are in ``context`` already).
            parent = context if isinstance(context, dict) else dict(context)
            ctx = new_context(compiled.environment, compiled.name, compiled.blocks, parent, True)
            out = compiled.environment.concat(compiled.root_render_func(ctx))
        except jinja2.UndefinedError as exc:
            raise RenderError(str(exc)) from None
        except jinja2.TemplateError as exc:  # SecurityError and friends
            raise RenderError(f"{type(exc).__name__}: {exc}") from None
        except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
            raise RenderError(f"{type(exc).__name__}: {exc}") from None
        return out[:RENDER_MAX]


def compile_template(text: str) -> Template:
    """Compile ``text``; TemplateProblem on a syntax error."""
    if not is_template(text):
        return Template(text, None)
    try:
        return Template(text, environment().from_string(text))
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(
            f"template syntax error on its line {exc.lineno}: {exc.message}"
        ) from None


__all__ = [
    "RenderError",
    "Template",
    "TemplateProblem",
    "compile_template",
    "environment",
    "is_template",
    "names_read",
    "render_context",
]
