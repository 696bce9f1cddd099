"""``im sla status``: each active incident against its SLA (targets, elapsed, breaches).

``im sla show`` gives the targets per severity and ``im show INC-n`` one incident's due times;
this lists every open or mitigated incident at once, on the incident's own clock (from the
declaration or the last reopen). Local database only (``--db``), like ``im connector``; only
Typer loads with this module.
"""

from __future__ import annotations

from typing import Any

import typer

from pagerbridge.cli.im_options import DbOpt, JsonOpt


def status(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Active incidents against their SLA: elapsed time, targets, breaches."""
    from sqlalchemy.orm import Session

    from pagerbridge.cli.im_connector_common import database, emit
    from pagerbridge.incidents import sla

    with database(db) as dbx, Session(dbx.engine) as session:
        rows = sla.standing(session=session)
    emit(as_json, {"incidents": rows}, lambda: _lines(rows))


def _lines(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["no open or mitigated incidents"]
    from pagerbridge.cli.im_connector_common import table

    table(
        ["INCIDENT", "SEVERITY", "STATUS", "ELAPSED", "ACKNOWLEDGE", "RESOLVE"],
        [
            [
                r["incident"],
                r["severity"],
                r["status"],
                r["elapsed"],
                f"{r['ack_state']} ({r['ack']})",
                f"{r['resolve_state']} ({r['resolve']})",
            ]
            for r in rows
        ],
    )
    return []


def register(sla_app: typer.Typer) -> None:
    sla_app.command("status")(status)
