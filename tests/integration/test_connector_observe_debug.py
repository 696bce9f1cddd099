"""``PAGERDUTY_DEBUG=true``: the REST client's requests and answers reach the log at debug, and no
token, key or webhook secret is in them (checked against the sandbox, whose subscription create
answers with the signing secret)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from pagerbridge import logs
from pagerbridge.pagerduty.rest import RestClient


@pytest.fixture
def wire() -> Iterator[logging.Logger]:
    logger = logging.getLogger(logs.WIRE_LOGGER)
    try:
        yield logger
    finally:
        logger.setLevel(logging.NOTSET)


def _exchange(sandbox: Any) -> str:
    async def go() -> str:
        async with RestClient(sandbox.token, base_url=sandbox.api_url) as client:
            sub = await client.request(
                "POST",
                "/webhook_subscriptions",
                json={
                    "webhook_subscription": {
                        "type": "webhook_subscription",
                        "delivery_method": {
                            "type": "http_delivery_method",
                            "url": "https://hub.example.com/connectors/x/webhook",
                        },
                        "events": ["incident.acknowledged"],
                        "filter": {"type": "account_reference"},
                    }
                },
            )
            await client.get_page("/incidents", {"statuses[]": ["triggered"]}, limit=1)
            return str(sub["webhook_subscription"]["delivery_method"]["secret"])

    return asyncio.run(go())


def test_pagerduty_debug_logs_the_exchange_without_secrets(
    sandbox: Any,
    wire: logging.Logger,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("PAGERDUTY_DEBUG", "true")
    assert logs.pagerduty_debug() and wire.isEnabledFor(logging.DEBUG)
    secret = _exchange(sandbox)
    lines = [r.getMessage() for r in caplog.records if r.name == logs.WIRE_LOGGER]
    text = "\n".join(lines)
    assert len(lines) == 4, text  # two requests, two answers
    assert f"PagerDuty request: POST {sandbox.api_url}/webhook_subscriptions" in lines[0]
    assert '"Authorization":"Token ***"' in lines[0] and '"url":"https://hub.example.com' in text
    assert "-> 201 in " in lines[1] or "-> 200 in " in lines[1]
    assert "statuses[]=triggered&offset=0&limit=1" in lines[2]
    assert '"secret":"***"' in lines[1]
    assert secret and secret not in text and sandbox.token not in text


def test_without_it_nothing_is_formatted(
    sandbox: Any,
    wire: logging.Logger,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("PAGERDUTY_DEBUG", raising=False)
    assert not logs.pagerduty_debug()
    caplog.set_level(logging.INFO)
    _exchange(sandbox)
    assert not [r for r in caplog.records if r.name == logs.WIRE_LOGGER]
