"""connectors.service on SQLite and PostgreSQL: add, update, configure, map, activity, remove.

The functions never commit: each test opens the transaction, as the CLI does. No PagerDuty here
(the CLI tests run the checks against the sandbox).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pagerbridge.connectors import records, service
from pagerbridge.connectors.models import connector_activity_table, connectors_table
from pagerbridge.connectors.secrets import SecretBox, generate_key
from pagerbridge.connectors.settings import parse_config
from pagerbridge.errors import ConfigError, ConnectorExistsError, ConnectorNotFoundError
from pagerbridge.incidents.errors import InvalidInputError
from pagerbridge.outbox.tables import enqueue_in_transaction, outbox_table
from pagerbridge.store.engine import make_engine
from pagerbridge.store.migrate import upgrade

CONFIG = {
    "base_url": "https://api.pagerduty.com",
    "api_key": "u+abcdefghijklmnopqrstyz",
    "sync_direction": "bidirectional",
    "custom": {"service_id": "PXXXXXX", "from_email": "ops@company.com"},
}


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(database_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def box() -> SecretBox:
    return SecretBox([generate_key().encode()], source="test")


def _add(
    engine: sa.Engine, box: SecretBox, name: str = "prod-pagerduty"
) -> records.ConnectorRecord:
    settings, secrets = parse_config(CONFIG)
    with engine.begin() as conn:
        return service.add(conn=conn, name=name, settings=settings, secrets=secrets, box=box)


def test_add_update_configure_map_and_remove(engine: sa.Engine, box: SecretBox) -> None:
    record = _add(engine, box)
    assert record.settings.sync_direction == "bidirectional" and record.status == "active"
    with engine.connect() as conn:
        stored = conn.execute(sa.select(connectors_table.c.secrets)).scalar_one()
    assert "u+ab" not in stored, "the API key is stored encrypted"
    assert box.decrypt(record.secrets_blob, record.key_fingerprint) == {
        "api_key": CONFIG["api_key"]
    }
    with pytest.raises(ConnectorExistsError):
        _add(engine, box)
    with pytest.raises(InvalidInputError, match="connector name"):
        _add(engine, box, name="has space")

    with engine.begin() as conn:
        updated = service.update(
            conn=conn,
            name="prod-pagerduty",
            changes={"base_url": "https://api.eu.pagerduty.com"},
            secret_changes={"api_key": "u+newkeynewkeynewkey"},
            box=box,
        )
    assert updated.settings.base_url == "https://api.eu.pagerduty.com"
    assert box.decrypt(updated.secrets_blob, updated.key_fingerprint)["api_key"].startswith("u+new")

    # Settings alone need no key (a wrong key cannot block config); each bad key is named.
    with engine.begin() as conn:
        configured = service.update(
            conn=conn,
            name="prod-pagerduty",
            changes={"custom.escalation_policy_id": "PDEMOEP", "custom.sla_mapping": {}},
        )
    assert configured.settings.custom.escalation_policy_id == "PDEMOEP"
    with pytest.raises(ConfigError) as bad, engine.begin() as conn:
        service.update(
            conn=conn,
            name="prod-pagerduty",
            changes={"custom.service_id": "lower", "sync_direction": "sideways"},
        )
    assert "custom.service_id" in str(bad.value) and "sync_direction" in str(bad.value)
    with engine.connect() as conn:
        assert records.load(conn, "prod-pagerduty").settings.custom.service_id == "PXXXXXX"

    with engine.begin() as conn:
        service.map_service(
            conn=conn, name="prod-pagerduty", im_service="api", pd_service_id="PAPI001"
        )
        service.map_escalation(
            conn=conn, name="prod-pagerduty", im_service="api", escalation_policy_id="PAPI_ESC"
        )
        service.map_escalation(
            conn=conn, name="prod-pagerduty", im_service="db", escalation_policy_id="PDBEP01"
        )
        mapped = records.load(conn, "prod-pagerduty")
    assert mapped.pd_service_for("api") == "PAPI001"
    assert mapped.pd_service_for("db") == "PXXXXXX", "no PD service of its own: the default"
    assert mapped.escalation_policy_for("api") == "PAPI_ESC"
    assert mapped.escalation_policy_for("web") == "PDEMOEP"
    with pytest.raises(InvalidInputError), engine.begin() as conn:
        service.map_service(conn=conn, name="prod-pagerduty", im_service="api", pd_service_id="x y")


def test_remove_drops_only_this_connectors_pending_rows(engine: sa.Engine, box: SecretBox) -> None:
    gone = _add(engine, box, "gone")
    kept = _add(engine, box, "kept")
    with engine.begin() as conn:
        for key in (f"pd:{gone.id}:1", f"pd:{gone.id}:2", f"pd:{gone.id}:1"):
            enqueue_in_transaction(conn, "pd_rest", {"connector_id": gone.id}, key)
        enqueue_in_transaction(conn, "pd_rest", {"connector_id": kept.id}, f"pd:{kept.id}:1")
        # pd:1 must not match pd:10..., nor an Events API row
        enqueue_in_transaction(conn, "pd_rest", {}, f"pd:{gone.id}0:1")
        enqueue_in_transaction(conn, "event", {}, f"pd:{gone.id}:1")
        conn.execute(
            sa.insert(connector_activity_table).values(
                connector_id=gone.id, at=time.time(), kind="synced", incident_id=1, message="ok"
            )
        )
    with engine.begin() as conn:
        assert service.pending_rows(conn=conn, connector_id=gone.id) == 3
        removed = service.remove(conn=conn, name="gone")
    assert removed.rows_deleted == 3 and removed.pd_incidents == 0
    with engine.connect() as conn:
        left = sorted(
            (kind, key)
            for kind, key in conn.execute(
                sa.select(outbox_table.c.kind, outbox_table.c.ordering_key)
            )
        )
        assert left == sorted(
            [
                ("pd_rest", f"pd:{kept.id}:1"),
                ("pd_rest", f"pd:{gone.id}0:1"),
                ("event", f"pd:{gone.id}:1"),
            ]
        )
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(connector_activity_table)).scalar()
            == 0
        )
        with pytest.raises(ConnectorNotFoundError, match="known: kept"):
            records.load(conn, "gone")


def test_activity_counts_the_last_day(engine: sa.Engine, box: SecretBox) -> None:
    record = _add(engine, box)
    now = time.time()
    rows = [
        (now - 10, "synced", 1, "created"),
        (now - 20, "synced", 1, "acknowledged"),
        (now - 30, "synced", 2, "created"),
        (now - 2 * 86400, "synced", 3, "old"),
        (now - 5, "error", 2, "HTTP 403: read-only key"),
        (now - 3 * 86400, "error", 3, "old error"),
    ]
    with engine.begin() as conn:
        for at, kind, incident, message in rows:
            conn.execute(
                sa.insert(connector_activity_table).values(
                    connector_id=record.id, at=at, kind=kind, incident_id=incident, message=message
                )
            )
    with engine.connect() as conn:
        seen = service.activity(conn=conn, record=record, now=now)
        last = service.last_sync_times(conn=conn)
    assert (seen.synced, seen.errors) == (2, 1), "distinct incidents synced, errors, in 24h"
    assert seen.last_error == "HTTP 403: read-only key"
    assert seen.last_sync_at == pytest.approx(now - 10) and last[record.id] == pytest.approx(
        now - 10
    )


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('names') / 'pb.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(min_size=0, max_size=120))
def test_any_name_is_refused_or_stored_and_found(
    sqlite_engine: sa.Engine, box: SecretBox, name: str
) -> None:
    """Hostile names: a clear refusal (exit 2), or a connector that later reads back by name."""
    try:
        record = _add(sqlite_engine, box, name)
    except (InvalidInputError, ConnectorExistsError):
        with sqlite_engine.connect() as conn:
            records.load_all(conn)  # whatever was stored before still reads
        return
    with sqlite_engine.begin() as conn:
        assert records.load(conn, name).id == record.id
        service.remove(conn=conn, name=name)
