"""Each credential kind of a connector against a real sandbox over HTTP: API key, OAuth app
(renewal shared by processes, 401), OAuth user (refresh rotation), routing key; the token cache on
SQLite and PostgreSQL; no secret in logs, reprs or errors."""

from __future__ import annotations

import asyncio
import logging
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from test_connector_credentials_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    MovableClock,
    add_connector,
    migrated,
    oauth_config,
    token_store,
)

from pagerbridge.connectors import oauth_store
from pagerbridge.connectors.credentials import (
    ROUTING_KEY_ONLY,
    StoredTokenProvider,
    client_for_name,
    events_target,
    granted_scopes,
    missing_scopes,
    rest_client,
)
from pagerbridge.connectors.key_rotation import reencrypt_all
from pagerbridge.connectors.records import load
from pagerbridge.connectors.secrets import SecretBox, generate_key
from pagerbridge.errors import ConnectorError, OAuthError, SecretKeyError
from pagerbridge.pagerduty.oauth import authorization_url, exchange_code, generate_pkce, refresh
from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox
from pagerbridge.store.engine import make_engine

DAY = 86_400.0


@pytest.fixture(scope="module")
def pd() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def clock(pd: SandboxHandle) -> Iterator[MovableClock]:
    """One clock for our token cache and the sandbox's token lifetimes."""
    store = token_store(pd)
    moving = MovableClock()
    before = store.clock
    store.clock = moving
    yield moving
    store.clock = before


@pytest.fixture(scope="module")
def box() -> SecretBox:
    return SecretBox([generate_key().encode()], source="test key")


def _bearer_status(pd: SandboxHandle, token: str) -> int:
    status, _ = pd.request("GET", "/incidents", headers={"Authorization": f"Bearer {token}"})
    return status


def _stored(engine: Any, connector_id: int, box: SecretBox) -> oauth_store.StoredToken:
    with engine.connect() as conn:
        token = oauth_store.read(conn, connector_id, box)
    assert token is not None
    return token


async def test_api_key_client_calls_pagerduty_and_a_wrong_key_is_named(
    tmp_path: Path, pd: SandboxHandle
) -> None:
    url = f"sqlite:///{tmp_path / 'pb.db'}"
    engine = migrated(url)
    box = SecretBox.from_environment(url, {})  # the key file beside the database
    config = {
        "base_url": pd.url,
        "api_key": pd.token,
        "custom": {"service_id": "PDEMO01", "from_email": pd.user_email},
    }
    record = add_connector(engine, box, "prod-pagerduty", config)
    assert pd.token not in (record.secrets_blob or "")
    async with rest_client(record, engine=engine, box=box) as client:
        body = await client.request("GET", f"/services/{pd.service_id}")
        assert body["service"]["id"] == pd.service_id
        assert client.from_email == pd.user_email
        assert pd.token not in repr(client)
    async with client_for_name("prod-pagerduty", url, {}) as by_name:  # for commands
        assert (await by_name.request("GET", "/services"))["services"]

    other = SecretBox([generate_key().encode()], source="PAGERBRIDGE_SECRET_KEY")
    with pytest.raises(SecretKeyError) as caught:
        rest_client(record, engine=engine, box=other)
    message = str(caught.value)
    assert box.fingerprint in message and other.fingerprint in message
    assert pd.token not in message


