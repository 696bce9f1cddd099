"""Real Events API clients pointed at the agent: PagerDuty's official Python library, unchanged
except for its base URL (it insists on https://), gains store-and-forward."""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import pagerduty
import trustme

from pagerbridge.agent.testing import get, running_agent
from pagerbridge.sandbox.testing import running_sandbox

KEY = "deadbeefdeadbeefdeadbeefdeadbeef"


def test_official_pagerduty_client_through_the_agent_over_https(
    sqlite_url: str, tmp_path: Path
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(cert_file), append=True)
    cert.private_key_pem.write_to_path(str(key_file))
    config = {"listen": "127.0.0.1:0", "tls": {"cert_file": cert_file, "key_file": key_file}}
    trust = ssl.create_default_context()
    ca.configure_trust(trust)
    with (
        running_sandbox(rate_limits=False) as sandbox,
        running_agent(database_url=sqlite_url, events_url=sandbox.url, config=config) as agent,
    ):
        assert agent.url.startswith("https://")
        client = pagerduty.EventsApiV2Client(KEY, base_url=agent.url, verify=trust)
        try:
            dedup = client.trigger("disk full on db-1", "db-1", severity="error")
            assert dedup  # the agent's 202 carried the dedup key it generated
            client.resolve(dedup)
        finally:
            client.close()  # an idle keep-alive connection would hold the graceful stop
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(sandbox.arrivals()) < 2:
            time.sleep(0.05)
        arrivals = sandbox.arrivals()
        assert [(a["event_action"], a["dedup_key"]) for a in arrivals] == [
            ("trigger", dedup),
            ("resolve", dedup),
        ]
        assert arrivals[0]["summary"] == "disk full on db-1"
        # Plain HTTP to the TLS port is not answered as an event.
        plain = agent.url.replace("https://", "http://")
        try:
            status = get(plain + "/health", timeout=3).status
        except OSError:
            status = 0
        assert status != 200
