"""The servers' one log format (pagerbridge.logs): the text line, JSON lines, the redaction every
line passes, and setup's choices."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from pagerbridge import logs

ROUTING_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def emit(fmt: str, level: str = "info", *, exc: bool = False) -> str:
    out = io.StringIO()
    logs.setup(level, fmt, stream=out)
    log = logging.getLogger("pagerbridge.test")
    log.debug("hidden unless debugging")
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("it failed for %s", "row 7")
    else:
        log.warning("outbox row %d is a dead letter", 17)
    return out.getvalue()


def test_a_text_line_has_time_level_logger_and_message() -> None:
    (line,) = emit("text").splitlines()
    pattern = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING pagerbridge\.test: "
    assert re.fullmatch(pattern + r"outbox row 17 is a dead letter", line), line


def test_json_is_one_object_per_line_with_the_same_fields() -> None:
    (line,) = emit("json").splitlines()
    record = json.loads(line)
    assert record["level"] == "warning" and record["logger"] == "pagerbridge.test"
    assert record["message"] == "outbox row 17 is a dead letter"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"])


def test_an_exception_stays_on_its_json_line() -> None:
    (line,) = emit("json", exc=True).splitlines()
    record = json.loads(line)
    assert record["level"] == "error" and record["message"] == "it failed for row 7"
    assert "ValueError: boom" in record["exception"]


def test_the_level_filters_and_debug_shows_more() -> None:
    assert "hidden" not in emit("text", "info")
    assert "hidden unless debugging" in emit("text", "debug")
    assert emit("text", "error") == ""


def test_environment_supplies_defaults_and_flags_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(logs.FORMAT_ENV, "json")
    monkeypatch.setenv(logs.LEVEL_ENV, "warning")
    out = io.StringIO()
    logs.setup(stream=out)
    logging.getLogger("x").info("dropped")
    logging.getLogger("x").warning("kept")
    assert json.loads(out.getvalue())["message"] == "kept"
    assert logs.environment() == {logs.LEVEL_ENV: "warning", logs.FORMAT_ENV: "json"}
    logs.setup("info", "text", stream=out)
    assert logs.environment() == {logs.LEVEL_ENV: "info", logs.FORMAT_ENV: "text"}


def test_setup_replaces_earlier_handlers() -> None:
    first, second = io.StringIO(), io.StringIO()
    logs.setup("info", "text", stream=first)
    logs.setup("info", "text", stream=second)
    logging.getLogger("x").warning("once")
    assert first.getvalue() == "" and second.getvalue().count("once") == 1


@pytest.mark.parametrize("bad", [("loud", "text"), ("info", "xml")])
def test_unknown_choices_name_the_valid_ones(bad: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="is not one of"):
        logs.setup(*bad)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("cannot open postgresql://pb:hunter2@db:5432/pb", "hunter2"),
        ("headers {'Authorization': 'Bearer pbt_abcdef123'}", "pbt_abcdef123"),
        ("Authorization: Token token=sandbox-secret", "sandbox-secret"),
        ("X-Pagerbridge-Token: t0k3n-value", "t0k3n-value"),
        (f'body {{"routing_key": "{ROUTING_KEY}", "event_action": "trigger"}}', ROUTING_KEY),
        (f"routing_key={ROUTING_KEY}&x=1", ROUTING_KEY),
        ("dsn host=db password=s3cret user=pb", "s3cret"),
        ("client_secret=abc123xyz", "abc123xyz"),
    ],
)
def test_secrets_are_redacted_in_every_format(text: str, secret: str) -> None:
    assert secret not in logs.redact(text) and "***" in logs.redact(text)
    for fmt in ("text", "json"):
        out = io.StringIO()
        logs.setup("info", fmt, stream=out)
        logging.getLogger("x").warning("%s", text)
        assert secret not in out.getvalue()


def test_redaction_leaves_ordinary_text_alone() -> None:
    text = "outbox row 17 (dedup key db-1/disk) is a dead letter, HTTP 400: Event object is invalid"
    assert logs.redact(text) == text
