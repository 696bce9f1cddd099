"""The REST client against the sandbox (a real local PagerDuty) over loopback HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from pagerbridge.errors import AuthenticationError, NotFoundError, ServerError
from pagerbridge.pagerduty.rest import RestClient
from pagerbridge.pagerduty.rest_incidents import IncidentUpdate


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client_for(sandbox: Any, **kw: Any) -> RestClient:
    return RestClient(sandbox.token, base_url=sandbox.api_url, from_email=sandbox.user_email, **kw)


async def test_iter_all_lists_every_incident_across_pages(sandbox: Any) -> None:
    async with client_for(sandbox) as client:
        created = [
            (await client.create_incident(title=f"disk {n}", service_id=sandbox.service_id)).id
            for n in range(5)
        ]
        raw = [
            i async for i in client.iter_all("/incidents", {"statuses[]": ["triggered"]}, limit=2)
        ]
        typed = [i async for i in client.list_incidents(statuses=["triggered"])]
    assert sorted(i["id"] for i in raw) == sorted(created)
    assert sorted(i.id for i in typed) == sorted(created)
    assert {i.service.id for i in typed if i.service} == {sandbox.service_id}


async def test_an_event_shows_up_as_an_incident_with_its_dedup_key(sandbox: Any) -> None:
    status, body = sandbox.send_event("trigger", dedup_key="host-42/disk")
    assert status == 202, body
    async with client_for(sandbox) as client:
        found = [i async for i in client.list_incidents(incident_key="host-42/disk")]
    assert [i.incident_key for i in found] == ["host-42/disk"]


async def test_create_acknowledge_note_resolve(sandbox: Any) -> None:
    async with client_for(sandbox) as client:
        incident = await client.create_incident(
            title="Disk full on db1", service_id=sandbox.service_id, urgency="high"
        )
        assert incident.status == "triggered"
        acked = await client.acknowledge_incident(incident.id)
        assert acked.status == "acknowledged"
        note = await client.create_note(incident.id, "cleaning /var/log")
        assert note.content == "cleaning /var/log"
        notes = await client.list_notes(incident.id)
        resolved = await client.resolve_incident(incident.id, resolution="logs rotated")
        fetched = await client.get_incident(incident.id)
        entries = [e.type async for e in client.list_log_entries(incident.id)]
    assert [n.content for n in notes] == ["cleaning /var/log"]
    assert resolved.status == fetched.status == "resolved"
    assert {"acknowledge_log_entry", "annotate_log_entry"} <= set(entries)


async def test_update_title_urgency_and_bulk_resolve(sandbox: Any) -> None:
    async with client_for(sandbox) as client:
        a = await client.create_incident(title="a", service_id=sandbox.service_id)
        b = await client.create_incident(title="b", service_id=sandbox.service_id)
        changed = await client.update_incident(a.id, title="a (renamed)", urgency="low")
        done = await client.update_incidents(
            [IncidentUpdate(a.id, status="resolved"), IncidentUpdate(b.id, status="resolved")]
        )
    assert (changed.title, changed.urgency) == ("a (renamed)", "low")
    assert {(i.id, i.status) for i in done} == {(a.id, "resolved"), (b.id, "resolved")}


async def test_directory_reads(sandbox: Any) -> None:
    async with client_for(sandbox) as client:
        service = await client.get_service(sandbox.service_id)
        oncalls = [o async for o in client.list_oncalls()]
        priorities = await client.list_priorities()
        abilities = await client.list_abilities()
    assert service.name == "Demo Service"
    assert any(o.user and o.user.id == "PDEMOU1" for o in oncalls)
    assert priorities and "teams" in abilities
    assert client.rate_limit is not None and client.rate_limit.limit == 960


async def test_a_429_burst_is_waited_out(sandbox: Any) -> None:
    sleeps = Sleeps()
    sandbox.set_faults(burst_429=2, routes=["/incidents"])
    async with client_for(sandbox, sleep=sleeps) as client:
        found = [i async for i in client.list_incidents()]
    assert found == []
    assert len(sleeps.waits) == 2 and all(w > 0 for w in sleeps.waits)


async def test_errors_from_the_sandbox(sandbox: Any) -> None:
    async with client_for(sandbox) as client:
        with pytest.raises(NotFoundError):
            await client.get_incident("PNOSUCH")
        sandbox.set_faults(error_rate=1.0, error_status=503, routes=["/services"])
        with pytest.raises(ServerError) as info:
            await client.get_service(sandbox.service_id)
        assert info.value.status == 503
    async with RestClient("wrong-token", base_url=sandbox.api_url) as bad:
        with pytest.raises(AuthenticationError):
            await bad.list_abilities()


async def test_https_sandbox_with_its_ca_and_without(tmp_path: Any) -> None:
    from pagerbridge.errors import TransportError
    from pagerbridge.sandbox.testing import running_sandbox

    with running_sandbox(tls=True, ca_out=tmp_path / "ca.pem") as handle:
        assert handle.url.startswith("https://")
        async with RestClient(handle.token, base_url=handle.api_url, ssl=handle.ssl_context()) as c:
            assert "teams" in await c.list_abilities()
        async with RestClient(handle.token, base_url=handle.api_url) as untrusting:
            with pytest.raises(TransportError, match="GET /abilities"):
                await untrusting.list_abilities()
