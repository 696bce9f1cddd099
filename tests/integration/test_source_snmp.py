"""The SNMP source end to end: the real net-snmp ``snmptrap``/``snmpinform`` → agent → sandbox.

One agent (and one sandbox) for the module: each test uses its own interface numbers and agent
addresses, so their alerts never mix.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pagerbridge.agent.sources.snmp import SnmpSource
from pagerbridge.agent.testing import AgentHandle, get, running_agent
from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox
from servers.waiting import wait_for

pytestmark = pytest.mark.skipif(
    shutil.which("snmptrap") is None, reason="Debian's snmp package is not installed"
)

LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
LINK_UP = "1.3.6.1.6.3.1.1.5.4"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_OPER = "1.3.6.1.2.1.2.2.1.8"
SENDER_ENGINE = "0x8000000001020304"
V3 = ["-u", "ops", "-l", "authPriv", "-a", "SHA", "-A", "authpass123", "-x", "AES", "-X"]
ACME_MIB = """ACME-TRAP-MIB DEFINITIONS ::= BEGIN
IMPORTS
    MODULE-IDENTITY, OBJECT-TYPE, NOTIFICATION-TYPE, Integer32, enterprises FROM SNMPv2-SMI;
acmeTrapMIB MODULE-IDENTITY
    LAST-UPDATED "202601010000Z" ORGANIZATION "Acme" CONTACT-INFO "ops@acme.example"
    DESCRIPTION "Acme pump traps." ::= { enterprises 99999 }
acmePumpId OBJECT-TYPE SYNTAX Integer32 MAX-ACCESS accessible-for-notify STATUS current
    DESCRIPTION "Pump number." ::= { acmeTrapMIB 1 1 }
acmePumpState OBJECT-TYPE SYNTAX INTEGER { running(1), stopped(2), failed(3) }
    MAX-ACCESS accessible-for-notify STATUS current
    DESCRIPTION "Pump state." ::= { acmeTrapMIB 1 2 }
acmePumpFailed NOTIFICATION-TYPE OBJECTS { acmePumpId, acmePumpState } STATUS current
    DESCRIPTION "A pump failed." ::= { acmeTrapMIB 0 1 }
