"""The named-query loader (pagerbridge.outbox.queries) splits sections exactly as the regular
expression it replaced did (it avoids importing re on pd-send's start-up path)."""

from __future__ import annotations

import re

import pytest

from pagerbridge.outbox import queries

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def by_regex(text: str) -> dict[str, str]:
    parts = _NAME.split(text)
    return {
        name: body.strip().rstrip(";") for name, body in zip(parts[1::2], parts[2::2], strict=True)
    }


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_shipped_files_split_as_before(dialect: str) -> None:
    text = queries._read(f"queries_{dialect}.sql")
    expected = by_regex(text)
    assert len(expected) > 10
    got = queries.queries(dialect)
    assert got == expected and list(got) == list(expected)


SAMPLES = [
    "",
    "-- just a comment\nSELECT 1;\n",
    "-- name: a\nSELECT 1;\n-- name: b\n\n  SELECT 2 ;;\n\n",
    "--name:x1\nSELECT 1\n--   name:   y_2   \nSELECT 2;\n",
    "-- name: a b\nSELECT 1;\n-- name: c\nSELECT 3;\n",  # 'a b' is not a name
    "-- name:\nSELECT 0;\n-- name: d\n-- a comment in the body\nSELECT 4;",
    "  -- name: indented\nSELECT 5;\n-- name: e\nSELECT 'x -- name: f';\n",
    "-- named: g\n-- name: h\nSELECT 6;\n-- name: h\nSELECT 7;\n",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_edge_cases_split_as_the_regex_did(text: str) -> None:
    assert queries.parse_queries(text) == by_regex(text)
