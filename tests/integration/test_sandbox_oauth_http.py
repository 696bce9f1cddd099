"""The sandbox's OAuth endpoints over real loopback HTTP (uvicorn in a thread), driven both by
raw requests and by the wire layer's own OAuth client."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pagerbridge.errors import OAuthError
from pagerbridge.pagerduty.oauth import ClientCredentials
from pagerbridge.pagerduty.oauth_user import (
    authorization_url,
    code_from_redirect,
    exchange_code,
    generate_pkce,
    new_state,
    refresh,
)
from pagerbridge.sandbox.oauth import oauth_routes, validate_bearer
from pagerbridge.sandbox.oauth_store import TokenStore, pkce_challenge

REDIRECT = "http://127.0.0.1:9/callback"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Server:
    url: str
    store: TokenStore
    clock: Clock

    @property
    def token_url(self) -> str:
        return self.url + "/oauth/token"

    @property
    def authorize_url(self) -> str:
        return self.url + "/oauth/authorize"


def _app(store: TokenStore) -> Starlette:
    async def whoami(request: Request) -> Response:
        """What a REST handler does with a bearer token (helper C's auth does the same)."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        principal = validate_bearer(store, token) if scheme.lower() == "bearer" else None
        if principal is None:
            return JSONResponse({"error": {"message": "Unauthorized", "code": 2006}}, 401)
        return JSONResponse(
            {"kind": principal.kind, "user": principal.user_id, "scopes": sorted(principal.scopes)}
        )

    return Starlette(routes=[*oauth_routes(store), Route("/whoami", whoami)])


@pytest.fixture
def server(unused_port: int) -> Iterator[Server]:
    clock = Clock()
    store = TokenStore(clock=clock)
    config = uvicorn.Config(
        _app(store), host="127.0.0.1", port=unused_port, log_level="warning", lifespan="off"
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield Server(f"http://127.0.0.1:{unused_port}", store, clock)
    finally:
        uv.should_exit = True
        thread.join(10)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def whoami(http: aiohttp.ClientSession, server: Server, token: str) -> tuple[int, Any]:
    async with http.get(
        server.url + "/whoami", headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        return resp.status, await resp.json()


async def post_token(
    http: aiohttp.ClientSession, server: Server, form: dict[str, str], **kwargs: Any
) -> tuple[int, Any, aiohttp.ClientResponse]:
    async with http.post(server.token_url, data=form, **kwargs) as resp:
        return resp.status, await resp.json(), resp


async def test_client_credentials_token_works_as_a_bearer_until_it_expires(
    server: Server, http: aiohttp.ClientSession
) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": "sandbox-client",
        "client_secret": "sandbox-secret",
        "scope": "as_account-us.sandbox incidents.read incidents.write services.read",
    }
    status, body, resp = await post_token(http, server, form)
    assert status == 200
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 86_400
    assert body["scope"] == "as_account-us.sandbox incidents.read incidents.write services.read"
    assert resp.headers["Cache-Control"] == "no-store"
    status, me = await whoami(http, server, body["access_token"])
    assert status == 200 and me["kind"] == "app" and "incidents.write" in me["scopes"]
    server.clock.now += 86_400
    status, _ = await whoami(http, server, body["access_token"])
    assert status == 401


async def test_wire_layer_client_credentials_against_the_sandbox(
    server: Server, http: aiohttp.ClientSession
) -> None:
    creds = ClientCredentials(
        "sandbox-client",
        "sandbox-secret",
        ["incidents.read", "services.read"],
        subdomain="sandbox",
        token_url=server.token_url,
        session=http,
    )
    token = await creds.access_token()
    status, me = await whoami(http, server, token)
    assert status == 200 and set(me["scopes"]) >= {"incidents.read", "services.read"}
    wrong = ClientCredentials(
        "sandbox-client", "nope", ["incidents.read"], subdomain="sandbox",
        token_url=server.token_url, session=http,
    )  # fmt: skip
    with pytest.raises(OAuthError) as info:
        await wrong.access_token()
    assert info.value.error == "invalid_client"


async def test_pkce_flow_with_the_wire_layer_client(
    server: Server, http: aiohttp.ClientSession
) -> None:
    pkce, state = generate_pkce(), new_state()
    url = authorization_url(
        "sandbox-client",
        REDIRECT,
        "incidents.read incidents.write",
        code_challenge=pkce.challenge,
        state=state,
        authorize_url=server.authorize_url,
    )
    async with http.get(url, allow_redirects=False) as resp:
        assert resp.status == 302
        location = resp.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    code = code_from_redirect(location, state=state)
    token = await exchange_code(
        client_id="sandbox-client",
        client_secret="sandbox-secret",
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=pkce.verifier,
        token_url=server.token_url,
        session=http,
    )
    status, me = await whoami(http, server, token.access_token)
    assert status == 200 and me == {
        "kind": "user",
        "user": "PDEMOU1",
        "scopes": ["incidents.read", "incidents.write", "openid"],
    }
    assert token.refresh_token
    renewed = await refresh(
        client_id="sandbox-client",
        client_secret="sandbox-secret",
        refresh_token=token.refresh_token,
        token_url=server.token_url,
        session=http,
    )
    assert renewed.access_token != token.access_token
    assert (await whoami(http, server, renewed.access_token))[0] == 200
    with pytest.raises(OAuthError) as info:  # the old refresh token was rotated away
        await refresh(
            client_id="sandbox-client",
            client_secret="sandbox-secret",
            refresh_token=token.refresh_token,
            token_url=server.token_url,
            session=http,
        )
    assert info.value.error == "invalid_grant"


async def _code(http: aiohttp.ClientSession, server: Server, verifier: str) -> str:
    params = {
        "response_type": "code",
        "client_id": "sandbox-client",
        "redirect_uri": REDIRECT,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
    }
    async with http.get(server.authorize_url, params=params, allow_redirects=False) as resp:
        assert resp.status == 302
        return parse_qs(urlsplit(resp.headers["Location"]).query)["code"][0]


async def test_wrong_verifier_and_wrong_secret_are_refused(
    server: Server, http: aiohttp.ClientSession
) -> None:
    code = await _code(http, server, "right-verifier-" * 4)
    form = {
        "grant_type": "authorization_code",
        "client_id": "sandbox-client",
        "client_secret": "sandbox-secret",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": "wrong-verifier-" * 4,
    }
    status, body, _ = await post_token(http, server, form)
    assert status == 400 and body["error"] == "invalid_grant"
    assert "code_verifier" in body["error_description"]
    status, body, resp = await post_token(http, server, {**form, "client_secret": "nope"})
    assert status == 401 and body["error"] == "invalid_client"
    assert "WWW-Authenticate" in resp.headers
    # The code survived both refusals and still works with the right verifier.
    status, body, _ = await post_token(
        http, server, {**form, "code_verifier": "right-verifier-" * 4}
    )
    assert status == 200 and body["refresh_token"] and body["id_token"]


async def test_expired_code_is_refused(server: Server, http: aiohttp.ClientSession) -> None:
    code = await _code(http, server, "v" * 43)
    server.clock.now += 31
    form = {
        "grant_type": "authorization_code",
        "client_id": "sandbox-client",
        "client_secret": "sandbox-secret",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": "v" * 43,
    }
    status, body, _ = await post_token(http, server, form)
    assert status == 400 and body == {
        "error": "invalid_grant",
        "error_description": "authorization code has expired",
    }


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({}, 400, "invalid_request"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, 400, "invalid_request"),
        (
            {"grant_type": "client_credentials", "client_id": "who", "client_secret": "x"},
            401,
            "invalid_client",
        ),
        (
            {
                "grant_type": "client_credentials",
                "client_id": "sandbox-client",
                "client_secret": "sandbox-secret",
                "scope": "incidents.read",
            },
            400,
            "invalid_scope",
        ),
        (
            {
                "grant_type": "refresh_token",
                "client_id": "sandbox-client",
                "client_secret": "sandbox-secret",
            },
            400,
            "invalid_request",
        ),
    ],
)
async def test_token_endpoint_errors_follow_rfc_6749(
    server: Server, http: aiohttp.ClientSession, form: dict[str, str], status: int, error: str
) -> None:
    got_status, body, resp = await post_token(http, server, form)
    assert (got_status, body["error"]) == (status, error)
    assert body["error_description"]
    assert resp.headers["Cache-Control"] == "no-store"


