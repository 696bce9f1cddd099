"""``im``'s two backends, the database (Commands) and a hub (RemoteCommands), offer the same
methods with the same parameters: the IncidentCommands protocol, which mypy checks where the CLI
picks one (cli/im_common.backend). This test is the run-time half: a method added to one backend
and not to the protocol and the other fails here, even where no CLI code calls it yet."""

from __future__ import annotations

import inspect

import pytest

from pagerbridge.cli.im_remote import RemoteCommands
from pagerbridge.incidents.commands import Commands, IncidentCommands


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def shape(signature: inspect.Signature) -> list[tuple[str, object, bool]]:
    """Names, kinds and whether each parameter is optional: what a caller relies on."""
    return [
        (p.name, p.kind, p.default is not inspect.Parameter.empty)
        for p in signature.parameters.values()
    ]


PROTOCOL = public_methods(IncidentCommands)


@pytest.mark.parametrize("backend", [Commands, RemoteCommands])
def test_each_backend_has_exactly_the_protocols_methods(backend: type) -> None:
    methods = public_methods(backend)
    assert set(methods) == set(PROTOCOL)
    for name, signature in PROTOCOL.items():
        assert shape(methods[name]) == shape(signature), name
        assert methods[name].return_annotation == signature.return_annotation, name
