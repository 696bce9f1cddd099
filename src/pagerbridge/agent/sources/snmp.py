"""The SNMP source: traps and INFORMs (v1, v2c, v3) on one UDP port, via pysnmp's engine.

pysnmp's own NotificationReceiver answers an INFORM *before* it hands the notification to the
application. This source registers its own receiver with the engine's message dispatcher
instead: it decodes the PDU, submits the fields, and calls ``return_response_pdu`` only once
``submit`` says the event is durable (or that nothing will ever be stored: no rule, a drop
rule). When storing fails (queue full, database down) no answer goes out, so the sender sends
the INFORM again. pysnmp keeps the request's state for 600 timer ticks (60 s); an answer that
would come later is not sent (the sender has retried by then anyway).

Datagrams that the engine refuses (unknown community, unknown v3 user or engine ID, wrong
digest, undecryptable, unparsable, not a notification) are told apart by the engine's own
statistics counters (snmpInBadCommunityNames, usmStatsWrongDigests...), read around each
datagram, and reported to the sink as malformed (counted, logged rate-limited). Nothing a
datagram holds can stop the listener.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable
from typing import Any

from pyasn1.type import univ  # type: ignore[import-untyped]
from pysnmp.carrier.asyncio.dgram import udp  # type: ignore[import-untyped]
from pysnmp.carrier.asyncio.dispatch import AsyncioDispatcher  # type: ignore[import-untyped]
from pysnmp.entity import config as snmp_config  # type: ignore[import-untyped]
from pysnmp.entity.engine import SnmpEngine  # type: ignore[import-untyped]
from pysnmp.proto import rfc3411  # type: ignore[import-untyped]
from pysnmp.proto.api import v1 as api_v1  # type: ignore[import-untyped]
from pysnmp.proto.api import v2c as api_v2c
from pysnmp.proto.proxy import rfc2576  # type: ignore[import-untyped]

from pagerbridge.agent.config import split_host_port
from pagerbridge.agent.serving import CannotListen
from pagerbridge.agent.sources.base import Outcome, SourceSink
from pagerbridge.agent.sources.settings import SourceSettings
from pagerbridge.agent.sources.snmp_config import SnmpSettings, SnmpUser, parse_engine_id
from pagerbridge.agent.sources.snmp_fields import VERSIONS, TrapDecoder, json_value
from pagerbridge.agent.sources.snmp_names import OidNames
from pagerbridge.errors import ConfigError

log = logging.getLogger("pagerbridge.agent.sources.snmp")

#: Notifications decoded but not yet stored; beyond this, new ones are refused (counted; an
#: INFORM is then not answered, so its sender retries).
MAX_IN_FLIGHT = 8192

_AUTH = {
    "MD5": snmp_config.USM_AUTH_HMAC96_MD5,
    "SHA": snmp_config.USM_AUTH_HMAC96_SHA,
    "SHA224": snmp_config.USM_AUTH_HMAC128_SHA224,
    "SHA256": snmp_config.USM_AUTH_HMAC192_SHA256,
    "SHA384": snmp_config.USM_AUTH_HMAC256_SHA384,
    "SHA512": snmp_config.USM_AUTH_HMAC384_SHA512,
}
_PRIV = {
    "DES": snmp_config.USM_PRIV_CBC56_DES,
    "3DES": snmp_config.USM_PRIV_CBC168_3DES,
    "AES": snmp_config.USM_PRIV_CFB128_AES,
    "AES128": snmp_config.USM_PRIV_CFB128_AES,
    "AES192": snmp_config.USM_PRIV_CFB192_AES,
    "AES256": snmp_config.USM_PRIV_CFB256_AES,
}
#: Engine statistics → (the reason a refused datagram is reported with, or None when it is
#: part of the normal v3 handshake: engine ID discovery and time synchronisation).
_REFUSALS: tuple[tuple[str, str, str | None], ...] = (
    ("__SNMPv2-MIB", "snmpInASNParseErrs", "not an SNMP message"),
    ("__SNMPv2-MIB", "snmpInBadVersions", "unsupported SNMP version"),
    ("__SNMPv2-MIB", "snmpInBadCommunityNames", "unknown community"),
    ("__SNMPv2-MIB", "snmpInBadCommunityUses", "community not allowed for this"),
    ("__SNMP-MPD-MIB", "snmpUnknownSecurityModels", "unknown security model"),
    ("__SNMP-MPD-MIB", "snmpInvalidMsgs", "invalid message"),
    ("__SNMP-MPD-MIB", "snmpUnknownPDUHandlers", "not a trap or INFORM"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnsupportedSecLevels", "v3 security level not allowed"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownUserNames", "unknown v3 user or engine ID"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsWrongDigests", "wrong v3 authentication key"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsDecryptionErrors", "wrong v3 privacy key"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownEngineIDs", None),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsNotInTimeWindows", None),
)
_NOTIFICATIONS = (
    api_v1.TrapPDU.tagSet,
    api_v2c.SNMPv2TrapPDU.tagSet,
    api_v2c.InformRequestPDU.tagSet,
)


def bind_udp(listen: str) -> socket.socket:
    """The listening socket, bound now, so a wrong address fails start-up with a clear error."""
    host, port = split_host_port(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        hint = None
        if exc.errno == errno.EACCES and port < 1024:
            hint = "ports below 1024 need root or CAP_NET_BIND_SERVICE; the default is 1162"
        elif exc.errno == errno.EADDRINUSE:
            hint = f"another process listens there (`ss -lunp 'sport = :{port}'` names it)"
        raise CannotListen(f"udp {listen} (snmp)", exc.strerror or str(exc), hint) from exc
    sock.setblocking(False)
    return sock


def add_user(engine: SnmpEngine, user: SnmpUser, engine_id: bytes | None) -> None:
    """Register ``user`` for ``engine_id`` (a trap sender's) or for our own engine (None)."""
    auth = _AUTH[user.auth_protocol] if user.auth_key else snmp_config.USM_AUTH_NONE
    priv = _PRIV[user.priv_protocol] if user.priv_key else snmp_config.USM_PRIV_NONE
    extra: dict[str, Any] = {}
    if engine_id is not None:
        extra["securityEngineId"] = univ.OctetString(engine_id)
    snmp_config.add_v3_user(
        engine,
        user.name,
        auth,
        user.auth_key.get_secret_value() if user.auth_key else None,
        priv,
        user.priv_key.get_secret_value() if user.priv_key else None,
        **extra,
    )


class _Listener:
    """One pysnmp engine bound to one UDP socket, feeding the source's ``accept``."""

    def __init__(
        self, settings: SnmpSettings, accept: Callable[..., None], refused: Callable[..., None]
    ) -> None:
        self.settings = settings
        self._accept = accept
        self._refused = refused
        self.engine = SnmpEngine(univ.OctetString(settings.local_engine_id()))
        self.communities: dict[str, str] = {}
        self._configure(settings)
        builder = self.engine.get_mib_builder()
        self._stats = [
            (builder.import_symbols(module, name)[0], reason) for module, name, reason in _REFUSALS
        ]
        self._peer: tuple[str, int] = ("", 0)
        self._taken = False
        self.engine.message_dispatcher.register_context_engine_id(
            b"", _NOTIFICATIONS, self._process_pdu
        )
        self._transport: Any = None

    def _configure(self, settings: SnmpSettings) -> None:
        for i, community in enumerate(settings.communities):
            index = f"community-{i}"
            snmp_config.add_v1_system(self.engine, index, community.get_secret_value())
            self.communities[index] = community.get_secret_value()
        for user in settings.users:
            add_user(self.engine, user, None)
            for engine_id in user.engine_ids:
                add_user(self.engine, user, parse_engine_id(engine_id))

    def _unconfigure(self) -> None:
        for index in self.communities:
            snmp_config.delete_v1_system(self.engine, index)
        self.communities = {}
        for user in self.settings.users:
            snmp_config.delete_v3_user(self.engine, user.name)
            for engine_id in user.engine_ids:
                snmp_config.delete_v3_user(
                    self.engine, user.name, univ.OctetString(parse_engine_id(engine_id))
                )

    def reconfigure(self, settings: SnmpSettings) -> None:
        """New communities and users on the same engine and socket (nothing is unbound)."""
        self._unconfigure()
        self.settings = settings
        self._configure(settings)

    async def open(self) -> None:
        sock = bind_udp(self.settings.listen)
        dispatcher = AsyncioDispatcher(loop=asyncio.get_running_loop())
        self.engine.register_transport_dispatcher(dispatcher)
        # Our callback in front of the engine's, to see which datagrams it refuses.
        dispatcher.unregister_recv_callback()
        dispatcher.register_recv_callback(self._datagram)
        self._transport = udp.UdpAsyncioTransport().open_server_mode(sock=sock)
        snmp_config.add_transport(self.engine, udp.DOMAIN_NAME, self._transport)
        await self._transport._lport  # the endpoint exists: datagrams are being read

    def close(self) -> None:
        if self.engine.transport_dispatcher is not None:
            self.engine.close_dispatcher()

    def _datagram(self, dispatcher: Any, domain: Any, address: Any, message: bytes) -> None:
        before = [stat.syntax for stat, _ in self._stats]
        self._peer = (str(address[0]), int(address[1]))
        self._taken = False
        try:
            self.engine.message_dispatcher.receive_message(self.engine, domain, address, message)
        except Exception as exc:
            self._refused(self._peer, f"undecodable ({type(exc).__name__})")
            return
        if self._taken:
            return
        for (stat, reason), old in zip(self._stats, before, strict=True):
            if stat.syntax is not old:
                if reason is not None:
                    self._refused(self._peer, reason)
                return
        self._refused(self._peer, "not a trap or INFORM")

    def _process_pdu(
        self,
        engine: SnmpEngine,
        mp_model: int,
        security_model: Any,
        security_name: Any,
        security_level: Any,
        context_engine_id: Any,
        context_name: Any,
        pdu_version: Any,
        pdu: Any,
        max_size: Any,
        state_reference: Any,
    ) -> None:
        """Called by the engine for an authenticated notification (see the module doc)."""
        self._taken = True
        answer: Callable[[], None] | None = None
        if pdu.tagSet in rfc3411.CONFIRMED_CLASS_PDUS:
            response = api_v2c.apiPDU.get_response(pdu)
            api_v2c.apiPDU.set_error_status(response, 0)
            api_v2c.apiPDU.set_error_index(response, 0)
            api_v2c.apiPDU.set_varbinds(response, api_v2c.apiPDU.get_varbinds(pdu))
            if mp_model == 0:
                response = rfc2576.v2_to_v1(response, pdu)

            def answer() -> None:
                engine.message_dispatcher.return_response_pdu(
                    engine,
                    mp_model,
                    security_model,
                    security_name,
                    security_level,
                    context_engine_id,
                    context_name,
                    pdu_version,
                    response,
                    max_size,
                    state_reference,
                    {},
                )

        name = str(security_name)
        v1: dict[str, Any] | None = None
        if pdu.tagSet == api_v1.TrapPDU.tagSet:
            api = api_v1.apiTrapPDU
            v1 = {
                "enterprise": tuple(api.get_enterprise(pdu)),
                "agent_addr": json_value(api.get_agent_address(pdu)),
                "generic": int(api.get_generic_trap(pdu)),
                "specific": int(api.get_specific_trap(pdu)),
                "timestamp": int(api.get_timestamp(pdu)),
            }
            varbinds = api.get_varbinds(pdu)
        else:
            varbinds = api_v2c.apiPDU.get_varbinds(pdu)
        self._accept(
            version=VERSIONS.get(mp_model, str(mp_model)),
            confirmed=answer is not None,
            varbinds=varbinds,
            peer=self._peer,
            community=self.communities.get(name) if mp_model in (0, 1) else None,
            user=name if mp_model == 3 else None,
            context=bytes(context_name).decode("utf-8", "replace") if mp_model == 3 else None,
            v1=v1,
            answer=answer,
        )


class SnmpSource:
    """``sources.snmp``: see the module doc."""

    def __init__(self, name: str, settings: SnmpSettings) -> None:
        self.name = name
        self.settings = settings
        self._sink: SourceSink | None = None
        self._listener: _Listener | None = None
        self._decoder = TrapDecoder(OidNames())
        self._tasks: set[asyncio.Task[None]] = set()
        self._accepting = False

    @property
    def address(self) -> tuple[str, int]:
        """Where the listener is bound (the real port when ``listen`` asked for port 0)."""
        assert self._listener is not None and self._listener._transport is not None
        sockname = self._listener._transport.transport.get_extra_info("sockname")
        return str(sockname[0]), int(sockname[1])

    async def start(self, sink: SourceSink) -> None:
        self._sink = sink
        self._decoder = TrapDecoder(await _names(self.settings))
        self._listener = await self._open(self.settings)
        self._accepting = True

    async def _open(self, settings: SnmpSettings) -> _Listener:
        try:
            listener = _Listener(settings, self._accept, self._refused)
        except Exception as exc:
            raise ConfigError(f"SNMP settings refused by pysnmp: {exc}") from exc
        await listener.open()
        log.info("%s: listening for SNMP traps and INFORMs on udp %s", self.name, settings.listen)
        return listener

    async def stop(self) -> None:
        self._accepting = False  # INFORMs arriving now go unanswered: their senders retry
        await self._drain()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    async def _drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def reload(self, settings: SourceSettings) -> None:
        assert isinstance(settings, SnmpSettings) and self._listener is not None
        old = self.settings
        names = await _names(settings)
        rebuild = (old.listen, old.local_engine_id()) != (
            settings.listen,
            settings.local_engine_id(),
        )
        if not rebuild:
            self._listener.reconfigure(settings)
        elif old.listen != settings.listen:
            new = await self._open(settings)  # bound first: nothing is lost on the old port
            await self._drain()
            self._listener.close()
            self._listener = new
        else:  # same port, new engine ID: a moment with no listener (INFORMs are retried)
            self._accepting = False
            await self._drain()
            self._listener.close()
            self._listener = await self._open(settings)
            self._accepting = True
        self._decoder = TrapDecoder(names)
        self.settings = settings

    def _refused(self, peer: tuple[str, int], reason: str) -> None:
        if self._sink is not None:
            self._sink.malformed(self.name, reason, peer=peer[0])

    def _accept(self, *, answer: Callable[[], None] | None, **decoded: Any) -> None:
        sink = self._sink
        if sink is None or not self._accepting:
            return
        if len(self._tasks) >= MAX_IN_FLIGHT:
            sink.listener_error(self.name, "too many notifications waiting to be stored")
            return
        try:
            fields, truncated = self._decoder.fields(**decoded)
        except Exception as exc:
            sink.malformed(self.name, f"undecodable varbinds ({type(exc).__name__})")
            return
        if truncated:
            sink.malformed(self.name, "too many varbinds: the rest were left out")
        task = asyncio.get_running_loop().create_task(self._submit(sink, fields, answer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _submit(
        self, sink: SourceSink, fields: dict[str, Any], answer: Callable[[], None] | None
    ) -> None:
        result = await sink.submit(self.name, fields)
        if answer is None or result.outcome is Outcome.ERROR:
            return  # not stored: no answer, so the INFORM is sent again
        try:
            answer()
        except Exception as exc:
            log.debug("%s: INFORM answer not sent: %s", self.name, exc)


async def _names(settings: SnmpSettings) -> OidNames:
    """The standard names plus the configured MIBs' (compiled off the event loop)."""
    if not settings.mibs:
        return OidNames()
    from pagerbridge.agent.sources.snmp_mibs import load_mib_names

    names, enums = await asyncio.to_thread(
        load_mib_names, settings.mib_dirs, settings.mibs, settings.mib_cache
    )
    return OidNames(names, enums)


__all__ = ["MAX_IN_FLIGHT", "SnmpSource", "bind_udp"]
