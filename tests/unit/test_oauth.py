"""OAuth: scoped app tokens (cache, renewal, errors), PKCE, user tokens, over loopback HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from pagerbridge.errors import OAuthError, TransportError
from pagerbridge.pagerduty.oauth import (
    TOKEN_URL,
    ClientCredentials,
    OAuthToken,
    UserToken,
    account_scope,
    authorization_url,
    code_challenge,
    code_from_redirect,
    exchange_code,
    generate_pkce,
    refresh,
)
from pagerbridge.pagerduty.rest import RestClient
from servers.rest_recorder import RestRecorder


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def test_pkce_matches_rfc7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_generated_pkce_is_long_random_and_consistent() -> None:
    a, b = generate_pkce(), generate_pkce()
    assert len(a.verifier) == 128 and a.verifier != b.verifier
    assert a.challenge == code_challenge(a.verifier) and a.method == "S256"
    assert "=" not in a.challenge and a.verifier not in repr(a)


@pytest.mark.parametrize("verifier", ["short", "x" * 129, "has spaces" * 5])
def test_bad_verifiers_are_refused(verifier: str) -> None:
    with pytest.raises(ValueError, match="43-128 characters"):
        code_challenge(verifier)


def test_authorization_url_carries_the_documented_parameters() -> None:
    url = authorization_url(
        "cid", "https://app.example.com/cb", ["incidents.read", "services.read"],
        code_challenge="CH", state="ST",
    )  # fmt: skip
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://identity.pagerduty.com/oauth/authorize"
    )
    assert {k: v[0] for k, v in parse_qs(parts.query).items()} == {
        "client_id": "cid",
        "redirect_uri": "https://app.example.com/cb",
        "response_type": "code",
        "scope": "incidents.read services.read",
        "code_challenge": "CH",
        "code_challenge_method": "S256",
        "state": "ST",
    }


def test_code_from_redirect() -> None:
    assert code_from_redirect("https://a/cb?code=abc&state=s1", state="s1") == "abc"
    with pytest.raises(OAuthError, match="access_denied: The resource owner"):
        code_from_redirect(
            "https://a/cb?error=access_denied&error_description=The+resource+owner+denied"
        )
    with pytest.raises(OAuthError, match="invalid_state"):
        code_from_redirect("https://a/cb?code=abc&state=evil", state="s1")
    with pytest.raises(OAuthError, match="no authorization code"):
        code_from_redirect("https://a/cb")


def test_account_scope_and_bad_inputs() -> None:
    assert account_scope("eu", "acme") == "as_account-eu.acme"
    with pytest.raises(ValueError, match="region 'apac'"):
        account_scope("apac", "acme")
    with pytest.raises(ValueError, match=r"subdomain 'acme\.pagerduty\.com'"):
        account_scope("us", "acme.pagerduty.com")
    with pytest.raises(ValueError, match="leave as_account- out"):
        ClientCredentials("c", "s", ["as_account-us.x"], subdomain="acme")


async def test_client_credentials_posts_the_documented_form() -> None:
    async with RestRecorder() as rec:
        cc = ClientCredentials(
            "client-1",
            "s3cret",
            ["incidents.read", "services.read"],
            region="us",
            subdomain="companysubdomain",
            token_url=rec.url + "/oauth/token",
        )
        token = await cc.token()
    sent = rec.last
    assert (sent.method, sent.path) == ("POST", "/oauth/token")
    assert sent.header("Content-Type") == "application/x-www-form-urlencoded"
    assert sent.form == {
        "grant_type": "client_credentials",
        "client_id": "client-1",
        "client_secret": "s3cret",
        "scope": "as_account-us.companysubdomain incidents.read services.read",
    }
    assert token.access_token == "token-1" and "token-1" not in repr(token)
    assert "s3cret" not in repr(cc)


async def test_app_token_is_cached_and_renewed_before_expiry() -> None:
    clock = Clock()
    async with RestRecorder(token_lifetime=86_400) as rec:
        cc = ClientCredentials(
            "c", "s", "incidents.read", subdomain="acme",
            token_url=rec.url + "/oauth/token", clock=clock,
        )  # fmt: skip
        assert await cc.access_token() == "token-1"
        clock.advance(hours=23, minutes=54)  # 6 minutes left: still good
        assert await cc.access_token() == "token-1"
        clock.advance(minutes=2)  # 4 minutes left: inside the 5-minute margin
        assert await cc.access_token() == "token-2"
    assert rec.tokens_issued == 2 and cc.fetches == 2


async def test_concurrent_callers_share_one_fetch() -> None:
    async with RestRecorder() as rec:
        cc = ClientCredentials("c", "s", ["incidents.read"], subdomain="acme",
                               token_url=rec.url + "/oauth/token")  # fmt: skip
        tokens = await asyncio.gather(*(cc.access_token() for _ in range(20)))
    assert set(tokens) == {"token-1"} and rec.tokens_issued == 1


async def test_short_lived_tokens_renew_halfway() -> None:
    clock = Clock()
    async with RestRecorder(token_lifetime=120) as rec:
        cc = ClientCredentials("c", "s", ["x.read"], subdomain="acme",
                               token_url=rec.url + "/oauth/token", clock=clock)  # fmt: skip
        await cc.access_token()
        clock.advance(seconds=59)
        assert await cc.access_token() == "token-1"
        clock.advance(seconds=2)
        assert await cc.access_token() == "token-2"


async def test_refusal_is_an_oauth_error_with_the_rfc6749_fields() -> None:
    async with RestRecorder() as rec:
        rec.script(
            401, {"error": "invalid_client", "error_description": "Client authentication failed"}
        )
        cc = ClientCredentials("c", "wrong", ["x.read"], subdomain="acme",
                               token_url=rec.url + "/oauth/token")  # fmt: skip
        with pytest.raises(OAuthError) as info:
            await cc.token()
    err = info.value
    assert (err.error, err.description, err.status) == (
        "invalid_client", "Client authentication failed", 401,
    )  # fmt: skip
    assert "wrong" not in str(err)


async def test_silently_reduced_scopes_are_reported() -> None:
    async with RestRecorder() as rec:
        rec.script(200, {"access_token": "t", "token_type": "bearer", "expires_in": 60,
                         "scope": "as_account-us.acme openid"})  # fmt: skip
        cc = ClientCredentials("c", "s", ["incidents.write"], subdomain="acme",
                               token_url=rec.url + "/oauth/token")  # fmt: skip
        with pytest.raises(OAuthError, match=r"did not grant incidents\.write"):
            await cc.token()


async def test_unreachable_token_endpoint_is_a_transport_error() -> None:
    async with RestRecorder() as rec:
        url = rec.url + "/oauth/token"
    cc = ClientCredentials("c", "s", ["x.read"], subdomain="acme", token_url=url)
    with pytest.raises(TransportError, match=r"POST http://127\.0\.0\.1"):
        await cc.token()


async def test_client_credentials_drive_a_rest_client_and_renew_after_401() -> None:
    async with RestRecorder() as rec:
        cc = ClientCredentials("c", "s", ["abilities.read"], subdomain="acme",
                               token_url=rec.url + "/oauth/token")  # fmt: skip
        async with RestClient(oauth_token=cc, base_url=rec.url) as client:
            await client.list_abilities()
            rec.script(401, {"error": {"message": "token expired", "code": 2006}})
            await client.list_abilities()
    api = [r for r in rec.requests if r.path == "/abilities"]
    assert [r.header("Authorization") for r in api] == [
        "Bearer token-1", "Bearer token-1", "Bearer token-2",
    ]  # fmt: skip


async def test_exchange_code_and_refresh_send_the_documented_forms() -> None:
    pkce = generate_pkce()
    async with RestRecorder() as rec:
        token = await exchange_code(
            client_id="c", code="CODE", redirect_uri="https://app/cb",
            code_verifier=pkce.verifier, client_secret="s", token_url=rec.url + "/oauth/token",
        )  # fmt: skip
        assert rec.last.form == {
            "grant_type": "authorization_code", "client_id": "c", "code": "CODE",
            "redirect_uri": "https://app/cb", "code_verifier": pkce.verifier, "client_secret": "s",
        }  # fmt: skip
        assert token.refresh_token == "refresh-1"
        renewed = await refresh(client_id="c", client_secret="s", refresh_token="refresh-1",
                                token_url=rec.url + "/oauth/token")  # fmt: skip
        assert rec.last.form == {
            "grant_type": "refresh_token", "client_id": "c", "client_secret": "s",
            "refresh_token": "refresh-1",
        }  # fmt: skip
    assert renewed.access_token == "token-2" and renewed.refresh_token == "refresh-2"


def test_default_token_url_is_pagerduty_identity() -> None:
    assert TOKEN_URL == "https://identity.pagerduty.com/oauth/token"


async def test_user_token_refreshes_when_near_expiry_and_reports_it() -> None:
    clock = Clock()
    saved: list[OAuthToken] = []

    async def save(token: OAuthToken) -> None:
        saved.append(token)

    first = OAuthToken("old-access", scope="write", refresh_token="refresh-0",
                       expires_at=clock.now + timedelta(days=30))  # fmt: skip
    async with RestRecorder() as rec:
        user = UserToken(first, client_id="c", client_secret="s", on_refresh=save,
                         token_url=rec.url + "/oauth/token", clock=clock)  # fmt: skip
        assert await user.access_token() == "old-access"
        assert rec.requests == []
        clock.advance(days=30)
        assert await user.access_token() == "token-1"
    assert rec.last.form["refresh_token"] == "refresh-0"
    assert [t.refresh_token for t in saved] == ["refresh-1"]


async def test_user_token_without_refresh_token_says_so() -> None:
    clock = Clock()
    expired = OAuthToken("a", expires_at=clock.now - timedelta(seconds=1))
    user = UserToken(expired, client_id="c", client_secret="s", clock=clock)
    with pytest.raises(OAuthError, match="no refresh token"):
        await user.access_token()


async def test_token_fetch_log_leaves_the_secrets_out(caplog: pytest.LogCaptureFixture) -> None:
    async with RestRecorder() as rec:
        cc = ClientCredentials("c", "s3cr3t-value", ["x.read"], subdomain="acme",
                               token_url=rec.url + "/oauth/token")  # fmt: skip
        with caplog.at_level("INFO", logger="pagerbridge.pagerduty.oauth"):
            await cc.token()
    assert "obtained an OAuth token" in caplog.text
    assert "token-1" not in caplog.text and "s3cr3t-value" not in caplog.text
