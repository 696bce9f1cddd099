"""Names of OIDs known without MIB files, RFC 3584's v1 → v2 trap mapping, and name lookup.

A trap from a switch names its trap and varbinds by OID only. The standard ones (coldStart,
linkDown with ifIndex/ifDescr/ifAdminStatus/ifOperStatus, authenticationFailure...) are built in
here, so the common rules work without any MIB file; an operator's MIBs (``snmp_mibs``) add
more. An OID no table knows stays numeric: rules still match it.
"""

from __future__ import annotations

from collections.abc import Mapping

Oid = tuple[int, ...]

SNMP_TRAPS: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 5)  # SNMPv2-MIB::snmpTraps
SYS_UPTIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3)
SNMP_TRAP_OID: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1)
SNMP_TRAP_ENTERPRISE: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 4, 3)
SNMP_TRAP_ADDRESS: Oid = (1, 3, 6, 1, 6, 3, 18, 1, 3)
SNMP_TRAP_COMMUNITY: Oid = (1, 3, 6, 1, 6, 3, 18, 1, 4)
ENTERPRISE_SPECIFIC = 6

_IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
_IFX_ENTRY = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
_SYSTEM = (1, 3, 6, 1, 2, 1, 1)

#: OID (object, without instance) → name, for the objects standard traps carry.
STANDARD_NAMES: dict[Oid, str] = {
    # SNMPv2-MIB: the standard traps (RFC 3418) and the notification objects
    (*SNMP_TRAPS, 1): "coldStart",
    (*SNMP_TRAPS, 2): "warmStart",
    (*SNMP_TRAPS, 3): "linkDown",
    (*SNMP_TRAPS, 4): "linkUp",
    (*SNMP_TRAPS, 5): "authenticationFailure",
    (*SNMP_TRAPS, 6): "egpNeighborLoss",
    SNMP_TRAP_OID: "snmpTrapOID",
    SNMP_TRAP_ENTERPRISE: "snmpTrapEnterprise",
    SNMP_TRAP_ADDRESS: "snmpTrapAddress",
    SNMP_TRAP_COMMUNITY: "snmpTrapCommunity",
    (*_SYSTEM, 1): "sysDescr",
    (*_SYSTEM, 2): "sysObjectID",
    SYS_UPTIME: "sysUpTime",
    (*_SYSTEM, 4): "sysContact",
    (*_SYSTEM, 5): "sysName",
    (*_SYSTEM, 6): "sysLocation",
    # IF-MIB (RFC 2863): what linkDown / linkUp carry, and the usual extras
    (*_IF_ENTRY, 1): "ifIndex",
    (*_IF_ENTRY, 2): "ifDescr",
    (*_IF_ENTRY, 3): "ifType",
    (*_IF_ENTRY, 4): "ifMtu",
    (*_IF_ENTRY, 5): "ifSpeed",
    (*_IF_ENTRY, 6): "ifPhysAddress",
    (*_IF_ENTRY, 7): "ifAdminStatus",
    (*_IF_ENTRY, 8): "ifOperStatus",
    (*_IF_ENTRY, 9): "ifLastChange",
    (*_IFX_ENTRY, 1): "ifName",
    (*_IFX_ENTRY, 18): "ifAlias",
    # RFC 1213: egpNeighborLoss carries egpNeighAddr
    (1, 3, 6, 1, 2, 1, 8, 5, 1, 2): "egpNeighAddr",
    # NET-SNMP-AGENT-MIB: what snmpd itself sends
    (1, 3, 6, 1, 4, 1, 8072, 4, 0, 1): "nsNotifyStart",
    (1, 3, 6, 1, 4, 1, 8072, 4, 0, 2): "nsNotifyShutdown",
    (1, 3, 6, 1, 4, 1, 8072, 4, 0, 3): "nsNotifyRestart",
}