END
"""


def _config(routing_key: str, mib_dir: Path, cache: Path) -> dict[str, Any]:
    interface = "{{ agent }}/if/{{ varbinds.ifIndex }}"
    return {
        "listen": "127.0.0.1:0",
        "delivery": {"rate_limit_per_minute": 0, "retry_initial": 0.05},
        "sources": {
            "snmp": {
                "listen": "127.0.0.1:0",
                "communities": ["public"],
                "users": [
                    {
                        "name": "ops",
                        "auth_protocol": "SHA",
                        "auth_key": "authpass123",
                        "priv_protocol": "AES",
                        "priv_key": "privpass123",
                        "engine_ids": [SENDER_ENGINE],
                    }
                ],
                "mib_dirs": [str(mib_dir)],
                "mibs": ["ACME-TRAP-MIB"],
                "mib_cache": str(cache),
                "routing_key": routing_key,
                "rules": [
                    {
                        "name": "link-down",
                        "match": {"trap": "linkDown"},
                        "dedup_key": interface,
                        "summary": "{{ agent }} {{ varbinds.ifDescr }} is "
                        "{{ labels.ifOperStatus }} (v{{ version }} {{ pdu }})",
                        "severity": "critical",
                        "custom_details": {"user": "{{ user }}", "uptime": "{{ uptime }}"},
                    },
                    {
                        "name": "link-up",
                        "match": {"trap": "linkUp"},
                        "action": "resolve",
                        "dedup_key": interface,
                    },
                    {
                        "name": "pump",
                        "match": {"trap": "acmePumpFailed"},
                        "dedup_key": "{{ agent }}/pump/{{ varbinds.acmePumpId }}",
                        "summary": "pump {{ varbinds.acmePumpId }} {{ labels.acmePumpState }}",
                    },
                    {
                        "name": "burst",
                        "match": {"trap": {"regex": r"^1\.3\.6\.1\.4\.1\.8072\.9999\."}},
                        "dedup_key": "burst/{{ oids['1.3.6.1.4.1.8072.9999.1.0'] }}",
                    },
                ],
            }
        },
    }


@pytest.fixture(scope="module")
def pd() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture(scope="module")
def agent(pd: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentHandle]:
    folder = tmp_path_factory.mktemp("snmp")
    (folder / "mibs").mkdir()
    (folder / "mibs" / "ACME-TRAP-MIB.txt").write_text(ACME_MIB)
    config = _config(pd.routing_key, folder / "mibs", folder / "cache")
    with running_agent(
        database_url=f"sqlite:///{folder}/agent.db", events_url=pd.url, config=config
    ) as handle:
        yield handle


def _target(agent: AgentHandle) -> str:
    source = agent.agent.sources.get("snmp")
    assert isinstance(source, SnmpSource)
    host, port = source.address
    return f"{host}:{port}"


def _send(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    # -r 0: one try, -t 3: wait 3 s for an INFORM's answer (a trap has none to wait for).
    return subprocess.run(
        [tool, "-r", "0", "-t", "3", *args],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def _link(agent: AgentHandle, tool: str, auth: list[str], trap: str, index: int) -> None:
    target = _target(agent)
    done = _send(
        tool,
        *auth,
        target,
        "",
        trap,
        f"{IF_INDEX}.{index}",
        "i",
        str(index),
        f"{IF_DESCR}.{index}",
        "s",
        f"eth{index}",
        f"{IF_OPER}.{index}",
        "i",
        "2" if trap == LINK_DOWN else "1",
    )
    assert done.returncode == 0, done.stderr


def _arrived(pd: SandboxHandle, dedup_key: str, count: int) -> list[dict[str, Any]]:
    def check() -> list[dict[str, Any]]:
        found = [a for a in pd.arrivals() if a["dedup_key"] == dedup_key]
        return found if len(found) >= count else []

    return wait_for(check, f"{count} events for {dedup_key}", timeout=10)


def _metric(agent: AgentHandle, name: str) -> float:
    text = get(agent.url + "/metrics").body.decode()
    match = re.search(rf'^{name}{{source="snmp"}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def test_v2c_link_down_triggers_and_link_up_resolves_the_same_alert(
    agent: AgentHandle, pd: SandboxHandle
) -> None:
    _link(agent, "snmptrap", ["-v", "2c", "-c", "public"], LINK_DOWN, 3)
    _link(agent, "snmpinform", ["-v", "2c", "-c", "public"], LINK_UP, 3)  # answered once stored
    trigger, resolve = _arrived(pd, "127.0.0.1/if/3", 2)
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["summary"] == "127.0.0.1 eth3 is down (v2c trap)"


def test_v1_trap_maps_generic_link_down_and_agent_address(
    agent: AgentHandle, pd: SandboxHandle
) -> None:
    target = _target(agent)
    # v1: enterprise, agent-addr 192.0.2.7, generic 2 (linkDown), specific 0, uptime 4200
    done = _send(
        "snmptrap", "-v", "1", "-c", "public", target, "1.3.6.1.4.1.8072.3.2.10",
        "192.0.2.7", "2", "0", "4200",
        f"{IF_INDEX}.5", "i", "5", f"{IF_DESCR}.5", "s", "ge-0/0/5", f"{IF_OPER}.5", "i", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (event,) = _arrived(pd, "192.0.2.7/if/5", 1)
    assert event["summary"] == "192.0.2.7 ge-0/0/5 is down (v1 trap)"


def test_v3_auth_priv_trap_and_inform_with_sha_aes(agent: AgentHandle, pd: SandboxHandle) -> None:
    v3 = ["-v", "3", *V3, "privpass123"]
    _link(agent, "snmptrap", [*v3, "-e", SENDER_ENGINE], LINK_DOWN, 7)
    (trigger,) = _arrived(pd, "127.0.0.1/if/7", 1)
    assert trigger["summary"] == "127.0.0.1 eth7 is down (v3 trap)"
    # An INFORM needs no sender engine ID: snmpinform discovers the agent's.
    _link(agent, "snmpinform", v3, LINK_UP, 7)
    assert _arrived(pd, "127.0.0.1/if/7", 2)[1]["event_action"] == "resolve"


def test_a_loaded_mib_names_an_enterprise_trap(agent: AgentHandle, pd: SandboxHandle) -> None:
    done = _send(
        "snmptrap", "-v", "2c", "-c", "public", _target(agent), "", "1.3.6.1.4.1.99999.0.1",
        "1.3.6.1.4.1.99999.1.1.0", "i", "4", "1.3.6.1.4.1.99999.1.2.0", "i", "3",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (event,) = _arrived(pd, "127.0.0.1/pump/4", 1)
    assert event["summary"] == "pump 4 failed"


def test_wrong_community_and_wrong_v3_key_are_counted_and_store_nothing(
    agent: AgentHandle, pd: SandboxHandle
) -> None:
    before = _metric(agent, "pagerbridge_source_malformed_total")
    received = _metric(agent, "pagerbridge_source_received_total")
    _link(agent, "snmptrap", ["-v", "2c", "-c", "private"], LINK_DOWN, 11)
    wrong = ["-v", "3", *V3, "wrongpass123"]
    _link(agent, "snmptrap", [*wrong, "-e", SENDER_ENGINE], LINK_DOWN, 12)
    refused = _send("snmpinform", *wrong, _target(agent), "", LINK_DOWN)
    assert refused.returncode != 0  # no answer for a refused INFORM
    wait_for(
        lambda: _metric(agent, "pagerbridge_source_malformed_total") >= before + 3,
        "three refusals counted",
    )
    assert _metric(agent, "pagerbridge_source_received_total") == received
    keys = {a["dedup_key"] for a in pd.arrivals()}
    assert not keys & {"127.0.0.1/if/11", "127.0.0.1/if/12"}
