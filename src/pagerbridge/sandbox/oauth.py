"""The sandbox's OAuth endpoints: ``POST /oauth/token`` and ``GET /oauth/authorize``.

They behave like ``identity.pagerduty.com`` as PagerDuty's OAuth docs describe it, so the wire
layer's OAuth client is tested over real HTTP: client credentials with an ``as_account-`` scope,
authorization code with PKCE S256, refresh tokens, and RFC 6749 error bodies. ``/oauth/authorize``
approves at once as the sandbox's demo user, since there is nobody to click "Allow".
The grant rules live in ``oauth_store.TokenStore``; this module only speaks HTTP.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from pagerbridge.errors import OAuthError
from pagerbridge.sandbox.oauth_store import OAuthClient, Principal, TokenStore

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
GRANT_TYPES = ("client_credentials", "authorization_code", "refresh_token")


def error_response(exc: OAuthError, *, basic_auth: bool = False) -> JSONResponse:
    """An RFC 6749 section 5.2 error body with the error's status (400, or 401 for the client)."""
    body = {"error": exc.error}
    if exc.description:
        body["error_description"] = exc.description
    headers = dict(_NO_STORE)
    status = exc.status or 400
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="pagerbridge-sandbox"' if basic_auth else "Basic"
    return JSONResponse(body, status_code=status, headers=headers)


async def _form(request: Request) -> dict[str, str]:
    """The form parameters; RFC 6749 forbids repeating one, and PagerDuty wants a form body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type != FORM_CONTENT_TYPE:
        raise OAuthError(
            "invalid_request", f"the body must be {FORM_CONTENT_TYPE}, not {content_type}", 400
        )
    raw = (await request.body()).decode("utf-8", errors="replace")
    parsed = parse_qs(raw, keep_blank_values=True)
    repeated = sorted(k for k, v in parsed.items() if len(v) > 1)
    if repeated:
        raise OAuthError("invalid_request", f"parameter {repeated[0]!r} is repeated", 400)
    return {k: v[0] for k, v in parsed.items()}


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise OAuthError("invalid_client", "malformed Basic authorization header", 401) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "malformed Basic authorization header", 401)
    return client_id, secret


def _require(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "")
    if not value:
        raise OAuthError("invalid_request", f"missing required parameter {name!r}", 400)
    return value


def _client(request: Request, form: Mapping[str, str], store: TokenStore) -> OAuthClient:
    basic = _basic_credentials(request)
    if basic is not None:
        if "client_secret" in form:
            raise OAuthError(
                "invalid_request", "use either Basic authentication or client_secret, not both", 400
            )
        return store.authenticate(*basic)
    if not form.get("client_id"):
        raise OAuthError("invalid_request", "missing required parameter 'client_id'", 400)
    return store.authenticate(form["client_id"], form.get("client_secret"))


def _token_endpoint(store: TokenStore) -> Route:
    async def token(request: Request) -> Response:
        basic = "authorization" in request.headers
        try:
            form = await _form(request)
            grant_type = _require(form, "grant_type")
            if grant_type not in GRANT_TYPES:
                raise OAuthError(
                    "unsupported_grant_type",
                    f"grant_type {grant_type!r} is not one of {', '.join(GRANT_TYPES)}",
                    400,
                )
            client = _client(request, form, store)
            if grant_type == "client_credentials":
                if not client.confidential:
                    raise OAuthError(
                        "unauthorized_client", "a public client cannot use client_credentials", 400
                    )
                grant = store.client_credentials(client, form.get("scope"))
            elif grant_type == "authorization_code":
                grant = store.exchange_code(
                    client,
                    code=_require(form, "code"),
                    redirect_uri=_require(form, "redirect_uri"),
                    code_verifier=form.get("code_verifier") or None,
                )
            else:
                grant = store.refresh(client, _require(form, "refresh_token"))
        except OAuthError as exc:
            return error_response(exc, basic_auth=basic)
        return JSONResponse(grant.as_json(), headers=_NO_STORE)

    return Route("/oauth/token", token, methods=["POST"], name="oauth_token")


def _with_query(uri: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(uri)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _authorize_endpoint(store: TokenStore) -> Route:
    async def authorize(request: Request) -> Response:
        q = request.query_params
        client = store.client(q.get("client_id", ""))
        redirect_uri = q.get("redirect_uri", "")
        # Without a known client and an acceptable redirect URI there is nowhere safe to
        # send the user back to (RFC 6749 section 4.1.2.1): answer here instead.
        if client is None:
            return error_response(
                OAuthError("invalid_request", "unknown or missing client_id", 400)
            )
        if not redirect_uri or urlsplit(redirect_uri).scheme not in {"http", "https"}:
            return error_response(
                OAuthError("invalid_request", "redirect_uri must be an http(s) URL", 400)
            )
        if client.redirect_uris and redirect_uri not in client.redirect_uris:
            return error_response(
                OAuthError("invalid_request", "redirect_uri is not registered for this client", 400)
            )
        state = {"state": q["state"]} if "state" in q else {}
        problem: tuple[str, str] | None = None
        if q.get("response_type") != "code":
            problem = ("unsupported_response_type", "response_type must be 'code'")
        elif not q.get("code_challenge"):
            problem = ("invalid_request", "code_challenge is required: Scoped OAuth needs PKCE")
        elif q.get("code_challenge_method", "S256") != "S256":
            problem = ("invalid_request", "code_challenge_method must be 'S256'")
        if problem is not None:
            error = {"error": problem[0], "error_description": problem[1], **state}
            return RedirectResponse(_with_query(redirect_uri, error), status_code=302)
        code = store.authorize(
            client,
            redirect_uri=redirect_uri,
            scope=q.get("scope"),
            code_challenge=q["code_challenge"],
        )
        return RedirectResponse(_with_query(redirect_uri, {"code": code, **state}), status_code=302)

    return Route("/oauth/authorize", authorize, methods=["GET"], name="oauth_authorize")


def oauth_routes(store: TokenStore) -> list[Route]:
    """The routes to mount at the sandbox's root: ``/oauth/token`` and ``/oauth/authorize``."""
    return [_token_endpoint(store), _authorize_endpoint(store)]


def validate_bearer(store: TokenStore, token: str) -> Principal | None:
    """The principal behind an ``Authorization: Bearer`` token, or None (unknown or expired)."""
    return store.validate_bearer(token)


__all__ = ["OAuthClient", "Principal", "TokenStore", "oauth_routes", "validate_bearer"]
