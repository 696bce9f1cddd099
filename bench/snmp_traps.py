"""SNMP traps stored durably per second by the real ``pagerbridge agent`` (sources.snmp, SQLite).

Traps are encoded before the clock starts and replayed over a plain UDP socket, so the sender
costs almost nothing: v2c packets are built with pysnmp's message API; v3 authPriv (SHA + AES)
packets are produced by pysnmp's notification originator into a capture socket, then replayed
(a v3 trap's time window is 150 s, ample for a run). Every trap has its own dedup key (no
folding), and a rule turns each into a trigger. The sender keeps at most ``--window`` traps
that the agent has not yet counted as received (so UDP buffers never overflow), and the clock
stops when the agent's ``pagerbridge_source_stored_total`` reaches the count: stored means
fsynced. The agent delivers to a black hole (one worker, calls that never end), so we measure
intake.

    .venv/bin/python bench/snmp_traps.py                     # v2c and v3, 20,000 traps each
    .venv/bin/python bench/snmp_traps.py --count 50000 --only v2c
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from pagerbridge.agent.testing import free_port, start_agent_process

KEY = "0123456789abcdef0123456789abcdef"
ENGINE = "8000000001020304"
TRAP = "1.3.6.1.4.1.8072.9999.0.1"
MARK = "1.3.6.1.4.1.8072.9999.1.0"
CONFIG = """\
listen: 127.0.0.1:0
pagerduty:
  timeout: 300
delivery:
  workers: 1
  lease: 600
sources:
  snmp:
    listen: 127.0.0.1:{port}
    communities: [public]
    users:
      - {{name: bench, auth_protocol: SHA, auth_key: authpass123, priv_protocol: AES,
          priv_key: privpass123, engine_ids: ["0x{engine}"]}}
    routing_key: {key}
    rules:
      - dedup_key: "bench/{{{{ oids['{mark}'] }}}}"
        summary: "{{{{ trap }}}} {{{{ oids['{mark}'] }}}}"
"""


def v2c_packets(count: int) -> list[bytes]:
    from pyasn1.codec.ber import encoder
    from pysnmp.proto import rfc1902
    from pysnmp.proto.api import v2c

    packets = []
    for n in range(count):
        pdu = v2c.SNMPv2TrapPDU()
        v2c.apiTrapPDU.set_defaults(pdu)
        v2c.apiTrapPDU.set_varbinds(
            pdu,
            [
                ((1, 3, 6, 1, 2, 1, 1, 3, 0), rfc1902.TimeTicks(n)),
                ((1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0), rfc1902.ObjectIdentifier(TRAP)),
                (rfc1902.ObjectName(MARK), rfc1902.OctetString(f"v2c-{n}")),
            ],
        )
        message = v2c.Message()
        v2c.apiMessage.set_defaults(message)
        v2c.apiMessage.set_community(message, "public")
        v2c.apiMessage.set_pdu(message, pdu)
        packets.append(encoder.encode(message))
    return packets


async def _v3_record(count: int, port: int) -> None:
    from pysnmp.hlapi.v3arch.asyncio import (
        ContextData,
        NotificationType,
        ObjectIdentity,
        OctetString,
        SnmpEngine,
        UdpTransportTarget,
        UsmUserData,
        send_notification,
        usmAesCfb128Protocol,
        usmHMACSHAAuthProtocol,
    )

    engine = SnmpEngine(OctetString(hexValue=ENGINE))
    user = UsmUserData(
        "bench",
        "authpass123",
        "privpass123",
        authProtocol=usmHMACSHAAuthProtocol,
        privProtocol=usmAesCfb128Protocol,
    )
    target = await UdpTransportTarget.create(("127.0.0.1", port))
    for n in range(count):
        notification = NotificationType(ObjectIdentity(TRAP)).add_varbinds(
            (MARK, OctetString(f"v3-{n}"))
        )
        await send_notification(engine, user, target, ContextData(), "trap", notification)
    engine.close_dispatcher()


def v3_packets(count: int) -> list[bytes]:
    """Encrypted v3 traps, captured from pysnmp's originator."""
    capture = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    capture.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    capture.bind(("127.0.0.1", 0))
    capture.settimeout(2)
    packets: list[bytes] = []
    port = capture.getsockname()[1]

    async def record_and_drain() -> None:
        sender = asyncio.create_task(_v3_record(count, port))
        loop = asyncio.get_running_loop()
        while len(packets) < count:
            packets.append(await loop.run_in_executor(None, capture.recv, 65535))
        await sender

    asyncio.run(record_and_drain())
    capture.close()
    return packets


def counter(url: str, name: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as answer:
        text = answer.read().decode()
    match = re.search(rf'^{name}{{source="snmp"}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def replay(url: str, port: int, packets: list[bytes], window: int) -> dict[str, float]:
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    base_received = counter(url, "pagerbridge_source_received_total")
    base_stored = counter(url, "pagerbridge_source_stored_total")
    started = time.perf_counter()
    sent = 0
    while sent < len(packets):
        seen = counter(url, "pagerbridge_source_received_total") - base_received
        room = min(len(packets) - sent, window - int(sent - seen))
        for packet in packets[sent : sent + room]:
            out.sendto(packet, ("127.0.0.1", port))
        sent += max(room, 0)
        time.sleep(0.01)
    while counter(url, "pagerbridge_source_stored_total") - base_stored < len(packets):
        if time.perf_counter() - started > 300:
            break
        time.sleep(0.01)
    seconds = time.perf_counter() - started
    stored = counter(url, "pagerbridge_source_stored_total") - base_stored
    return {"traps": len(packets), "stored": stored, "seconds": seconds, "per_s": stored / seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=2_000)
    parser.add_argument("--only", choices=("v2c", "v3"))
    args = parser.parse_args()
    hole = socket.socket()  # accepts connections (backlog) and never answers
    hole.bind(("127.0.0.1", 0))
    hole.listen(1024)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        agent = start_agent_process(
            database_url=f"sqlite:///{tmp}/bench.db",
            events_url=f"http://127.0.0.1:{hole.getsockname()[1]}",
            workdir=Path(tmp),
            config_text=CONFIG.format(port=port, engine=ENGINE, key=KEY, mark=MARK),
        )
        try:
            for version in ("v2c", "v3"):
                if args.only and version != args.only:
                    continue
                make = v2c_packets if version == "v2c" else v3_packets
                print(f"{version}: encoding {args.count} traps...", file=sys.stderr)
                packets = make(args.count)
                results[version] = replay(agent.url, port, packets, args.window)
                r = results[version]
                print(
                    f"{version}: {r['stored']:.0f}/{r['traps']} stored durably in "
                    f"{r['seconds']:.2f} s = {r['per_s']:.0f} traps/s",
                    file=sys.stderr,
                )
        finally:
            agent.kill()  # its worker is stuck in the black hole by design
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
