"""A received trap or inform (pysnmp's decoded PDU) → the plain fields rules read.

Fields (every trap has all of them; None where the version has no such thing):

``version`` ``1``/``2c``/``3``; ``pdu`` ``trap``/``inform``; ``trap`` the trap's name
(``linkDown``, or the dotted OID when no table knows it); ``trap_oid``; ``agent`` the address
of the device (a v1 trap's agent-addr, else the UDP source address); ``peer`` ``ip:port`` the
datagram came from; ``community`` (v1/v2c) or ``user`` (v3); ``context`` (v3 context name);
``uptime`` (sysUpTime in hundredths of a second); ``enterprise``, ``generic_trap``,
``specific_trap`` (v1; ``enterprise`` also from snmpTrapEnterprise.0 in v2);
``varbinds`` name → value (``ifIndex``: 3, the instance left off; the first of a repeated
name wins); ``oids`` dotted OID (with instance) → value, every varbind; ``instances`` name →
instance suffix (``ifIndex``: "3"); ``labels`` name → enumeration label (``ifOperStatus``:
"down") where a table knows one.

Values: integers of every kind → int; strings → text when they are printable UTF-8, else
``0x``-hex; IpAddress → dotted quad; OIDs → dotted text; Null and the "no such" values → None.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyasn1.type import univ  # type: ignore[import-untyped]
from pysnmp.proto import rfc1902  # type: ignore[import-untyped]

from pagerbridge.agent.sources.snmp_names import (
    SNMP_TRAP_ENTERPRISE,
    SNMP_TRAP_OID,
    SYS_UPTIME,
    Oid,
    OidNames,
    dotted,
    v1_trap_oid,
)

#: Varbinds beyond this many are left out (the trap is still submitted, and counted malformed).
MAX_VARBINDS = 128
#: A text value longer than this is cut (the rest of an event has PagerDuty's own limits).
MAX_VALUE_CHARS = 2048

SNMP_FIELDS = frozenset(
    {
        "version",
        "pdu",
        "trap",
        "trap_oid",
        "agent",
        "peer",
        "community",
        "user",
        "context",
        "uptime",
        "enterprise",
        "generic_trap",
        "specific_trap",
        "varbinds",
        "oids",
        "instances",
        "labels",
    }
)

VERSIONS = {0: "1", 1: "2c", 3: "3"}
_IP_TAG = rfc1902.IpAddress.tagSet
_PRINTABLE_CONTROLS = frozenset("\t\n\r")


def text_value(raw: bytes) -> str:
    """Printable UTF-8 as text, anything else as ``0x``-hex (like net-snmp's Hex-STRING)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    else:
        if all(ch.isprintable() or ch in _PRINTABLE_CONTROLS for ch in text):
            return text[:MAX_VALUE_CHARS]
    return ("0x" + raw.hex())[:MAX_VALUE_CHARS]


def json_value(value: Any) -> Any:
    """One varbind value (a pyasn1 object) → a JSON-able value."""
    if isinstance(value, univ.Integer):
        return int(value)
    if isinstance(value, univ.OctetString):
        raw = bytes(value)
        if value.tagSet == _IP_TAG and len(raw) == 4:
            return ".".join(str(b) for b in raw)
        return text_value(raw)
    if isinstance(value, univ.ObjectIdentifier):
        return dotted(tuple(value))
    if isinstance(value, univ.Null) or not getattr(value, "isValue", True):
        return None
    if isinstance(value, univ.Choice):  # v1 NetworkAddress, ObjectSyntax wrappers
        try:
            return json_value(value.getComponent())
        except Exception:
            return None
    return text_value(str(value).encode("utf-8", "replace"))


class TrapDecoder:
    """Builds the fields of one notification; shared by every trap of one source."""

    def __init__(self, names: OidNames) -> None:
        self.names = names

    def fields(
        self,
        *,
        version: str,
        confirmed: bool,
        varbinds: Sequence[tuple[Any, Any]],
        peer: tuple[str, int],
        community: str | None = None,
        user: str | None = None,
        context: str | None = None,
        v1: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """(fields, truncated): ``v1`` carries enterprise/agent_addr/generic/specific/timestamp
        of a v1 trap, whose ``varbinds`` are then only its own (RFC 3584 adds the rest here)."""
        truncated = len(varbinds) > MAX_VARBINDS
        out: dict[str, Any] = {
            "version": version,
            "pdu": "inform" if confirmed else "trap",
            "trap": None,
            "trap_oid": None,
            "agent": peer[0],
            "peer": f"{peer[0]}:{peer[1]}",
            "community": community,
            "user": user,
            "context": context,
            "uptime": None,
            "enterprise": None,
            "generic_trap": None,
            "specific_trap": None,
        }
        trap_oid: Oid | None = None
        if v1 is not None:
            enterprise: Oid = v1["enterprise"]
            trap_oid = v1_trap_oid(enterprise, v1["generic"], v1["specific"])
            out.update(
                uptime=v1["timestamp"],
                enterprise=dotted(enterprise),
                generic_trap=v1["generic"],
                specific_trap=v1["specific"],
            )
            if v1.get("agent_addr") and v1["agent_addr"] != "0.0.0.0":
                out["agent"] = v1["agent_addr"]
        named: dict[str, Any] = {}
        oids: dict[str, Any] = {}
        instances: dict[str, str] = {}
        labels: dict[str, str] = {}
        for raw_oid, raw_value in varbinds[:MAX_VARBINDS]:
            oid: Oid = tuple(raw_oid)
            value = json_value(raw_value)
            object_oid = oid[:-1] if oid and oid[-1] == 0 else oid
            if object_oid == SNMP_TRAP_OID and isinstance(value, str):
                trap_oid = tuple(raw_value)
                continue
            if object_oid == SYS_UPTIME and isinstance(value, int):
                out["uptime"] = value
                continue
            if object_oid == SNMP_TRAP_ENTERPRISE and isinstance(value, str):
                out["enterprise"] = value
            oids[dotted(oid)] = value
            name, instance = self.names.lookup(oid)
            if name is None or name in named:
                continue
            named[name] = value
            instances[name] = instance
            if isinstance(value, int):
                label = self.names.label(name, value)
                if label is not None:
                    labels[name] = label
        if trap_oid is not None:
            out["trap_oid"] = dotted(trap_oid)
            out["trap"] = self.names.name(trap_oid)
        out.update(varbinds=named, oids=oids, instances=instances, labels=labels)
        return out, truncated


__all__ = ["MAX_VARBINDS", "SNMP_FIELDS", "VERSIONS", "TrapDecoder", "json_value", "text_value"]
