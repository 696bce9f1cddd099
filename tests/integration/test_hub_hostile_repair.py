"""Rows an older pagerbridge stored with values JSON cannot carry no longer break reads: the
migration 0004_incidents_repair rewrites them, and serialisation serves any that remain.

Used to be: custom_fields {"n": NaN} stored, after which GET /api/v1/incidents and
GET /api/v1/incidents/INC-n answered 500 (``Out of range float values are not JSON compliant``),
even after a restart; an ack on it answered 500 but was stored.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from sqlalchemy.orm import sessionmaker

from pagerbridge.incidents.commands import Commands
from pagerbridge.server.testing import running_hub
from pagerbridge.store import migrate
from pagerbridge.store.engine import make_engine

#: As SQLite stored it: Python's json wrote NaN and Infinity, and kept every escape.
POISON_SQLITE = (
    '{"nan": NaN, "inf": Infinity, "ninf": -Infinity, "nul": "a\\u0000b", "lone": "x\\ud800", '
    '"huge": 123456789012345678901234567890, "k\\u0000ey": 1, "ok": [1, 2.5, "fine"]}'
)
#: What PostgreSQL's json type took (it refuses NaN and Infinity, not the rest).
POISON_POSTGRESQL = (
    '{"big": 1e400, "nul": "a\\u0000b", "lone": "x\\ud800", '
    '"huge": 123456789012345678901234567890, "k\\u0000ey": 1, "ok": [1, 2.5, "fine"]}'
)
REPAIRED_SQLITE = {
    "nan": None,
    "inf": None,
    "ninf": None,
    "nul": "ab",
    "lone": "x\ufffd",
    "huge": "123456789012345678901234567890",
    "key": 1,
    "ok": [1, 2.5, "fine"],
}
REPAIRED_POSTGRESQL = {k: v for k, v in REPAIRED_SQLITE.items() if k not in ("nan", "inf", "ninf")}
REPAIRED_POSTGRESQL["big"] = None


def _strict(raw: bytes | str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} is not JSON")

    return json.loads(raw, parse_constant=refuse)


def _alembic(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrate.MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def _poison(engine: Engine, number: int) -> dict[str, Any]:
    """Overwrite incident ``number`` and its timeline as an older version could have written
    them; returns what reading them should now give."""
    pg = engine.dialect.name == "postgresql"
    json_param = "CAST(:v AS JSON)" if pg else ":v"
    with engine.begin() as conn:
        conn.execute(
            text(f"UPDATE im_incidents SET custom_fields = {json_param} WHERE id = :n"),
            {"v": POISON_POSTGRESQL if pg else POISON_SQLITE, "n": number},
        )
        conn.execute(
            text(f"UPDATE im_timeline SET data = {json_param} WHERE incident_id = :n"),
            {"v": '{"note": "a\\u0000b", "lone": "\\ud83d"}', "n": number},
        )
        if not pg:  # PostgreSQL's text columns never held a NUL character
            conn.execute(
                text("UPDATE im_incidents SET title = :t, description = :t WHERE id = :n"),
                {"t": "bad\x00title", "n": number},
            )
            conn.execute(
                text("UPDATE im_timeline SET body = :t WHERE incident_id = :n"),
                {"t": "a\x00b", "n": number},
            )
    return REPAIRED_POSTGRESQL if pg else REPAIRED_SQLITE


def _declare(engine: Engine, title: str) -> None:
    cmds = Commands(sessionmaker(engine), actor="old-version", origin="local")
    cmds.declare(title=title, severity="SEV-2", custom_fields={"ticket": 1})


def _get(url: str, token: str, path: str, method: str = "GET") -> tuple[int, Any]:
    req = urllib.request.Request(
        url + path, method=method, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, _strict(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, _strict(exc.read())


def _stored_json(engine: Engine, column: str, table: str, key: str, number: int) -> Any:
    with engine.connect() as conn:
        raw = conn.execute(
            text(f"SELECT CAST({column} AS TEXT) FROM {table} WHERE {key} = :n"), {"n": number}
        ).scalar_one()
    return _strict(raw)


def test_migration_repairs_poisoned_rows_and_listing_works(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        command.upgrade(_alembic(engine), "0001_incidents")  # the schema an older version made
        _declare(engine, "poisoned")
        _declare(engine, "clean")
        expected = _poison(engine, 1)

        migrate.upgrade(engine)  # what `pagerbridge db upgrade` (or the hub's start) runs

        assert migrate.current_revisions(engine) == migrate.HEADS  # 0004 ran on the way
        assert _stored_json(engine, "custom_fields", "im_incidents", "id", 1) == expected
        assert _stored_json(engine, "data", "im_timeline", "incident_id", 1) == {
            "note": "ab",
            "lone": "\ufffd",
        }
        assert _stored_json(engine, "custom_fields", "im_incidents", "id", 2) == {"ticket": 1}
        with engine.connect() as conn:
            titles = conn.execute(text("SELECT title FROM im_incidents ORDER BY id")).scalars()
            assert list(titles) == [
                "poisoned" if "postgres" in database_url else "badtitle",
                "clean",
            ]
    finally:
        engine.dispose()

    with running_hub(database_url, sla_interval=None) as hub:
        token = hub.create_token()
        status, page = _get(hub.url, token, "/api/v1/incidents")
        assert status == 200 and [i["id"] for i in page["incidents"]] == ["INC-2", "INC-1"]
        status, shown = _get(hub.url, token, "/api/v1/incidents/INC-1")
        assert status == 200 and shown["incident"]["custom_fields"] == expected
        assert _get(hub.url, token, "/api/v1/incidents/INC-1/ack", "POST")[0] == 200
        assert _get(hub.url, token, "/api/v1/incidents/INC-1/timeline")[0] == 200


def test_rows_the_migration_never_saw_are_still_served(database_url: str) -> None:
    """Serialisation itself is robust: a poisoned row written after the migration (an older
    replica still running) is served with the same repairs, and an ack on it answers 200."""
    with running_hub(database_url, sla_interval=None) as hub:
        token = hub.create_token()
        engine = hub.app.state.engine
        _declare(engine, "later")
        expected = _poison(engine, 1)
        status, page = _get(hub.url, token, "/api/v1/incidents")
        assert status == 200 and page["incidents"][0]["custom_fields"] == expected
        status, shown = _get(hub.url, token, "/api/v1/incidents/INC-1")
        assert status == 200 and shown["incident"]["custom_fields"] == expected
        status, answer = _get(hub.url, token, "/api/v1/incidents/INC-1/ack", "POST")
        acked = answer["incident"]
        assert status == 200 and acked["version"] == 2 and acked["custom_fields"] == expected
        status, timeline = _get(hub.url, token, "/api/v1/incidents/INC-1/timeline")
        assert status == 200 and timeline["entries"][0]["data"] == {"note": "ab", "lone": "\ufffd"}
