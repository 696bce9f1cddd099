"""SNMP decoding without a network: RFC 3584's v1 mapping, names, values and refused MIBs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pysnmp.proto import rfc1902

from pagerbridge.agent.sources.snmp_fields import MAX_VARBINDS, TrapDecoder, text_value
from pagerbridge.agent.sources.snmp_mibs import load_mib_names
from pagerbridge.agent.sources.snmp_names import OidNames, parse_oid, v1_trap_oid
from pagerbridge.errors import ConfigError

ENTERPRISE = (1, 3, 6, 1, 4, 1, 8072, 3, 2, 10)


@pytest.mark.parametrize(
    ("generic", "specific", "expected"),
    [
        (0, 0, "1.3.6.1.6.3.1.1.5.1"),  # coldStart
        (2, 0, "1.3.6.1.6.3.1.1.5.3"),  # linkDown
        (5, 0, "1.3.6.1.6.3.1.1.5.6"),  # egpNeighborLoss
        (6, 17, "1.3.6.1.4.1.8072.3.2.10.0.17"),  # enterpriseSpecific
    ],
)
def test_v1_trap_oid_follows_rfc_3584(generic: int, specific: int, expected: str) -> None:
    assert v1_trap_oid(ENTERPRISE, generic, specific) == parse_oid(expected)


def test_standard_names_and_labels_without_mibs() -> None:
    names = OidNames()
    assert names.lookup(parse_oid("1.3.6.1.2.1.2.2.1.1.3")) == ("ifIndex", "3")
    assert names.name(parse_oid("1.3.6.1.6.3.1.1.5.5")) == "authenticationFailure"
    assert names.name(parse_oid("1.3.6.1.4.1.9.9.41.2")) == "1.3.6.1.4.1.9.9.41.2"
    assert names.label("ifOperStatus", 7) == "lowerLayerDown"


def test_a_v2c_link_down_decodes_to_named_fields() -> None:
    varbinds = [
        (parse_oid("1.3.6.1.2.1.1.3.0"), rfc1902.TimeTicks(4200)),
        (parse_oid("1.3.6.1.6.3.1.1.4.1.0"), rfc1902.ObjectIdentifier("1.3.6.1.6.3.1.1.5.3")),
        (parse_oid("1.3.6.1.2.1.2.2.1.1.3"), rfc1902.Integer(3)),
        (parse_oid("1.3.6.1.2.1.2.2.1.2.3"), rfc1902.OctetString(b"eth3")),
        (parse_oid("1.3.6.1.2.1.2.2.1.8.3"), rfc1902.Integer(2)),
        (parse_oid("1.3.6.1.4.1.8072.1.1"), rfc1902.OctetString(b"\x00\xff")),
        (parse_oid("1.3.6.1.4.1.8072.1.2"), rfc1902.IpAddress("192.0.2.1")),
    ]
    fields, truncated = TrapDecoder(OidNames()).fields(
        version="2c", confirmed=False, varbinds=varbinds, peer=("10.0.0.9", 40000)
    )
    assert not truncated
    assert fields["trap"] == "linkDown" and fields["trap_oid"] == "1.3.6.1.6.3.1.1.5.3"
    assert fields["agent"] == "10.0.0.9" and fields["uptime"] == 4200
    assert fields["varbinds"] == {"ifIndex": 3, "ifDescr": "eth3", "ifOperStatus": 2}
    assert fields["labels"] == {"ifOperStatus": "down"}
    assert fields["oids"]["1.3.6.1.4.1.8072.1.1"] == "0x00ff"
    assert fields["oids"]["1.3.6.1.4.1.8072.1.2"] == "192.0.2.1"


def test_too_many_varbinds_are_cut_and_reported() -> None:
    varbinds = [((1, 3, 6, 1, 4, 1, 1, n), rfc1902.Integer(n)) for n in range(MAX_VARBINDS + 5)]
    fields, truncated = TrapDecoder(OidNames()).fields(
        version="2c", confirmed=True, varbinds=varbinds, peer=("::1", 1)
    )
    assert truncated and len(fields["oids"]) == MAX_VARBINDS and fields["pdu"] == "inform"


def test_text_values_are_printable_or_hex() -> None:
    assert text_value("héllo".encode()) == "héllo"
    assert text_value(b"a\x1bb") == "0x611b62"


def test_a_missing_mib_is_a_config_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "BROKEN-MIB.txt").write_text("BROKEN-MIB DEFINITIONS ::= BEGIN nonsense END\n")
    with pytest.raises(ConfigError, match="NO-SUCH-MIB"):
        load_mib_names([tmp_path], ["NO-SUCH-MIB"], tmp_path / "cache")
    with pytest.raises(ConfigError, match="BROKEN-MIB"):
        load_mib_names([tmp_path], ["BROKEN-MIB"], tmp_path / "cache")
