"""Skeletons of the SMI base modules, so an operator's MIB compiles with no other MIB file.

pysmi needs the *text* of every module a MIB imports, even of the SMI base modules whose code it
never generates (pysnmp ships those compiled). Debian does not ship their text (it is in the
non-free snmp-mibs-downloader), so these skeletons declare exactly the names other modules import:
the OID tree, the base types, the macros (bodies left empty: pysmi knows them) and SNMPv2-TC's
textual conventions. A full copy of a module in the operator's ``mib_dirs`` is read first.
"""

from __future__ import annotations

_TC = """{name} ::= TEXTUAL-CONVENTION
    STATUS current
    DESCRIPTION ""
    SYNTAX {syntax}
"""

_TCS = {
    "DisplayString": "OCTET STRING (SIZE (0..255))",
    "PhysAddress": "OCTET STRING",
    "MacAddress": "OCTET STRING (SIZE (6))",
    "TruthValue": "INTEGER { true(1), false(2) }",
    "TestAndIncr": "INTEGER (0..2147483647)",
    "AutonomousType": "OBJECT IDENTIFIER",
    "InstancePointer": "OBJECT IDENTIFIER",
    "VariablePointer": "OBJECT IDENTIFIER",
    "RowPointer": "OBJECT IDENTIFIER",
    "RowStatus": (
        "INTEGER { active(1), notInService(2), notReady(3), createAndGo(4), "
        "createAndWait(5), destroy(6) }"
    ),
    "TimeStamp": "TimeTicks",
    "TimeInterval": "INTEGER (0..2147483647)",
    "DateAndTime": "OCTET STRING (SIZE (8 | 11))",
    "StorageType": ("INTEGER { other(1), volatile(2), nonVolatile(3), permanent(4), readOnly(5) }"),
    "TDomain": "OBJECT IDENTIFIER",
    "TAddress": "OCTET STRING (SIZE (1..255))",
}

SNMPV2_SMI = """SNMPv2-SMI DEFINITIONS ::= BEGIN
org OBJECT IDENTIFIER ::= { iso 3 }
dod OBJECT IDENTIFIER ::= { org 6 }
internet OBJECT IDENTIFIER ::= { dod 1 }
directory OBJECT IDENTIFIER ::= { internet 1 }
mgmt OBJECT IDENTIFIER ::= { internet 2 }
mib-2 OBJECT IDENTIFIER ::= { mgmt 1 }
transmission OBJECT IDENTIFIER ::= { mib-2 10 }
experimental OBJECT IDENTIFIER ::= { internet 3 }
private OBJECT IDENTIFIER ::= { internet 4 }
enterprises OBJECT IDENTIFIER ::= { private 1 }
security OBJECT IDENTIFIER ::= { internet 5 }
snmpV2 OBJECT IDENTIFIER ::= { internet 6 }
snmpDomains OBJECT IDENTIFIER ::= { snmpV2 1 }
snmpProxys OBJECT IDENTIFIER ::= { snmpV2 2 }
snmpModules OBJECT IDENTIFIER ::= { snmpV2 3 }
MODULE-IDENTITY MACRO ::= BEGIN END
OBJECT-IDENTITY MACRO ::= BEGIN END
ObjectName ::= OBJECT IDENTIFIER
NotificationName ::= OBJECT IDENTIFIER
Integer32 ::= INTEGER (-2147483648..2147483647)
IpAddress ::= [APPLICATION 0] IMPLICIT OCTET STRING (SIZE (4))
Counter32 ::= [APPLICATION 1] IMPLICIT INTEGER (0..4294967295)
Gauge32 ::= [APPLICATION 2] IMPLICIT INTEGER (0..4294967295)
Unsigned32 ::= [APPLICATION 2] IMPLICIT INTEGER (0..4294967295)
TimeTicks ::= [APPLICATION 3] IMPLICIT INTEGER (0..4294967295)
Opaque ::= [APPLICATION 4] IMPLICIT OCTET STRING
Counter64 ::= [APPLICATION 6] IMPLICIT INTEGER (0..18446744073709551615)
OBJECT-TYPE MACRO ::= BEGIN END
NOTIFICATION-TYPE MACRO ::= BEGIN END
zeroDotZero OBJECT-IDENTITY
    STATUS current
    DESCRIPTION ""
    ::= { 0 0 }
END
"""

SNMPV2_TC = (
    "SNMPv2-TC DEFINITIONS ::= BEGIN\n"
    "IMPORTS TimeTicks FROM SNMPv2-SMI;\n"
    "TEXTUAL-CONVENTION MACRO ::= BEGIN END\n"
    + "".join(_TC.format(name=n, syntax=s) for n, s in _TCS.items())
    + "END\n"
)

SNMPV2_CONF = """SNMPv2-CONF DEFINITIONS ::= BEGIN
OBJECT-GROUP MACRO ::= BEGIN END
NOTIFICATION-GROUP MACRO ::= BEGIN END
MODULE-COMPLIANCE MACRO ::= BEGIN END
AGENT-CAPABILITIES MACRO ::= BEGIN END
END
"""

RFC1155_SMI = """RFC1155-SMI DEFINITIONS ::= BEGIN
internet OBJECT IDENTIFIER ::= { iso org(3) dod(6) 1 }
directory OBJECT IDENTIFIER ::= { internet 1 }
mgmt OBJECT IDENTIFIER ::= { internet 2 }
experimental OBJECT IDENTIFIER ::= { internet 3 }
private OBJECT IDENTIFIER ::= { internet 4 }
enterprises OBJECT IDENTIFIER ::= { private 1 }
OBJECT-TYPE MACRO ::= BEGIN END
ObjectName ::= OBJECT IDENTIFIER
NetworkAddress ::= CHOICE { internet IpAddress }
IpAddress ::= [APPLICATION 0] IMPLICIT OCTET STRING (SIZE (4))
Counter ::= [APPLICATION 1] IMPLICIT INTEGER (0..4294967295)
Gauge ::= [APPLICATION 2] IMPLICIT INTEGER (0..4294967295)
TimeTicks ::= [APPLICATION 3] IMPLICIT INTEGER (0..4294967295)
Opaque ::= [APPLICATION 4] IMPLICIT OCTET STRING
END
"""

RFC_1212 = """RFC-1212 DEFINITIONS ::= BEGIN
OBJECT-TYPE MACRO ::= BEGIN END
END
"""

RFC_1215 = """RFC-1215 DEFINITIONS ::= BEGIN
TRAP-TYPE MACRO ::= BEGIN END
END
"""

#: Module name → text, for pysmi's CallbackReader.
BASE_MODULES = {
    "SNMPv2-SMI": SNMPV2_SMI,
    "SNMPv2-TC": SNMPV2_TC,
    "SNMPv2-CONF": SNMPV2_CONF,
    "RFC1155-SMI": RFC1155_SMI,
    "RFC-1212": RFC_1212,
    "RFC-1215": RFC_1215,
}

__all__ = ["BASE_MODULES"]
