"""``im connector authorize`` end to end: the command prints PagerDuty's (the sandbox's) authorize
address, the browser (urllib here) follows it to the hub's callback, the hub trades the code for
tokens, the waiting command sees them, and the connector's REST client uses the user token."""

from __future__ import annotations

import io
import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from test_connector_credentials_support import add_connector, migrated, oauth_config
from typer.testing import CliRunner

from pagerbridge.cli import exits
from pagerbridge.cli.im_connector_auth import authorize_command, run_authorize
from pagerbridge.connectors import oauth_grant, oauth_store
from pagerbridge.connectors.credentials import rest_client
from pagerbridge.connectors.secrets import KEY_FILENAME, SECRET_KEY_ENV, SecretBox
from pagerbridge.errors import ConnectorError
from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox
from pagerbridge.server.testing import Hub, running_hub
from servers.waiting import wait_for


@pytest.fixture(scope="module")
def pd() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Hub, str]]:
    monkeypatch.delenv(SECRET_KEY_ENV, raising=False)  # the key file beside the database
    url = f"sqlite:///{tmp_path / 'pb.db'}"
    migrated(url).dispose()
    with running_hub(url, sla_interval=None) as running:
        yield running, url


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class Command:
    """``run_authorize`` in a thread, as a user runs the command while using a browser."""

    def __init__(self, **kwargs: Any) -> None:
        self.out = io.StringIO()
        self.result: dict[str, object] | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, kwargs=kwargs, daemon=True)
        self.thread.start()

    def _run(self, **kwargs: Any) -> None:
        try:
            self.result = run_authorize(out=self.out, environ={}, **kwargs)
        except BaseException as exc:
            self.error = exc

    def address(self) -> str:
        found = wait_for(
            lambda: re.search(r"^  (http\S+)$", self.out.getvalue(), re.M), "the address"
        )
        return str(found.group(1))

    def finish(self) -> None:
        self.thread.join(timeout=15)
        assert not self.thread.is_alive()


async def test_authorize_connects_through_the_hub_and_the_client_uses_the_user_token(
    hub: tuple[Hub, str], pd: SandboxHandle
) -> None:
    running, url = hub
    box = SecretBox.from_environment(url, {})
    assert (Path(url.removeprefix("sqlite:///")).parent / KEY_FILENAME).exists()
    config = oauth_config(pd.url, "oauth_user") | {"public_url": running.url}
    record = add_connector(box=box, engine=migrated(url), name="me", config=config)

    command = Command(name="me", database_url=url, timeout=10)
    address = command.address()
    query = parse_qs(urlsplit(address).query)
    assert query["redirect_uri"] == [f"{running.url}/connectors/me/oauth/callback"]
    assert query["code_challenge_method"] == ["S256"] and query["state"][0]

    # an answer that does not carry this grant's state changes nothing
    status, page = _get(f"{running.url}/connectors/me/oauth/callback?state=forged&code=x")
    assert status == 404 and "state mismatch" in page
    status, page = _get(f"{running.url}/connectors/me/oauth/callback")
    assert status == 422  # no state: not PagerDuty's answer

    status, page = _get(address)  # the sandbox approves and redirects to the hub
    assert status == 200 and "Connected" in page
    command.finish()
    assert command.error is None, command.error
    assert command.result is not None and command.result["status"] == "connected"
    assert "incidents.read" in list(command.result["scopes"])  # type: ignore[arg-type]
    assert "✓ Connected" in command.out.getvalue()

    engine = migrated(url)
    with engine.connect() as conn:
        stored = oauth_store.read(conn, record.id, box)
        assert oauth_store.load_pending(conn, record.id, box) is None
    assert stored is not None and stored.access_token and stored.refresh_token
    async with rest_client(record, engine=engine, box=box) as client:
        body = await client.request("GET", "/incidents")
    assert "incidents" in body
    # the grant is finished: replaying the callback is refused, the tokens stay
    status, page = _get(f"{running.url}/connectors/me/oauth/callback?state=x&code=y")
    assert status == 404 and "no authorization" in page


