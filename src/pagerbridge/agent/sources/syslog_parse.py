"""Syslog message parsing, RFC 5424 and RFC 3164, tolerant: every input becomes fields.

:func:`parse_syslog` never raises. A line it cannot fully read still becomes a message with what
could be read (at worst the whole line as ``message``, PRI 13 = user.notice as RFC 3164 says for a
line without PRI), and ``malformed`` names what was wrong (the source counts it).

Fields (all always present; "" when the message did not carry one): ``host``, ``facility`` (name:
``kern``, ``user``, ``daemon``, ``local0``...), ``facility_code``, ``severity`` (name: ``emerg``,
``alert``, ``crit``, ``err``, ``warning``, ``notice``, ``info``, ``debug``), ``severity_code``,
``pri``, ``app`` (RFC 5424 APP-NAME, or RFC 3164's tag), ``procid``, ``msgid``, ``message``,
``structured_data`` (``{sd-id: {param: value}}``), ``timestamp`` (as written), ``format``
(``rfc5424``, ``rfc3164`` or ``unknown``), ``peer`` (the sender's address), ``transport``
(``udp``, ``tcp``, ``tls``), ``malformed`` (why parsing was partial, else "").
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)  # fmt: skip
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
#: RFC 3164 section 4.3.3: a message without PRI is user.notice.
DEFAULT_PRI = 13

_PRI = re.compile(r"<(\d{1,3})>")
_RFC3164_TS = re.compile(r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) ")
_ISO_TS = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})?) ")
_TAG = re.compile(r"([^\s\[\]:]{1,64})(?:\[([^\]\s]{1,128})\])?: ?")
_MONTHS = frozenset(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
)
_BOM = "\ufeff"


def _base(peer: str, transport: str) -> dict[str, Any]:
    return {
        "host": "",
        "facility": "user",
        "facility_code": 1,
        "severity": "notice",
        "severity_code": 5,
        "pri": DEFAULT_PRI,
        "app": "",
        "procid": "",
        "msgid": "",
        "message": "",
        "structured_data": {},
        "timestamp": "",
        "format": "unknown",
        "peer": peer,
        "transport": transport,
        "malformed": "",
    }


def _set_pri(fields: dict[str, Any], pri: int) -> None:
    facility, severity = divmod(pri, 8)
    fields["pri"] = pri
    fields["facility_code"] = facility
    fields["facility"] = FACILITIES[facility] if facility < len(FACILITIES) else str(facility)
    fields["severity_code"] = severity
    fields["severity"] = SEVERITIES[severity]


def parse_syslog(data: bytes, *, peer: str = "", transport: str = "") -> dict[str, Any]:
    """The fields of one syslog message (framing already removed); never raises."""
    try:
        text = data.decode("utf-8", "replace").rstrip("\r\n\x00")
        return _parse(text, peer, transport)
    except Exception as exc:  # a parser bug must not lose the message
        fields = _base(peer, transport)
        fields["message"] = data.decode("utf-8", "replace")
        fields["malformed"] = f"parser error: {type(exc).__name__}"
        return fields


def _parse(text: str, peer: str, transport: str) -> dict[str, Any]:
    fields = _base(peer, transport)
    match = _PRI.match(text)
    if match is None or int(match.group(1)) > 191:
        fields["message"] = text
        fields["malformed"] = "no <PRI> at the start" if match is None else "PRI out of range"
        return fields
    _set_pri(fields, int(match.group(1)))
    rest = text[match.end() :]
    if rest.startswith("1 "):
        _rfc5424(fields, rest[2:])
    else:
        _rfc3164(fields, rest)
    return fields


def _token(rest: str) -> tuple[str, str]:
    head, _, tail = rest.partition(" ")
    return ("" if head == "-" else head), tail


def _rfc5424(fields: dict[str, Any], rest: str) -> None:
    fields["format"] = "rfc5424"
    parts: list[str] = []
    for _ in range(5):  # TIMESTAMP HOSTNAME APP-NAME PROCID MSGID
        value, rest = _token(rest)
        parts.append(value)
    stamp, fields["host"], fields["app"], fields["procid"], fields["msgid"] = parts
    fields["timestamp"] = stamp
    if stamp and not _valid_iso(stamp):
        fields["malformed"] = "TIMESTAMP is not RFC 3339"
    if rest.startswith("-"):
        rest = rest[2:] if rest.startswith("- ") else rest[1:]
    elif rest.startswith("["):
        data, rest, problem = _structured_data(rest)
        fields["structured_data"] = data
        if problem:
            fields["malformed"] = problem
        rest = rest[1:] if rest.startswith(" ") else rest
    elif rest:
        fields["malformed"] = "STRUCTURED-DATA is neither - nor [...]"
    fields["message"] = rest[1:] if rest.startswith(_BOM) else rest


def _valid_iso(stamp: str) -> bool:
    try:
        datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _structured_data(rest: str) -> tuple[dict[str, dict[str, str]], str, str]:
    """``[id k="v" ...][id2 ...]`` → ({id: {k: v}}, what follows, problem or "")."""
    data: dict[str, dict[str, str]] = {}
    i, n = 0, len(rest)
    while i < n and rest[i] == "[":
        i += 1
        start = i
        while i < n and rest[i] not in " ]":
            i += 1
        params = data.setdefault(rest[start:i], {})
        while i < n and rest[i] == " ":
            i += 1
            eq = rest.find("=", i)
            if eq < 0 or eq + 1 >= n or rest[eq + 1] != '"':
                return data, rest[i:], 'STRUCTURED-DATA parameter without ="value"'
            name, i = rest[i:eq], eq + 2
            value: list[str] = []
            while i < n and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < n and rest[i + 1] in '"\\]':
                    i += 1
                value.append(rest[i])
                i += 1
            if i >= n:
                return data, "", "STRUCTURED-DATA value without closing quote"
            params[name] = "".join(value)
            i += 1
        if i >= n or rest[i] != "]":
            return data, rest[i:], "STRUCTURED-DATA element without closing ]"
        i += 1
    return data, rest[i:], ""


def _rfc3164(fields: dict[str, Any], rest: str) -> None:
    fields["format"] = "rfc3164"
    stamp = _RFC3164_TS.match(rest)
    if stamp is not None and stamp.group(1) in _MONTHS:
        fields["timestamp"] = stamp.group(0)[:-1]
        rest = rest[stamp.end() :]
    else:
        iso = _ISO_TS.match(rest)  # rsyslog's RSYSLOG_ForwardFormat writes RFC 3339 here
        if iso is None:
            fields["malformed"] = "no RFC 3164 TIMESTAMP"
        else:
            fields["timestamp"] = iso.group(1)
            rest = rest[iso.end() :]
    if fields["timestamp"]:
        host, _, after = rest.partition(" ")
        if host and not host.endswith(":") and after:  # "TAG: msg" has no HOSTNAME
            fields["host"] = host
            rest = after
    tag = _TAG.match(rest)
    if tag is not None and (rest[tag.end() - 1 : tag.end()] in (":", " ") or "[" in tag.group(0)):
        fields["app"] = tag.group(1)
        fields["procid"] = tag.group(2) or ""
        rest = rest[tag.end() :]
    fields["message"] = rest


__all__ = ["FACILITIES", "SEVERITIES", "parse_syslog"]
