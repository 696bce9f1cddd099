"""Typer's side of the ``im`` option table: parameter types for hand-written commands (im_app,
im_admin) and whole Typer commands for the hot ones, all made from :mod:`im_spec`, so the Typer
app and the lean parser of :mod:`im_fast` read one declaration."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import typer

from pagerbridge.cli.im_spec import DB, JSON, NOTE, REF, REF_ARG, SERVER, TOKEN, HotCommand, Opt


def typer_info(opt: Opt) -> Any:
    """``typer.Option(...)`` (or ``typer.Argument``) as ``opt`` declares it."""
    common: dict[str, Any] = {
        "help": opt.help,
        "metavar": opt.metavar,
        "envvar": opt.envvar,
        "show_default": opt.show_default,
    }
    if opt.positional:
        return typer.Argument(**common)
    return typer.Option(*opt.decls, min=opt.min, max=opt.max, **common)


def python_type(opt: Opt) -> Any:
    """The annotation Typer converts ``opt``'s value to."""
    if opt.kind == "flag":
        return bool
    if opt.kind == "int":
        return int
    if opt.kind == "multi":
        return list[str] | None
    return str if opt.required or isinstance(opt.default, str) else str | None


class TyperCallback:
    """A hot command as Typer sees it: a callable whose signature Typer reads (made from the
    table) and which calls the command's body, as :func:`im_fast.run` does."""

    def __init__(self, command: HotCommand) -> None:
        self.command = command
        self.__doc__ = command.help
        # Typer evaluates the annotations of its callback; this one's are all in the signature.
        self.__annotations__: dict[str, Any] = {}
        self.__signature__ = inspect.Signature(
            [
                inspect.Parameter(
                    opt.name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=inspect.Parameter.empty if opt.required else opt.default,
                    annotation=Annotated[python_type(opt), typer_info(opt)],
                )
                for opt in command.params
            ]
        )

    def __call__(self, **values: Any) -> None:
        for opt in self.command.params:
            if opt.kind == "multi":
                values[opt.name] = list(values[opt.name] or [])
        self.command.run(**values)


def add_hot_command(app: typer.Typer, command: HotCommand) -> None:
    """Register ``command`` on ``app`` under its name, with its help line."""
    app.command(name=command.name, help=command.help)(TyperCallback(command))


DbOpt = Annotated[str | None, typer_info(DB)]
ServerOpt = Annotated[str | None, typer_info(SERVER)]
TokenOpt = Annotated[str | None, typer_info(TOKEN)]
JsonOpt = Annotated[bool, typer_info(JSON)]
RefArg = Annotated[str | None, typer_info(REF_ARG)]
RefOpt = Annotated[str | None, typer_info(REF)]
NoteOpt = Annotated[str | None, typer_info(NOTE)]