def test_a_refusal_reaches_the_waiting_command(hub: tuple[Hub, str], pd: SandboxHandle) -> None:
    running, url = hub
    box = SecretBox.from_environment(url, {})
    config = oauth_config(pd.url, "oauth_user") | {"public_url": running.url}
    add_connector(box=box, engine=migrated(url), name="me", config=config)

    command = Command(name="me", database_url=url, timeout=10)
    state = parse_qs(urlsplit(command.address()).query)["state"][0]
    status, page = _get(
        f"{running.url}/connectors/me/oauth/callback?state={state}&error=access_denied"
    )
    assert status == 400 and "access_denied" in page
    command.finish()
    assert isinstance(command.error, ConnectorError)
    assert "access_denied" in str(command.error)

    # the command refuses a connector that is not an OAuth user grant
    add_connector(
        box=box,
        engine=migrated(url),
        name="key",
        config={
            "api_key": "u+abcdefghijklmn",
            "custom": {"service_id": "P1", "from_email": "a@b.co"},
        },
    )
    with pytest.raises(ConnectorError, match="only oauth_user"):
        run_authorize("key", database_url=url, wait=False, out=io.StringIO(), environ={})


def test_the_typer_command_prints_the_address_as_json(tmp_path: Path, pd: SandboxHandle) -> None:
    """What ``im connector authorize`` runs: --no-wait --json, and a user mistake's exit."""
    url = f"sqlite:///{tmp_path / 'pb.db'}"
    engine = migrated(url)
    box = SecretBox.from_environment(url, {})
    config = oauth_config(pd.url, "oauth_user") | {"public_url": "https://hub.example.com"}
    add_connector(engine, box, "me", config)
    app = typer.Typer()
    app.command("authorize")(authorize_command)
    app.command("other")(lambda: None)
    runner = CliRunner()
    done = runner.invoke(app, ["authorize", "me", "--db", url, "--no-wait", "--json"], env={})
    assert done.exit_code == 0, done.output
    body = json.loads(done.stdout)
    assert body["status"] == "pending"
    assert body["redirect_uri"] == "https://hub.example.com/connectors/me/oauth/callback"
    assert body["authorize_url"].startswith(f"{pd.url}/oauth/authorize?")
    missing = runner.invoke(app, ["authorize", "nobody", "--db", url, "--no-wait"], env={})
    assert missing.exit_code == exits.NOT_FOUND
    assert "no connector named 'nobody'" in missing.stderr and "Traceback" not in missing.output


_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=80)


def test_hostile_callbacks_get_a_page_never_a_500_and_change_nothing(
    tmp_path: Path, pd: SandboxHandle
) -> None:
    url = f"sqlite:///{tmp_path / 'pb.db'}"
    engine = migrated(url)
    box = SecretBox.from_environment(url, {})
    config = oauth_config(pd.url, "oauth_user")
    record = add_connector(engine, box, "me", config)
    with engine.begin() as conn:
        started = oauth_grant.start(conn, "me", box, hub_url="http://127.0.0.1:9")

    with running_hub(url, sla_interval=None) as running:

        @settings(max_examples=60, deadline=None)
        @given(
            name=st.one_of(st.just("me"), _TEXT),
            params=st.dictionaries(
                st.sampled_from(["state", "code", "error", "error_description", "x"]), _TEXT
            ),
        )
        def hostile(name: str, params: dict[str, str]) -> None:
            target = f"{running.url}/connectors/{quote(name, safe='')}/oauth/callback"
            status, _ = _get(f"{target}?{urlencode(params)}")
            assert status in (404, 422), (name, params, status)

        hostile()
    with engine.connect() as conn:
        assert oauth_grant.status(conn, "me", box, started.attempt)[0] == "pending"
        assert oauth_store.read(conn, record.id, box) is None
