"""pagerbridge.config reports every problem of a file at once, each with file:line and key, and
suggests the nearest known key for an unknown one (the agent's and update-watcher's files both
go through it)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
from pydantic import BaseModel, ConfigDict, Field

from pagerbridge.config import (
    ConfigProblems,
    known_keys,
    load_config,
    load_yaml,
    raise_problems,
    unknown_key,
)
from pagerbridge.errors import ConfigError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Window(Strict):
    from_: str | None = Field(None, alias="from")
    until: str | None = None


class Target(Strict):
    url: str = "http://x"
    timeout: float = 1.0


class Root(Strict):
    name: str = "x"
    workers: int = 1
    target: Target | None = None
    windows: list[Window] = []
    named: dict[str, Annotated[Target, "meta"]] = {}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_known_keys_follow_optionals_lists_dicts_and_aliases() -> None:
    assert known_keys(Root, ()) == ["name", "named", "target", "windows", "workers"]
    assert known_keys(Root, ("target",)) == ["timeout", "url"]
    assert known_keys(Root, ("windows", 3)) == ["from", "until"]
    assert known_keys(Root, ("named", "anything")) == ["timeout", "url"]
    assert known_keys(Root, ("workers",)) == []
    assert known_keys(Root, ("nope", 1)) == []


def test_an_unknown_key_gets_the_nearest_known_one_or_the_list() -> None:
    assert (
        unknown_key("wokers", ["name", "workers"])
        == "unknown key 'wokers'; did you mean 'workers'?"
    )
    assert unknown_key("zzz", ["b", "a"]) == "unknown key 'zzz' (known here: a, b)"
    assert unknown_key("zzz", []) == "unknown key 'zzz'"


def test_nested_typos_and_a_wrong_type_are_all_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "workrs: 2\ntarget:\n  timout: 3\nwindows:\n  - frm: a\nnamed:\n  one: {ulr: x}\n"
        "name: [1]\n",
    )
    with pytest.raises(ConfigProblems) as info:
        load_config(Root, path, environ={})
    found = [(p.line, p.key, p.message) for p in info.value.problems]
    assert found == [
        (1, "workrs", "unknown key 'workrs'; did you mean 'workers'?"),
        (3, "target.timout", "unknown key 'timout'; did you mean 'timeout'?"),
        (5, "windows.0.frm", "unknown key 'frm'; did you mean 'from'?"),
        (7, "named.one.ulr", "unknown key 'ulr'; did you mean 'url'?"),
        (8, "name", "Input should be a valid string"),
    ]
    lines = str(info.value).splitlines()
    assert lines[0] == f"5 problems in {path}:"
    assert all(line.startswith(f"  {path}:") for line in lines[1:])


def test_one_problem_is_raised_as_itself() -> None:
    only = ConfigError("bad", file="f.yaml", line=2, key="k")
    with pytest.raises(ConfigError) as info:
        raise_problems([only])
    assert info.value is only
    raise_problems([])  # nothing to raise


def test_the_first_problem_is_the_exceptions_own_and_each_key_counts_once() -> None:
    problems = [
        ConfigError("second", file="f.yaml", line=9, key="b"),
        ConfigError("first", file="f.yaml", line=3, key="a"),
        ConfigError("again", file="f.yaml", line=3, key="a"),
    ]
    with pytest.raises(ConfigProblems) as info:
        raise_problems(problems)
    assert [p.message for p in info.value.problems] == ["first", "second"]
    assert (info.value.line, info.value.key, info.value.message) == (3, "a", "first")


def test_every_unset_variable_is_named() -> None:
    with pytest.raises(ConfigProblems) as info:
        load_yaml("a: ${ONE_UNSET}\nb:\n  c: x-${TWO_UNSET}\n", file="v.yaml", environ={})
    assert [(p.line, p.key) for p in info.value.problems] == [(1, "a"), (3, "b.c")]
    assert "ONE_UNSET" in str(info.value) and "TWO_UNSET" in str(info.value)
