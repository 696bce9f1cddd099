"""The syslog source end to end: the real `logger` and `rsyslogd` → agent → sandbox PagerDuty.

One sandbox and one agent (syslog on UDP, TCP and TLS) serve the whole module; each test uses its
own interface name, so its alert is its own.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from pagerbridge.agent.config import AgentConfig
from pagerbridge.agent.sources.syslog import SyslogSource
from pagerbridge.agent.testing import AgentHandle, free_port, running_agent
from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox
from servers.waiting import wait_for

RULES: list[dict[str, Any]] = [
    {"name": "ignore-cron", "match": {"app": "CRON"}, "action": "drop"},
    {
        "name": "link-down",
        "match": {"message": {"regex": r"(?P<iface>[\w.-]+): Link is Down"}},
        "severity": "critical",
        "dedup_key": "{{ host }}/link/{{ iface }}",
        "summary": "{{ host }}: {{ iface }} is down",
        "component": "{{ iface }}",
    },
    {
        "name": "link-up",
        "match": {"message": {"regex": r"(?P<iface>[\w.-]+): Link is Up"}},
        "action": "resolve",
        "dedup_key": "{{ host }}/link/{{ iface }}",
    },
]
MAX_BYTES = 2048
LOGGER = ("logger", "-n", "127.0.0.1")
LINE = "ge-0.0.1: Link is Down"
#: The HOSTNAME that `logger` writes: this machine's.
HOST = socket.gethostname()


class Env:
    def __init__(self, sandbox: SandboxHandle, agent: AgentHandle, ca: trustme.CA) -> None:
        self.sandbox = sandbox
        self.agent = agent
        self.ca = ca
        source = agent.agent.sources.get("syslog")
        assert isinstance(source, SyslogSource)
        self.source = source
        self.port = source.addresses["tcp"][1]
        self.tls_port = source.addresses["tls"][1]
        self.key = sandbox.routing_key

    def count(self, name: str, **labels: str) -> float:
        value = self.agent.agent.metrics.registry.get_sample_value(
            f"pagerbridge_source_{name}_total", {"source": "syslog", **labels}
        )
        return value or 0.0

    def logger(self, *args: str) -> None:
        cmd = ["logger", "-n", "127.0.0.1", "-P", str(self.port), *args]
        subprocess.run(cmd, check=True, timeout=10)

    def arrivals(self, dedup_key: str) -> list[dict[str, Any]]:
        return [a for a in self.sandbox.arrivals(self.key) if a["dedup_key"] == dedup_key]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("syslog")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp / "server.pem", tmp / "server.key"
    cert.cert_chain_pems[0].write_to_path(cert_file)
    cert.private_key_pem.write_to_path(key_file)
    port = free_port()
    with running_sandbox() as sandbox:
        config = AgentConfig.model_validate(
            {
                "listen": "127.0.0.1:0",
                "delivery": {"rate_limit_per_minute": 0},
                "sources": {
                    "syslog": {
                        "udp": f"127.0.0.1:{port}",
                        "tcp": f"127.0.0.1:{port}",
                        "tls": {
                            "listen": "127.0.0.1:0",
                            "cert_file": str(cert_file),
                            "key_file": str(key_file),
                        },
                        "max_message_bytes": MAX_BYTES,
                        "routing_key": sandbox.routing_key,
                        "rules": RULES,
                    }
                },
            }
        )
        url = f"sqlite:///{tmp / 'agent.db'}"
        with running_agent(database_url=url, events_url=sandbox.events_url, config=config) as a:
            yield Env(sandbox, a, ca)


def test_logger_opens_an_alert_repeats_fold_and_link_up_resolves(env: Env) -> None:
    key = f"{HOST}/link/eth1"
    outbox = env.agent.agent.outbox
    env.agent.call(lambda: outbox.pause(env.key))  # hold delivery so the repeats meet a pending row
    try:
        stored = env.count("stored") + env.count("folded")
        env.logger("--rfc5424", "-T", "-t", "kernel", "eth1: Link is Down")
        env.logger("--rfc5424", "-T", "--octet-count", "-t", "kernel", "eth1: Link is Down")
        env.logger("--rfc3164", "-d", "-t", "kernel", "eth1: Link is Down")
        wait_for(lambda: env.count("stored") + env.count("folded") >= stored + 3, "3 stored")
        rows = outbox.list_rows(routing_key=env.key, dedup_key=key)
        assert len(rows) == 1, "the repeats fold into the pending trigger (needs outbox folding)"
        assert env.count("folded") >= 2
    finally:
        env.agent.call(lambda: outbox.resume(env.key))
    (opened,) = wait_for(lambda: env.arrivals(key), "the alert in the sandbox")
    assert opened["event_action"] == "trigger" and opened["outcome"] == "created"
    assert opened["summary"] == f"{HOST}: eth1 is down"
    env.logger("--rfc5424", "-T", "-t", "kernel", "eth1: Link is Up")
    wait_for(lambda: len(env.arrivals(key)) == 2, "the resolve in the sandbox")
    assert env.arrivals(key)[-1]["outcome"] == "resolved"


def test_rsyslogd_forwards_to_the_agent(env: Env, tmp_path: Path) -> None:
    rsyslog_port = free_port()
    work = tmp_path / "work"
    work.mkdir()
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(
        textwrap.dedent(
            f"""\
            global(workDirectory="{work}")
            module(load="imtcp")
            input(type="imtcp" address="127.0.0.1" port="{rsyslog_port}")
            *.* action(type="omfwd" target="127.0.0.1" port="{env.port}" protocol="tcp"
                   TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format"
                   queue.type="LinkedList" queue.filename="pagerbridge_fwd"
                   queue.maxDiskSpace="1g" queue.saveOnShutdown="on"
                   action.resumeRetryCount="-1")
            """
        )
    )
    proc = subprocess.Popen(
        ["rsyslogd", "-n", "-f", str(conf), "-i", str(tmp_path / "rsyslog.pid")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        def sent() -> bool:
            if proc.poll() is not None:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"rsyslogd exited {proc.returncode}: {out}")
            result = subprocess.run(
                [*LOGGER, "-P", str(rsyslog_port), "-T", "-t", "kernel", LINE],
                capture_output=True,
                timeout=10,
            )
            return result.returncode == 0

        wait_for(sent, "rsyslogd listening")
        arrived = wait_for(lambda: env.arrivals(f"{HOST}/link/ge-0.0.1"), "rsyslog's alert")
        assert arrived[0]["summary"] == f"{HOST}: ge-0.0.1 is down"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_tls_octet_counted_frames_are_stored(env: Env) -> None:
    context = ssl.create_default_context()
    env.ca.configure_trust(context)
    frames = [
        b"<11>1 2026-12-03T10:00:00Z tls1 kernel - - - eth7: Link is Down",
        b"<14>1 2026-12-03T10:00:01Z tls1 CRON - - - (root) CMD (run-parts)",
    ]
    dropped = env.count("dropped", reason="drop_rule")
    raw = socket.create_connection(("127.0.0.1", env.tls_port))
    with raw, context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"".join(b"%d %s" % (len(f), f) for f in frames))
    arrived = wait_for(lambda: env.arrivals("tls1/link/eth7"), "the TLS alert")
    assert arrived[0]["summary"] == "tls1: eth7 is down"
    wait_for(lambda: env.count("dropped", reason="drop_rule") == dropped + 1, "cron dropped")


def test_bad_input_is_counted_and_never_stops_a_listener(env: Env) -> None:
    malformed = env.count("malformed")
    with socket.create_connection(("127.0.0.1", env.port)) as conn:
        conn.sendall(b"no pri here\n<13>" + b"x" * (MAX_BYTES * 3) + b"\n\xff\xfe\x00\n")
    with socket.create_connection(("127.0.0.1", env.port)) as conn:
        conn.sendall(b"12 <13>1 - - - - - -\nnot a count x\n")  # octet framing, then garbage
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.sendto(b"\x00" * 10 + b"y" * (MAX_BYTES + 10), ("127.0.0.1", env.port))
    udp.close()
    wait_for(lambda: env.count("malformed") >= malformed + 5, "the bad input counted")
    env.logger("--rfc5424", "-T", "-t", "kernel", "eth9: Link is Down")
    wait_for(lambda: env.arrivals(f"{HOST}/link/eth9"), "a good line after the bad ones")


def test_reload_rebinds_only_what_changed_and_swaps_rules(env: Env) -> None:
    manager = env.agent.agent.sources
    settings = manager.settings.syslog
    assert settings is not None
    udp_before = env.source._udp
    before = len(env.source.connections)
    old = socket.create_connection(("127.0.0.1", env.port))  # opened before the reload
    wait_for(lambda: len(env.source.connections) > before, "the old connection accepted")
    new_port = free_port()
    rules = [{"name": "any", "match": {"app": "reload"}, "dedup_key": "reloaded/{{ host }}"}]
    changed = {**settings.model_dump(), "tcp": f"127.0.0.1:{new_port}", "rules": rules}
    new = type(manager.settings).model_validate({"syslog": changed})
    try:
        env.agent.call(lambda: manager.reload(new))
        assert env.source._udp is udp_before, "the UDP listener's address did not change"
        assert env.source.addresses["tcp"][1] == new_port
        with socket.create_connection(("127.0.0.1", new_port)) as conn:
            conn.sendall(b"<11>1 - new reload - - - hello\n")
        old.sendall(b"<11>1 - old reload - - - in flight\n")  # still served
        wait_for(lambda: env.arrivals("reloaded/new"), "the new listener's alert")
        wait_for(lambda: env.arrivals("reloaded/old"), "the old connection's alert")
    finally:
        old.close()
        env.agent.call(
            lambda: manager.reload(manager.settings.model_copy(update={"syslog": settings}))
        )
        env.port = env.source.addresses["tcp"][1]


def test_connections_beyond_the_limit_are_refused_and_counted(env: Env) -> None:
    manager = env.agent.agent.sources
    settings = manager.settings
    syslog = settings.syslog
    assert syslog is not None
    limited = type(settings).model_validate(
        {"syslog": {**syslog.model_dump(), "max_connections": 1}}
    )
    env.agent.call(lambda: manager.reload(limited))
    errors = env.count("errors", reason="transport")
    try:
        first = socket.create_connection(("127.0.0.1", env.port))
        wait_for(lambda: len(env.source.connections) == 1, "the first connection")
        second = socket.create_connection(("127.0.0.1", env.port))
        second.settimeout(5)
        with first, second:
            assert second.recv(1) == b"", "the second connection is closed at once"
            first.sendall(b"<11>1 - lim kernel - - - lim0: Link is Down\n")
            wait_for(lambda: env.arrivals("lim/link/lim0"), "the first connection still served")
        wait_for(lambda: env.count("errors", reason="transport") == errors + 1, "counted")
        # Not TLS on the TLS port: the handshake fails, the listener goes on.
        with socket.create_connection(("127.0.0.1", env.tls_port)) as plain:
            plain.sendall(b"<11>1 - - - - - - not tls\n")
        context = ssl.create_default_context()
        env.ca.configure_trust(context)
        frame = b"<11>1 - tls2 kernel - - - eth8: Link is Down"
        raw = socket.create_connection(("127.0.0.1", env.tls_port))
        with raw, context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"%d %s" % (len(frame), frame))
        wait_for(lambda: env.arrivals("tls2/link/eth8"), "TLS still served")
    finally:
        env.agent.call(lambda: manager.reload(settings))


def test_syslog_stores_on_both_backends(database_url: str, sandbox: SandboxHandle) -> None:
    port = free_port()
    config = {
        "listen": "127.0.0.1:0",
        "sources": {
            "syslog": {
                "udp": None,
                "tcp": f"127.0.0.1:{port}",
                "routing_key": sandbox.routing_key,
                "rules": RULES,
            }
        },
    }
    with running_agent(database_url=database_url, events_url=sandbox.events_url, config=config):
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"<11>1 - db1 kernel - - - eth3: Link is Down\n")
        arrived = wait_for(lambda: sandbox.arrivals(sandbox.routing_key), "the alert")
        assert arrived[0]["dedup_key"] == "db1/link/eth3"


def test_sighup_serves_a_certificate_renewed_in_place(env: Env) -> None:
    manager = env.agent.agent.sources
    syslog = manager.settings.syslog
    assert syslog is not None and syslog.tls is not None
    renewed = trustme.CA()
    cert = renewed.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(syslog.tls.cert_file)
    cert.private_key_pem.write_to_path(syslog.tls.key_file)
    env.agent.call(lambda: manager.reload(manager.settings))  # what SIGHUP does
    context = ssl.create_default_context()
    renewed.configure_trust(context)
    frame = b"<11>1 - tls3 kernel - - - eth4: Link is Down"
    raw = socket.create_connection(("127.0.0.1", env.tls_port))
    with raw, context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"%d %s" % (len(frame), frame))
    wait_for(lambda: env.arrivals("tls3/link/eth4"), "the alert over the renewed certificate")
    env.ca = renewed
