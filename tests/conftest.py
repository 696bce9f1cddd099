"""Fixtures shared by every test layer: PagerDuty's contract documents, PostgreSQL, free ports."""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_ENV = "PAGERBRIDGE_PAGERDUTY_API_DIR"
CONTRACT_DEFAULT = ROOT.parent / "shared" / "pagerduty-api"
POSTGRES_ENV = "PAGERBRIDGE_TEST_POSTGRES_URL"
POSTGRES_DEFAULT = "postgresql://127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def contract_dir() -> Path:
    """PagerDuty's API contract: OpenAPI documents, developer docs, webhook examples, test vector.

    Found through $PAGERBRIDGE_PAGERDUTY_API_DIR, default ../shared/pagerduty-api beside the
    project root. Never copied into the project.
    """
    path = Path(os.environ.get(CONTRACT_ENV, CONTRACT_DEFAULT))
    if not (path / "rest-api-v2.openapiv3.json").is_file():
        pytest.skip(
            f"PagerDuty's API contract not found at {path}: set ${CONTRACT_ENV} to a folder with "
            "rest-api-v2.openapiv3.json and events-api-v2.openapiv3.json (from PagerDuty's public "
            "api-schema repository, github.com/PagerDuty/api-schema, reference/), the developer "
            "docs (github.com/PagerDuty/developer-docs) and the webhook examples and test vector"
        )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def unused_port() -> int:
    return free_port()


def _postgres_admin_url() -> str:
    return os.environ.get(POSTGRES_ENV, POSTGRES_DEFAULT)


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The admin URL of the test PostgreSQL server; skips only if it is not configured at all."""
    url = _postgres_admin_url()
    try:
        import psycopg

        with psycopg.connect(
            url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=5
        ):
            pass
    except Exception as exc:  # pragma: no cover - CI starts PostgreSQL; a failure here is loud
        pytest.fail(f"PostgreSQL at {url} is not reachable ({exc}); .ci/run starts it")
    return url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"pbtest_{uuid.uuid4().hex[:12]}"
    base, _, _ = postgres_server_url.rpartition("/")
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'pagerbridge.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pagerbridge.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


# -- sandbox fixtures (helper C, issue 3) --------------------------------------------------------


@pytest.fixture
def sandbox() -> Iterator[object]:
    """A fresh local PagerDuty on a free loopback port (``pagerbridge.sandbox.testing``).

    Yields a ``SandboxHandle``: ``url``, ``events_url``, ``api_url``, ``token``, ``routing_key``,
    ``arrivals()``, ``set_faults(...)``, ``reset()``; ``handle.runtime`` is the live state.
    """
    from pagerbridge.sandbox.testing import running_sandbox

    with running_sandbox() as handle:
        yield handle


class _Receiver(BaseHTTPRequestHandler):
    """Records every POST (path, headers and JSON body) and answers 200."""

    received: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(
            {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
        )
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on a free loopback port: its URL and the list of what it received."""
    received: list[dict[str, Any]] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()
        server.server_close()


# -- connectors ----------------------------------------------------------------------------------


@pytest.fixture
def engine(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A migrated engine on ``database_url`` with a fresh PAGERBRIDGE_SECRET_KEY (connectors)."""
    from pagerbridge.connectors.secrets import generate_key
    from pagerbridge.store.engine import make_engine
    from pagerbridge.store.migrate import upgrade

    monkeypatch.setenv("PAGERBRIDGE_SECRET_KEY", generate_key())
    eng = make_engine(database_url)
    upgrade(eng)
    yield eng
    eng.dispose()
