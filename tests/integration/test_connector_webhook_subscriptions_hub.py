"""``im connector webhook --test`` and ``--rotate`` through a real hub: PagerDuty (the sandbox)
pings the hub, the hub verifies the signature with the stored secret and records the delivery,
and the command sees it. A rotation keeps both secrets until the new one's first verified
delivery, then deletes the old subscription. ``pagerbridge up`` makes the demo connector's
subscription anew at every start, for the hub's current address.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from integration.test_connector_webhook_subscriptions import (
    NAME,
    Im,
    pd_subscriptions,
    prepare,
    stored,
)
from pagerbridge.agent.testing import free_port, get, pagerbridge_command
from pagerbridge.connectors.demo_webhook import demo_note
from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox
from pagerbridge.server.testing import Hub, running_hub


@pytest.fixture(scope="module")
def pd() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def im(sqlite_url: str, capsys: Any, monkeypatch: pytest.MonkeyPatch, pd: SandboxHandle) -> Im:
    return prepare(sqlite_url, capsys, monkeypatch, pd)


@pytest.fixture
def hub(im: Im) -> Iterator[Hub]:
    """A real hub, idle but for the deliveries the commands cause: its intake must know a
    subscription made a moment ago (it reloads on a signature that matches no cached secret)."""
    with running_hub(im.db) as running:
        yield running


DEMO_AUTH = {"Authorization": "Token token=sandbox-token"}


def ids(pd: SandboxHandle) -> set[str]:
    return {s["id"] for s in pd_subscriptions(pd)}


def test_test_and_rotate_through_a_real_hub(im: Im, pd: SandboxHandle, hub: Hub) -> None:
    im.add(pd)
    first = im.ok("connector", "webhook", NAME, "--enable", "--public-url", hub.url)
    one = first["enabled"]["subscription"]["id"]
    rotated = im.ok("connector", "webhook", NAME, "--rotate")
    two = rotated["rotated"]["new"]["id"]
    assert rotated["rotated"]["retiring"] == [one] and ids(pd) == {one, two}
    assert rotated["webhook"]["state"] == "rotating"
    code, _, err = im("connector", "webhook", NAME, "--rotate")
    assert code == 5 and "a rotation of connector" in err and "under way" in err

    # --test pings the new one; once the hub verified it, the old one is deleted in PagerDuty.
    code, out, err = im("connector", "webhook", NAME, "--test", "--timeout", "10")
    assert code == 0, out + err
    assert "✓ PagerDuty's ping reached the hub and verified in" in out
    assert f"webhook subscription(s) retired and deleted in PagerDuty: {one}" in out
    assert ids(pd) == {two}
    [row] = stored(im.db)
    assert row.first_verified_at is not None and row.last_received_at is not None

    code, out, err = im("connector", "webhook", NAME, "--rotate", "--wait", "--timeout", "10")
    assert code == 0, out + err
    [three] = ids(pd)
    assert three not in (one, two)
    assert f"✓ {three} verified by the hub in" in out
    assert f"webhook subscription(s) retired and deleted in PagerDuty: {two}" in out
    assert [(r.pd_subscription_id, r.state) for r in stored(im.db)] == [(three, "active")]
    assert im.ok("connector", "webhook", NAME)["webhook"]["state"] == "subscribed"


def test_demo_subscription_is_made_anew_for_the_hub(im: Im, pd: SandboxHandle) -> None:
    im.add(pd, "sandbox")  # the demo connector, on a local sandbox, receiving
    orphan = {
        "type": "webhook_subscription",
        "delivery_method": {"url": "http://127.0.0.1:1/connectors/sandbox/webhook"},
        "events": ["incident.triggered"],
        "filter": {"type": "account_reference"},
    }  # left by an earlier database: its secret is lost
    assert pd.rest("POST", "/webhook_subscriptions", {"webhook_subscription": orphan})[0] == 200
    made = []
    for hub_url in ("http://127.0.0.1:7001", "http://127.0.0.1:7002"):  # the hub's port moved
        note = asyncio.run(demo_note(im.db, hub_url))
        [row] = stored(im.db)
        assert note == (
            f"sandbox changes come back: its webhooks reach {hub_url}/connectors/sandbox/webhook"
            f" (subscription {row.pd_subscription_id})"
        )
        assert ids(pd) == {row.pd_subscription_id}
        made.append(row.pd_subscription_id)
    assert made[0] != made[1]
    assert im.ok("connector", "status", "sandbox")["connector"]["settings"]["public_url"] == (
        "http://127.0.0.1:7002"
    )
    pd.set_faults(error_rate=1.0, error_status=500, routes=["/webhook_subscriptions"])
    try:
        note = asyncio.run(demo_note(im.db, "http://127.0.0.1:7003"))
    finally:
        pd.set_faults()
    assert note.startswith("no webhook subscription for the demo connector: ")
    im("connector", "update", "sandbox", "--sync-direction", "outbound")
    note = asyncio.run(demo_note(im.db, "http://127.0.0.1:7004"))
    assert "syncs outbound only" in note


def test_up_subscribes_the_demo_connector_once_the_hub_listens(im: Im) -> None:
    ports = {name: free_port() for name in ("agent", "hub", "sandbox")}
    sandbox_url = f"http://127.0.0.1:{ports['sandbox']}"
    # The demo connector as a user who wants the sandbox's changes back keeps it.
    im.add(None, "sandbox", base_url=sandbox_url)
    proc = subprocess.Popen(
        [
            *(pagerbridge_command(), "up", "--db", im.db),
            *("--listen", f"127.0.0.1:{ports['agent']}"),
            *("--hub-listen", f"127.0.0.1:{ports['hub']}"),
            *("--sandbox-listen", f"127.0.0.1:{ports['sandbox']}"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = _until(proc, "Press Ctrl-C")
        [row] = stored(im.db)
        assert (
            f"note: sandbox changes come back: its webhooks reach http://127.0.0.1:{ports['hub']}"
            f"/connectors/sandbox/webhook (subscription {row.pd_subscription_id})"
        ) in banner, banner
        listed = get(f"{sandbox_url}/webhook_subscriptions", headers=DEMO_AUTH).json()
        assert [s["id"] for s in listed["webhook_subscriptions"]] == [row.pd_subscription_id]
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in out, out


def _until(proc: subprocess.Popen[str], needle: str) -> str:
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if needle in line:
            return "".join(lines)
    raise AssertionError("".join(lines))
