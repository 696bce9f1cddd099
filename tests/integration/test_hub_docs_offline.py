"""Swagger UI (/docs) and ReDoc (/redoc) work without the internet: every script, style sheet,
favicon and font they reference is served by the hub itself.

If Chromium is installed, it also renders /docs with every request to another host refused and
must find Swagger UI's operations on the page (skipped without Chromium).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pagerbridge.server.testing import Hub, running_hub

PAGES = ("/docs", "/redoc", "/docs/oauth2-redirect")
#: An absolute URL in the page text (scripts included): there must be none to another host.
ABSOLUTE_URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+[:/]""")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [v for k, v in attrs if k in ("src", "href", "spec-url") and v]


def links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.links


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    url = f"sqlite:///{tmp_path_factory.mktemp('docs') / 'hub.db'}"
    with running_hub(url, sla_interval=None) as h:
        yield h


@pytest.mark.parametrize("page", PAGES)
def test_every_asset_is_on_the_hub_and_answers(hub: Hub, page: str) -> None:
    status, raw = fetch(hub.url + page)
    assert status == 200
    html = raw.decode()
    found = links(html)
    if page != "/docs/oauth2-redirect":
        assert found, "no script or style sheet found: the parser missed them"
    for link in found:
        parsed = urllib.parse.urlsplit(link)
        assert not parsed.scheme and not parsed.netloc, f"{page} loads {link} from elsewhere"
        status, _ = fetch(urllib.parse.urljoin(hub.url + page, link))
        assert status == 200, link
    assert not ABSOLUTE_URL.findall(html), ABSOLUTE_URL.findall(html)
    if page == "/docs":  # else Swagger UI loads its validator badge from validator.swagger.io
        assert '"validatorUrl": null' in html


def test_the_style_sheet_loads_nothing_from_elsewhere(hub: Hub) -> None:
    _, raw = fetch(hub.url + "/docs")
    for link in links(raw.decode()):
        if link.endswith(".css"):
            _, css = fetch(urllib.parse.urljoin(hub.url, link))
            urls = re.findall(rb"url\(\s*['\"]?([^'\")]+)", css) + re.findall(rb"@import", css)
            assert all(u.startswith(b"data:") for u in urls), urls


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed")
def test_swagger_ui_renders_with_no_other_host_reachable(hub: Hub, tmp_path: Path) -> None:
    """Headless Chromium that can reach only loopback (other names do not resolve; anything
    else goes to a proxy on a closed port): the rendered page lists the hub's operations, so
    Swagger UI's script ran and read /openapi.json."""
    shot = tmp_path / "docs.png"
    common = [
        str(_chromium()),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--proxy-server=http://127.0.0.1:9",  # loopback bypasses it; nothing listens on 9
        "--virtual-time-budget=10000",
    ]
    dom = subprocess.run(
        [*common, "--dump-dom", hub.url + "/docs"], capture_output=True, text=True, timeout=120
    )
    assert "opblock-summary-path" in dom.stdout, dom.stderr[-2000:]
    assert "/api/v1/incidents/{ref}/ack" in dom.stdout
    subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1280,1600", hub.url + "/docs"],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 10_000
