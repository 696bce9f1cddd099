"""OAuth against the sandbox's token and authorize endpoints, then the REST API with Bearer."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from pagerbridge.errors import OAuthError
from pagerbridge.pagerduty.oauth import (
    ClientCredentials,
    OAuthToken,
    UserToken,
    authorization_url,
    code_from_redirect,
    exchange_code,
    generate_pkce,
    new_state,
)
from pagerbridge.pagerduty.rest import RestClient

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"
REDIRECT = "http://127.0.0.1:9/callback"


def app_token(sandbox: Any, **kw: Any) -> ClientCredentials:
    options: dict[str, Any] = {"subdomain": "sandbox", "token_url": sandbox.url + "/oauth/token"}
    options.update(kw)
    return ClientCredentials(
        options.pop("client_id", CLIENT_ID),
        options.pop("client_secret", CLIENT_SECRET),
        options.pop("scopes", ["incidents.read", "incidents.write"]),
        **options,
    )


async def test_app_token_lists_incidents_and_writes_a_note(sandbox: Any) -> None:
    cc = app_token(sandbox)
    async with RestClient(
        oauth_token=cc, base_url=sandbox.api_url, from_email=sandbox.user_email
    ) as client:
        incident = await client.create_incident(title="via app token", service_id="PDEMO01")
        listed = [i.id async for i in client.list_incidents()]
        note = await client.create_note(incident.id, "written with a scoped app token")
    assert incident.id in listed
    assert note.content == "written with a scoped app token"
    assert cc.fetches == 1  # cached across the three calls
    token = await cc.token()
    assert token.scopes >= {"as_account-us.sandbox", "incidents.read", "incidents.write"}


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"client_secret": "leaked-s3cret"}, "invalid_client"),
        ({"subdomain": "someone-else"}, "invalid_scope"),
    ],
)
async def test_refusals_are_oauth_errors(sandbox: Any, kw: dict[str, Any], error: str) -> None:
    with pytest.raises(OAuthError) as info:
        await app_token(sandbox, **kw).token()
    assert info.value.error == error
    assert "leaked-s3cret" not in str(info.value)


async def _authorize(sandbox: Any, challenge: str, state: str) -> str:
    url = authorization_url(
        CLIENT_ID,
        REDIRECT,
        ["read", "write"],
        code_challenge=challenge,
        state=state,
        authorize_url=sandbox.url + "/oauth/authorize",
    )
    async with aiohttp.ClientSession() as http, http.get(url, allow_redirects=False) as resp:
        assert resp.status in (302, 303), await resp.text()
        location = resp.headers["Location"]
    assert location.startswith(REDIRECT)
    return code_from_redirect(location, state=state)


async def test_pkce_user_token_acts_as_the_user_and_refreshes(sandbox: Any) -> None:
    pkce, state = generate_pkce(), new_state()
    code = await _authorize(sandbox, pkce.challenge, state)
    token = await exchange_code(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=pkce.verifier,
        token_url=sandbox.url + "/oauth/token",
    )
    assert token.refresh_token
    saved: list[OAuthToken] = []

    async def save(new: OAuthToken) -> None:
        saved.append(new)

    user = UserToken(
        token,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        token_url=sandbox.url + "/oauth/token",
        on_refresh=save,
    )
    async with RestClient(oauth_token=user, base_url=sandbox.api_url) as client:
        me = await client.get_current_user()
        user.invalidate()  # force a refresh, as after a 401
        again = await client.get_current_user()
    assert me.id == again.id == "PDEMOU1"
    assert len(saved) == 1 and saved[0].access_token != token.access_token


async def test_a_wrong_pkce_verifier_is_refused(sandbox: Any) -> None:
    pkce, other = generate_pkce(), generate_pkce()
    code = await _authorize(sandbox, pkce.challenge, "s")
    with pytest.raises(OAuthError) as info:
        await exchange_code(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            code=code,
            redirect_uri=REDIRECT,
            code_verifier=other.verifier,
            token_url=sandbox.url + "/oauth/token",
        )
    assert info.value.error == "invalid_grant"