_IF_STATUS = {1: "up", 2: "down", 3: "testing"}
#: Name → labels of an enumerated INTEGER (ifOperStatus 2 → "down").
STANDARD_ENUMS: dict[str, dict[int, str]] = {
    "ifAdminStatus": _IF_STATUS,
    "ifOperStatus": {
        **_IF_STATUS,
        4: "unknown",
        5: "dormant",
        6: "notPresent",
        7: "lowerLayerDown",
    },
}

#: v1 generic-trap numbers (RFC 1157) → names; 6 is enterpriseSpecific.
GENERIC_TRAPS = (
    "coldStart",
    "warmStart",
    "linkDown",
    "linkUp",
    "authenticationFailure",
    "egpNeighborLoss",
    "enterpriseSpecific",
)


def v1_trap_oid(enterprise: Oid, generic: int, specific: int) -> Oid:
    """RFC 3584 §3.1 (1): a v1 trap's snmpTrapOID.0.

    A generic trap ``g`` (0..5) is ``snmpTraps.(g+1)``; an enterprise-specific one is
    ``enterprise.0.specific``.
    """
    if 0 <= generic < ENTERPRISE_SPECIFIC:
        return (*SNMP_TRAPS, generic + 1)
    return (*enterprise, 0, specific)


def dotted(oid: Oid) -> str:
    return ".".join(map(str, oid))


def parse_oid(text: str) -> Oid:
    """``1.3.6.1`` or ``.1.3.6.1`` → a tuple; ValueError if it is not numeric."""
    parts = text.strip().lstrip(".").split(".")
    if not parts or not all(p.isdigit() for p in parts):
        raise ValueError(f"{text!r} is not a numeric OID such as 1.3.6.1.4.1.8072")
    return tuple(int(p) for p in parts)


class OidNames:
    """OID → (name, instance) by longest known prefix; labels of enumerated values.

    ``lookup((1,3,6,1,2,1,2,2,1,1,3))`` → ``("ifIndex", "3")``. Results are cached per OID
    (bounded), since a device sends the same few OIDs over and over.
    """

    CACHE_SIZE = 8192

    def __init__(
        self,
        names: Mapping[Oid, str] | None = None,
        enums: Mapping[str, Mapping[int, str]] | None = None,
    ) -> None:
        self._names: dict[Oid, str] = {**STANDARD_NAMES, **(names or {})}
        self._enums: dict[str, Mapping[int, str]] = {**STANDARD_ENUMS, **(enums or {})}
        self._longest = max((len(o) for o in self._names), default=0)
        self._cache: dict[Oid, tuple[str | None, str]] = {}

    def __len__(self) -> int:
        return len(self._names)

    def lookup(self, oid: Oid) -> tuple[str | None, str]:
        """(name or None, instance suffix as dotted text, "" when none)."""
        hit = self._cache.get(oid)
        if hit is not None:
            return hit
        found: tuple[str | None, str] = (None, "")
        for n in range(min(len(oid), self._longest), 0, -1):
            name = self._names.get(oid[:n])
            if name is not None:
                found = (name, dotted(oid[n:]))
                break
        if len(self._cache) >= self.CACHE_SIZE:
            self._cache.clear()
        self._cache[oid] = found
        return found

    def name(self, oid: Oid) -> str:
        """``linkDown``, ``ifIndex.3``, or the dotted OID when no table knows it."""
        name, instance = self.lookup(oid)
        if name is None:
            return dotted(oid)
        return f"{name}.{instance}" if instance else name

    def label(self, name: str, value: int) -> str | None:
        """The enumeration label of ``value`` for object ``name`` (ifOperStatus 2 → down)."""
        labels = self._enums.get(name)
        return None if labels is None else labels.get(value)


__all__ = [
    "GENERIC_TRAPS",
    "STANDARD_ENUMS",
    "STANDARD_NAMES",
    "Oid",
    "OidNames",
    "dotted",
    "parse_oid",
    "v1_trap_oid",
]