async def test_json_body_and_basic_auth(server: Server, http: aiohttp.ClientSession) -> None:
    async with http.post(server.token_url, json={"grant_type": "client_credentials"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_request"
    status, body, _ = await post_token(
        http,
        server,
        {"grant_type": "client_credentials", "scope": "as_account-us.sandbox incidents.read"},
        headers={
            "Authorization": "Basic " + base64.b64encode(b"sandbox-client:sandbox-secret").decode()
        },
    )
    assert status == 200 and body["scope"] == "as_account-us.sandbox incidents.read"


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge": ""}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
    ],
)
async def test_authorize_redirects_errors_with_state(
    server: Server, http: aiohttp.ClientSession, params: dict[str, str], error: str
) -> None:
    query = {
        "response_type": "code",
        "client_id": "sandbox-client",
        "redirect_uri": REDIRECT,
        "code_challenge": pkce_challenge("x" * 43),
        "code_challenge_method": "S256",
        "state": "abc",
        **params,
    }
    async with http.get(server.authorize_url, params=query, allow_redirects=False) as resp:
        assert resp.status == 302
        got = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert got["error"] == [error] and got["state"] == ["abc"] and "code" not in got


async def test_authorize_without_a_usable_client_answers_itself(
    server: Server, http: aiohttp.ClientSession
) -> None:
    for query in (
        {"client_id": "nobody", "redirect_uri": REDIRECT},
        {"client_id": "sandbox-client", "redirect_uri": "javascript:alert(1)"},
    ):
        async with http.get(server.authorize_url, params=query, allow_redirects=False) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"] == "invalid_request"
