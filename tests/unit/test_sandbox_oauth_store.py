"""The sandbox's OAuth grant rules, without HTTP: scopes, PKCE, single-use codes, expiry."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from pagerbridge.errors import OAuthError
from pagerbridge.sandbox.oauth_store import (
    OAuthClient,
    Principal,
    TokenStore,
    pkce_challenge,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> TokenStore:
    return TokenStore(clock=clock)


def demo(store: TokenStore) -> OAuthClient:
    return store.authenticate("sandbox-client", "sandbox-secret")


def test_pkce_challenge_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 appendix B
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_client_authentication(store: TokenStore) -> None:
    assert demo(store).client_id == "sandbox-client"
    for client_id, secret in [("sandbox-client", "nope"), ("sandbox-client", None), ("x", "y")]:
        with pytest.raises(OAuthError) as info:
            store.authenticate(client_id, secret)
        assert info.value.error == "invalid_client" and info.value.status == 401


def test_client_credentials_grants_known_scopes_and_expires(
    store: TokenStore, clock: Clock
) -> None:
    grant = store.client_credentials(
        demo(store), "as_account-us.sandbox incidents.read incidents.write bogus.read nonsense"
    )
    assert grant.scope == "as_account-us.sandbox incidents.read incidents.write"
    assert grant.expires_in == 86_400 and grant.refresh_token is None
    principal = store.validate_bearer(grant.access_token)
    assert isinstance(principal, Principal)
    assert principal.kind == "app" and principal.user_id is None
    assert principal.allows("incidents.write") and principal.allows("incidents.read")
    assert not principal.allows("services.read")
    clock.now += 86_399
    assert store.validate_bearer(grant.access_token) is not None
    clock.now += 1
    assert store.validate_bearer(grant.access_token) is None
    assert store.validate_bearer("pdus+_0SANDBX_unknown") is None


def test_write_implies_read_per_resource_and_classic_scopes() -> None:
    p = Principal("user", "c", frozenset({"services.write"}), 0.0)
    assert p.allows("services.read") and not p.allows("incidents.read")
    classic = Principal("user", "c", frozenset({"openid", "read"}), 0.0)
    assert classic.allows("incidents.read") and not classic.allows("incidents.write")
    assert Principal("user", "c", frozenset({"write"}), 0.0).allows("incidents.write")


@pytest.mark.parametrize(
    ("scope", "needle"),
    [
        (None, "must include"),
        ("incidents.read", "must include"),
        ("as_account-eu.other", "unknown"),
    ],
)
def test_client_credentials_needs_this_accounts_scope(
    store: TokenStore, scope: str | None, needle: str
) -> None:
    with pytest.raises(OAuthError, match=needle) as info:
        store.client_credentials(demo(store), scope)
    assert info.value.error == "invalid_scope"


def test_authorization_code_with_pkce(store: TokenStore) -> None:
    client = demo(store)
    verifier = "v" * 64
    code = store.authorize(
        client,
        redirect_uri="http://127.0.0.1/cb",
        scope="incidents.read",
        code_challenge=pkce_challenge(verifier),
    )
    grant = store.exchange_code(
        client, code=code, redirect_uri="http://127.0.0.1/cb", code_verifier=verifier
    )
    assert grant.scope == "incidents.read openid"
    assert grant.refresh_token and grant.id_token
    principal = store.validate_bearer(grant.access_token)
    assert principal is not None and principal.kind == "user" and principal.user_id == "PDEMOU1"
    # The ID token is a JWT signed with the client secret, with PagerDuty's claims.
    head, claims, signature = grant.id_token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    assert payload["user_id"] == "PDEMOU1" and payload["subdomain"] == "sandbox"
    expected = hmac.new(b"sandbox-secret", f"{head}.{claims}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64encode(expected).rstrip(b"=").decode() == signature


def test_code_is_single_use_and_reuse_revokes_its_tokens(store: TokenStore) -> None:
    client = demo(store)
    code = store.authorize(
        client, redirect_uri="http://h/cb", scope=None, code_challenge=pkce_challenge("x" * 50)
    )
    grant = store.exchange_code(
        client, code=code, redirect_uri="http://h/cb", code_verifier="x" * 50
    )
    with pytest.raises(OAuthError, match="already used"):
        store.exchange_code(client, code=code, redirect_uri="http://h/cb", code_verifier="x" * 50)
    assert store.validate_bearer(grant.access_token) is None
    with pytest.raises(OAuthError):
        store.refresh(client, grant.refresh_token or "")


@pytest.mark.parametrize(
    ("redirect", "verifier", "advance", "error", "needle"),
    [
        ("http://h/cb", "wrong" * 10, 0, "invalid_grant", "code_verifier does not match"),
        ("http://h/cb", None, 0, "invalid_request", "code_verifier is required"),
        ("http://h/other", "x" * 50, 0, "invalid_grant", "redirect_uri does not match"),
        ("http://h/cb", "x" * 50, 30, "invalid_grant", "expired"),
    ],
)
def test_code_exchange_refusals(
    store: TokenStore,
    clock: Clock,
    redirect: str,
    verifier: str | None,
    advance: float,
    error: str,
    needle: str,
) -> None:
    client = demo(store)
    code = store.authorize(
        client, redirect_uri="http://h/cb", scope=None, code_challenge=pkce_challenge("x" * 50)
    )
    clock.now += advance
    with pytest.raises(OAuthError, match=needle) as info:
        store.exchange_code(client, code=code, redirect_uri=redirect, code_verifier=verifier)
    assert info.value.error == error and info.value.status == 400


def test_refresh_rotates_and_expires(store: TokenStore, clock: Clock) -> None:
    client = demo(store)
    code = store.authorize(
        client, redirect_uri="http://h/cb", scope="write", code_challenge=pkce_challenge("y" * 50)
    )
    first = store.exchange_code(
        client, code=code, redirect_uri="http://h/cb", code_verifier="y" * 50
    )
    assert first.refresh_token
    second = store.refresh(client, first.refresh_token)
    assert second.access_token != first.access_token and second.scope == first.scope
    with pytest.raises(OAuthError, match="unknown or revoked"):
        store.refresh(client, first.refresh_token)
    assert second.refresh_token
    clock.now += 30 * 86_400
    with pytest.raises(OAuthError, match="expired"):
        store.refresh(client, second.refresh_token)


def test_revoke_all_forgets_tokens(store: TokenStore) -> None:
    grant = store.client_credentials(demo(store), "as_account-us.sandbox")
    store.revoke_all()
    assert store.validate_bearer(grant.access_token) is None
