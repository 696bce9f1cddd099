"""The OAuth requests we send equal the ones in PagerDuty's OAuth docs, field for field.

The curl examples in developer-docs (Private Apps: client credentials; OAuth Functionality:
authorization code for confidential and non-confidential clients, refresh) are parsed, and our
client is run with the same placeholder values against a loopback recorder.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from pagerbridge.pagerduty.oauth import (
    ClientCredentials,
    OAuthToken,
    authorization_url,
    exchange_code,
    refresh,
)
from servers.rest_recorder import RestRecorder

DOCS = "developer-docs/docs/app-integration-development"
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)
FORM_ARG = re.compile(r'(?:-d|--data-urlencode)\s+"([^"=]+)=([^"]*)"')


def _blocks(path: Path, lang: str) -> list[str]:
    return [body for kind, body in FENCE.findall(path.read_text()) if kind == lang]


def _token_requests(path: Path) -> list[dict[str, str]]:
    """Each curl POST to the token endpoint in a doc, as its form fields."""
    forms = []
    for block in _blocks(path, "bash"):
        if "/oauth/token" in block:
            assert "application/x-www-form-urlencoded" in block
            forms.append(dict(FORM_ARG.findall(block)))
    return forms


@pytest.fixture(scope="module")
def private_apps(contract_dir: Path) -> Path:
    return contract_dir / DOCS / "02-Private-Apps.md"


@pytest.fixture(scope="module")
def oauth_doc(contract_dir: Path) -> Path:
    return contract_dir / DOCS / "06-OAuth-Functionality.md"


async def test_client_credentials_form_equals_the_documented_one(private_apps: Path) -> None:
    (documented,) = _token_requests(private_apps)
    assert documented["grant_type"] == "client_credentials"
    region, subdomain = documented["scope"].split()[0].removeprefix("as_account-").split(".")
    async with RestRecorder() as rec:
        await ClientCredentials(
            documented["client_id"],
            documented["client_secret"],
            documented["scope"].split()[1:],
            region=region,
            subdomain=subdomain,
            token_url=rec.url + "/oauth/token",
        ).token()
    assert rec.last.header("Content-Type") == "application/x-www-form-urlencoded"
    assert rec.last.form == documented


async def test_authorization_code_forms_equal_the_documented_ones(oauth_doc: Path) -> None:
    forms = [f for f in _token_requests(oauth_doc) if f["grant_type"] == "authorization_code"]
    confidential = next(f for f in forms if "client_secret" in f)
    public = next(f for f in forms if "client_secret" not in f)
    async with RestRecorder() as rec:
        for documented in (confidential, public):
            await exchange_code(
                client_id=documented["client_id"],
                code=documented["code"],
                redirect_uri=documented["redirect_uri"],
                code_verifier=documented["code_verifier"],
                client_secret=documented.get("client_secret"),
                token_url=rec.url + "/oauth/token",
            )
            assert rec.last.form == documented


async def test_refresh_form_equals_the_documented_one(oauth_doc: Path) -> None:
    (documented,) = [f for f in _token_requests(oauth_doc) if f["grant_type"] == "refresh_token"]
    async with RestRecorder() as rec:
        await refresh(
            client_id=documented["client_id"],
            client_secret=documented["client_secret"],
            refresh_token=documented["refresh_token"],
            token_url=rec.url + "/oauth/token",
        )
    assert rec.last.form == documented


def test_authorize_url_has_the_documented_pkce_parameters(oauth_doc: Path) -> None:
    line = next(
        ln
        for ln in oauth_doc.read_text().splitlines()
        if ln.startswith("GET https://identity.pagerduty.com/oauth/authorize?")
        and "code_challenge" in ln
    )
    documented = urlsplit(line.removeprefix("GET "))
    ours = urlsplit(
        authorization_url("{CLIENT_ID}", "{REDIRECT_URI}", "{SCOPE}", code_challenge="{CC}")
    )
    assert (ours.scheme, ours.netloc, ours.path) == (
        documented.scheme,
        documented.netloc,
        documented.path,
    )
    doc_query = parse_qs(documented.query)
    our_query = parse_qs(ours.query)
    assert set(our_query) == set(doc_query)
    assert our_query["response_type"] == doc_query["response_type"] == ["code"]
    assert our_query["code_challenge_method"] == doc_query["code_challenge_method"] == ["S256"]


def _json_examples(path: Path) -> list[dict[str, Any]]:
    return [json.loads(b) for b in _blocks(path, "json") if '"access_token"' in b]


def test_documented_token_responses_parse(private_apps: Path, oauth_doc: Path) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    examples = _json_examples(private_apps) + _json_examples(oauth_doc)
    assert len(examples) >= 3
    for example in examples:
        token = OAuthToken.from_response(example, now=now)
        assert token.access_token == example["access_token"]
        assert token.expires_at == now + timedelta(seconds=example["expires_in"])
        assert token.refresh_token == example.get("refresh_token")
        assert token.scopes == set(example["scope"].split())