async def test_oauth_app_renews_mid_stream_and_after_a_401(
    database_url: str,
    pd: SandboxHandle,
    box: SecretBox,
    clock: MovableClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    engine = migrated(database_url)
    record = add_connector(engine, box, "app", oauth_config(pd.url, "oauth_app"))
    seen: list[str] = []
    async with rest_client(record, engine=engine, box=box, clock=clock) as client:
        await client.request("GET", "/incidents")
        first = _stored(engine, record.id, box)
        assert first.access_token and first.expires_at == pytest.approx(clock() + DAY, abs=2)
        with engine.connect() as conn:  # encrypted at rest
            raw = conn.exec_driver_sql("SELECT access_token FROM connector_tokens").scalar()
        assert first.access_token not in str(raw)

        clock.advance(DAY - 200)  # within 5 minutes of expiry: the next call renews first
        await client.request("GET", "/incidents")
        second = _stored(engine, record.id, box)
        assert second.access_token != first.access_token

        clock.advance(300)  # the first token has now expired in PagerDuty; the second has not
        assert _bearer_status(pd, first.access_token or "") == 401
        await client.request("GET", "/incidents")
        assert _stored(engine, record.id, box).access_token == second.access_token

        token_store(pd).revoke_all()  # PagerDuty forgets the token: a 401 renews it once
        await client.request("GET", "/incidents")
        third = _stored(engine, record.id, box)
        assert third.access_token not in (first.access_token, second.access_token)
        seen = [t.access_token or "" for t in (first, second, third)]
        assert CLIENT_SECRET not in repr(client)
    for secret in [CLIENT_SECRET, *seen]:
        assert secret not in caplog.text


def test_processes_renew_the_shared_token_once(
    database_url: str, pd: SandboxHandle, box: SecretBox, clock: MovableClock
) -> None:
    engine = migrated(database_url)
    record = add_connector(engine, box, "app", oauth_config(pd.url, "oauth_app"))

    def round_of_two() -> list[tuple[str, int]]:
        barrier = threading.Barrier(2)
        results: list[tuple[str, int]] = []

        def process() -> None:  # its own engine and event loop, as another process has
            own = make_engine(database_url)
            provider = StoredTokenProvider(record, engine=own, box=box, clock=clock)

            async def ask() -> str:
                barrier.wait(timeout=10)
                return await provider.access_token()

            try:
                results.append((asyncio.run(ask()), provider.fetches))
            finally:
                own.dispose()

        threads = [threading.Thread(target=process) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert len(results) == 2
        return results

    # a slow token endpoint: both processes surely find the token missing or due before the
    # first renewal commits
    pd.set_faults(latency=0.2, routes=["/oauth/token"])
    try:
        first = round_of_two()  # no token yet
        assert len({token for token, _ in first}) == 1
        assert sum(fetches for _, fetches in first) == 1
        clock.advance(DAY - 60)  # due: both find it due, one renews
        second = round_of_two()
        assert len({token for token, _ in second}) == 1
        assert sum(fetches for _, fetches in second) == 1
        assert second[0][0] != first[0][0]
    finally:
        pd.set_faults()


def _authorization_code(pd: SandboxHandle, redirect_uri: str, challenge: str) -> str:
    """Drive the sandbox's /oauth/authorize (it approves at once) and read the redirect."""
    url = authorization_url(
        CLIENT_ID,
        redirect_uri,
        ["incidents.read", "incidents.write"],
        code_challenge=challenge,
        state="s1",
        authorize_url=f"{pd.url}/oauth/authorize",
    )

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as redirected:
        opener.open(url, timeout=10)
    location = redirected.value.headers["Location"]
    return parse_qs(urlsplit(location).query)["code"][0]


async def test_oauth_user_refresh_rotates_and_the_next_call_uses_the_new_token(
    tmp_path: Path,
    pd: SandboxHandle,
    box: SecretBox,
    clock: MovableClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"sqlite:///{tmp_path / 'pb.db'}"
    engine = migrated(url)
    record = add_connector(engine, box, "me", oauth_config(pd.url, "oauth_user"))
    client_no_grant = rest_client(record, engine=engine, box=box, clock=clock)
    with pytest.raises(ConnectorError, match="im connector authorize me"):
        await client_no_grant.request("GET", "/incidents")
    await client_no_grant.aclose()

    pkce = generate_pkce()
    redirect = "http://127.0.0.1:9/connectors/me/oauth/callback"
    code = _authorization_code(pd, redirect, pkce.challenge)
    granted = await exchange_code(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        code=code,
        redirect_uri=redirect,
        code_verifier=pkce.verifier,
        token_url=f"{pd.url}/oauth/token",
    )
    with engine.begin() as conn:
        oauth_store.write(
            conn,
            record.id,
            box,
            access_token=granted.access_token,
            expires_at=clock() + DAY,
            refresh_token=granted.refresh_token,
            scope=granted.scope,
            now=clock(),
        )

    async with rest_client(record, engine=engine, box=box, clock=clock) as client:
        await client.request("GET", "/incidents")
        assert _stored(engine, record.id, box).access_token == granted.access_token
        clock.advance(DAY - 100)
        await client.request("GET", "/incidents")  # refreshes first
    rotated = _stored(engine, record.id, box)
    assert rotated.access_token != granted.access_token
    assert rotated.refresh_token and rotated.refresh_token != granted.refresh_token

    # another process's very next call uses the refreshed token, without refreshing again
    other = StoredTokenProvider(record, engine=make_engine(url), box=box, clock=clock)
    assert await other.access_token() == rotated.access_token
    assert other.fetches == 0

    # the sandbox enforces rotation: the old refresh token is refused
    with pytest.raises(OAuthError) as refused:
        await refresh(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            refresh_token=granted.refresh_token or "",
            token_url=f"{pd.url}/oauth/token",
        )
    assert refused.value.error == "invalid_grant"
    secrets = [granted.access_token, granted.refresh_token, rotated.refresh_token, CLIENT_SECRET]
    for secret in secrets:
        assert secret and secret not in caplog.text
        assert secret not in repr(other) and secret not in repr(rotated)


async def test_granted_scopes_name_what_is_missing(
    tmp_path: Path, pd: SandboxHandle, box: SecretBox, clock: MovableClock
) -> None:
    engine = migrated(f"sqlite:///{tmp_path / 'pb.db'}")
    config = oauth_config(pd.url, "oauth_app", scopes=["incidents.read", "services.read"])
    record = add_connector(engine, box, "narrow", config)
    granted = await granted_scopes(record, engine=engine, box=box, clock=clock)
    assert granted is not None and "incidents.read" in granted
    wanted = ["incidents.read", "incidents.write", "webhook_subscriptions.read"]
    assert missing_scopes(granted, wanted) == ["incidents.write", "webhook_subscriptions.read"]
    assert missing_scopes(["write"], wanted) == []
    assert missing_scopes(["webhook_subscriptions.write"], ["webhook_subscriptions.read"]) == []

    api = add_connector(
        engine,
        box,
        "key",
        {"api_key": "u+abcdefghijklmnop", "custom": {"service_id": "P1", "from_email": "a@b.co"}},
    )
    assert await granted_scopes(api, engine=engine, box=box) is None


def test_routing_key_connector_has_events_but_no_rest(
    tmp_path: Path, pd: SandboxHandle, box: SecretBox
) -> None:
    engine = migrated(f"sqlite:///{tmp_path / 'pb.db'}")
    config = {"auth_type": "routing_key", "routing_key": pd.routing_key, "base_url": pd.url}
    record = add_connector(engine, box, "events-only", config)
    with pytest.raises(ConnectorError) as caught:
        rest_client(record, engine=engine, box=box)
    assert ROUTING_KEY_ONLY in str(caught.value) and pd.routing_key not in str(caught.value)
    base, key = events_target(record, box)
    assert (base, key) == (pd.url, pd.routing_key)
    status, _ = pd.request(
        "POST",
        "/v2/enqueue",
        {
            "routing_key": key,
            "event_action": "trigger",
            "payload": {"summary": "s", "source": "t", "severity": "error"},
        },
    )
    assert status == 202


def test_rotation_reencrypts_secrets_and_tokens_so_the_old_key_can_go(tmp_path: Path) -> None:
    old_key, new_key = generate_key(), generate_key()
    old = SecretBox.from_environment("postgresql://", {"PAGERBRIDGE_SECRET_KEY": old_key})
    both = SecretBox.from_environment(
        "postgresql://", {"PAGERBRIDGE_SECRET_KEY": f"{new_key},{old_key}"}
    )
    new = SecretBox.from_environment("postgresql://", {"PAGERBRIDGE_SECRET_KEY": new_key})
    engine = migrated(f"sqlite:///{tmp_path / 'pb.db'}")
    record = add_connector(engine, old, "me", oauth_config("http://127.0.0.1:9", "oauth_user"))
    with engine.begin() as conn:
        oauth_store.write(
            conn,
            record.id,
            old,
            access_token="access-1",
            expires_at=None,
            refresh_token="refresh-1",
            scope="read",
            now=0.0,
        )
        assert reencrypt_all(conn, both) == 2
    with engine.connect() as conn:
        token = oauth_store.read(conn, record.id, new)
        fresh = load(conn, "me")
    assert token is not None and (token.access_token, token.refresh_token) == (
        "access-1",
        "refresh-1",
    )
    assert fresh.key_fingerprint == new.fingerprint
    assert new.decrypt(fresh.secrets_blob, fresh.key_fingerprint)["client_secret"] == CLIENT_SECRET
