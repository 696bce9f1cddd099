"""Unit tests of the sandbox's model: on-call rendering, limits, faults, seed, state round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pagerbridge.errors import ConfigError
from pagerbridge.sandbox.limits_faults import Faults, FixedWindow, SlidingWindow
from pagerbridge.sandbox.oncall import first_responders, layer_shift, schedule_shift
from pagerbridge.sandbox.options import FaultSpec, SandboxOptions
from pagerbridge.sandbox.runtime import Runtime
from pagerbridge.sandbox.seed import load_seed
from pagerbridge.sandbox.state import SandboxState


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def layer(users: list[str], start: str = "2024-01-01T00:00:00Z", turn: int = 86400) -> dict:
    return {
        "start": start,
        "rotation_virtual_start": start,
        "rotation_turn_length_seconds": turn,
        "users": [{"user": {"id": u}} for u in users],
    }


def test_layer_rotates_through_users_by_turn() -> None:
    lay = layer(["A", "B", "C"])
    assert layer_shift(lay, at("2024-01-01T12:00:00")).user_id == "A"
    assert layer_shift(lay, at("2024-01-02T00:00:00")).user_id == "B"
    shift = layer_shift(lay, at("2024-01-04T05:00:00"))
    assert shift.user_id == "A"  # wrapped around
    assert shift.start == at("2024-01-04T00:00:00") and shift.end == at("2024-01-05T00:00:00")
    assert layer_shift(lay, at("2023-12-31T23:59:59")) is None  # before the layer starts


def test_layer_end_and_later_layer_wins() -> None:
    base = layer(["A"])
    override = {**layer(["Z"], start="2024-01-02T00:00:00Z"), "end": "2024-01-03T00:00:00Z"}
    schedule = {"schedule_layers": [base, override]}
    assert schedule_shift(schedule, at("2024-01-01T10:00:00")).user_id == "A"
    shift = schedule_shift(schedule, at("2024-01-02T10:00:00"))
    assert shift.user_id == "Z" and shift.end == at("2024-01-03T00:00:00")
    assert schedule_shift(schedule, at("2024-01-03T00:00:00")).user_id == "A"


def test_default_seed_demo_account() -> None:
    state = SandboxState()
    load_seed(state)
    assert state.services["PDEMO01"]["name"] == "Demo Service"
    assert state.integrations["deadbeefdeadbeefdeadbeefdeadbeef"]["service_id"] == "PDEMO01"
    assert state.users["PDEMOU1"]["email"] == "oncall@example.com"
    assert state.tokens["sandbox-token"]["user_id"] is None
    assert first_responders(state, "PDEMOEP", at("2030-06-01T00:00:00")) == ["PDEMOU1"]


def test_seed_routing_key_rules(tmp_path: Path) -> None:
    seed = tmp_path / "s.yaml"
    seed.write_text(
        "escalation_policies: []\nusers: [{id: U, name: n, email: e@x}]\n"
        "services: [{id: S, name: s, escalation_policy: X}]\n"
    )
    with pytest.raises(ConfigError, match="unknown escalation policy 'X'"):
        load_seed(SandboxState(), seed)
    seed.write_text(
        "users: [{id: U, name: n, email: e@x}]\n"
        "escalation_policies: [{id: E, name: e, rules: [{targets: [{user: U}]}]}]\n"
        "services: [{id: S, name: s, escalation_policy: E, integrations: [{routing_key: short}]}]\n"
    )
    with pytest.raises(ConfigError, match="must be 32 characters long") as caught:
        load_seed(SandboxState(), seed)
    assert caught.value.key == "services[0].integrations[0].routing_key"
    with pytest.raises(ConfigError, match="cannot read the seed file"):
        load_seed(SandboxState(), tmp_path / "missing.yaml")


def test_sliding_window_looks_back_sixty_seconds() -> None:
    now = [0.0]
    window = SlidingWindow(2, clock=lambda: now[0])
    assert window.allow("k") and window.allow("k") and not window.allow("k")
    assert window.allow("other")
    now[0] = 59.9
    assert not window.allow("k")
    now[0] = 60.1
    assert window.allow("k")


def test_fixed_window_headers() -> None:
    now = [100.0]
    window = FixedWindow(2, clock=lambda: now[0])
    assert window.take("t") == (
        True,
        {"ratelimit-limit": "2", "ratelimit-remaining": "1", "ratelimit-reset": "60"},
    )
    now[0] = 130.0
    assert window.take("t")[1]["ratelimit-reset"] == "30"
    allowed, headers = window.take("t")
    assert not allowed and headers["ratelimit-remaining"] == "0"
    now[0] = 160.0
    assert window.take("t")[0]


def test_faults_routes_burst_and_outage() -> None:
    now = [0.0]
    faults = Faults(spec=FaultSpec(burst_429=1, routes=("/v2/",)), clock=lambda: now[0])
    assert faults.decide("/incidents") is None
    assert faults.decide("/v2/enqueue") == "429"
    assert faults.decide("/v2/enqueue") is None
    faults.replace_all({"outage_seconds": 5})
    assert faults.decide("/incidents") == "outage"
    assert faults.decide("/_sandbox/events") is None
    now[0] = 5.1
    assert faults.decide("/incidents") is None
    with pytest.raises(ValueError, match="drop_rate"):
        faults.replace_all({"drop_rate": -1})


def test_state_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    runtime = Runtime(SandboxOptions(state_file=path))
    runtime.state.incident_counter = 41
    runtime.state.record_arrival(
        routing_key="r" * 32, dedup_key="d", event_action="trigger", change=False, outcome="x"
    )
    runtime.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    again = Runtime(SandboxOptions(state_file=path))
    assert again.state.incident_counter == 41
    assert again.state.arrivals[0].dedup_key == "d"
    path.write_text("{broken")
    with pytest.raises(ConfigError, match="not valid JSON"):
        Runtime(SandboxOptions(state_file=path))
    path.write_text('{"incidents": [1, 2]}')
    with pytest.raises(ConfigError, match="'incidents' must be a JSON object"):
        Runtime(SandboxOptions(state_file=path))
    path.write_text('{"arrivals": [{"nope": 1}]}')
    with pytest.raises(ConfigError, match="malformed"):
        Runtime(SandboxOptions(state_file=path))
    assert json.loads(json.dumps(again.state.snapshot()))["incident_counter"] == 41


def test_in_maintenance_uses_window_times() -> None:
    state = SandboxState(clock=lambda: at("2024-05-01T12:00:00"))
    load_seed(state)
    state.maintenance_windows["W"] = {
        "id": "W",
        "start_time": "2024-05-01T11:00:00Z",
        "end_time": "2024-05-01T13:00:00Z",
        "services": [{"id": "PDEMO01"}],
    }
    assert state.in_maintenance("PDEMO01")
    assert not state.in_maintenance("PDEMO01", at("2024-05-01T13:00:00"))
    assert not state.in_maintenance("OTHER")
    assert state.now() - timedelta(hours=1) == at("2024-05-01T11:00:00")
