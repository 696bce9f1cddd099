"""The syslog source: UDP, TCP and TLS listeners feeding the agent's sink.

Each message is parsed (:mod:`.syslog_parse`) and submitted as soon as it is read; the sink
stores it through the group commit, so many messages in flight share one fsync. A stream
connection stops reading while ``STREAM_WINDOW`` of its messages are in flight (TCP backpressure
reaches the sender); UDP cannot push back, so beyond ``UDP_WINDOW`` in flight a datagram is
dropped and counted (``errors{reason="overload"}``), like the kernel drops what overflows the
socket buffer (which no one can count here: see docs/sources/syslog.md).

What is lost at a crash: only what was read but not yet stored (in flight: at most a window) and
what sits in socket buffers; plain syslog has no acknowledgement, so the sender cannot know.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from typing import Any, cast

from pagerbridge.agent.config import split_host_port
from pagerbridge.agent.serving import CannotListen, bind
from pagerbridge.agent.sources.base import SourceSink
from pagerbridge.agent.sources.settings import SourceSettings
from pagerbridge.agent.sources.syslog_config import SyslogSettings, SyslogTlsSettings
from pagerbridge.agent.sources.syslog_framing import FrameDecoder, FramingError
from pagerbridge.agent.sources.syslog_parse import parse_syslog
from pagerbridge.errors import ConfigError

log = logging.getLogger("pagerbridge.agent.sources.syslog")

#: Messages of one stream connection in flight before it stops reading.
STREAM_WINDOW = 1024
#: UDP messages in flight before datagrams are dropped (and counted).
UDP_WINDOW = 20_000
#: Receive buffer asked for the UDP socket (the kernel caps it at net.core.rmem_max).
UDP_RCVBUF = 8 * 1024 * 1024


class _Pipeline:
    """Parse → submit tasks for one source; tracks what is in flight so stop() can wait."""

    def __init__(self, name: str, sink: SourceSink) -> None:
        self.name = name
        self.sink = sink
        self.tasks: set[asyncio.Task[Any]] = set()

    def message(self, data: bytes, peer: str, transport: str) -> asyncio.Task[Any]:
        fields = parse_syslog(data, peer=peer, transport=transport)
        if fields["malformed"]:
            self.sink.malformed(self.name, fields["malformed"], peer=peer)
        task = asyncio.get_running_loop().create_task(self.sink.submit(self.name, fields))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


def _peer(address: Any) -> str:
    if isinstance(address, tuple) and address:
        return str(address[0])
    return str(address or "")


class _Stream(asyncio.Protocol):
    """One TCP or TLS connection."""

    def __init__(self, source: SyslogSource, transport_name: str) -> None:
        self._source = source
        self._kind = transport_name
        self._decoder = FrameDecoder(source.settings.max_message_bytes)
        self._transport: asyncio.Transport | None = None
        self._peer = ""
        self._in_flight = 0
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._peer = _peer(transport.get_extra_info("peername"))
        source = self._source
        if len(source.connections) >= source.settings.max_connections:
            source.sink_error(
                f"too many connections ({len(source.connections)}); refused {self._peer}"
            )
            self._transport.abort()
            return
        source.connections.add(self)

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._decoder.feed(data)
        except FramingError as exc:
            self._source.malformed(f"{exc}; connection closed", self._peer)
            self.close()
            return
        for problem in self._decoder.problems:
            self._source.malformed(problem, self._peer)
        self._decoder.problems.clear()
        for frame in frames:
            if not frame.strip():
                continue
            task = self._source.pipeline.message(frame, self._peer, self._kind)
            self._in_flight += 1
            task.add_done_callback(self._done)
        if self._in_flight >= STREAM_WINDOW and not self._paused and self._transport:
            self._paused = True
            self._transport.pause_reading()

    def _done(self, _task: asyncio.Task[Any]) -> None:
        self._in_flight -= 1
        if self._paused and self._in_flight <= STREAM_WINDOW // 2 and self._transport:
            self._paused = False
            if not self._transport.is_closing():
                self._transport.resume_reading()

    def eof_received(self) -> bool | None:
        if self._decoder.mode == "lf" and self._decoder.pending:  # a last line without LF
            self.data_received(b"\n")
        elif self._decoder.pending:
            self._source.malformed("connection closed inside an octet-counted frame", self._peer)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._source.connections.discard(self)
        if exc is not None and not isinstance(exc, ConnectionResetError | ssl.SSLError):
            self._source.sink_error(f"connection from {self._peer} lost: {exc}")

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, source: SyslogSource) -> None:
        self._source = source

    def datagram_received(self, data: bytes, addr: Any) -> None:
        source = self._source
        if len(source.pipeline.tasks) >= UDP_WINDOW:
            source.overload()
            return
        if len(data) > source.settings.max_message_bytes:
            source.malformed(f"datagram of {len(data)} bytes, cut", _peer(addr))
            data = data[: source.settings.max_message_bytes]
        if data.strip():
            source.pipeline.message(data, _peer(addr), "udp")

    def error_received(self, exc: Exception) -> None:
        self._source.sink_error(f"UDP receive error: {exc}")


def _tls_context(tls: SyslogTlsSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _load_chain(context, tls)
    return context


def _load_chain(context: ssl.SSLContext, tls: SyslogTlsSettings) -> None:
    try:
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load the TLS certificate and key: {exc}", key="sources.syslog.tls"
        ) from exc


class SyslogSource:
    """The ``syslog`` source: listeners for UDP, TCP and TLS (each optional)."""

    def __init__(self, name: str, settings: SyslogSettings) -> None:
        self.name = name
        self.settings = settings
        self.connections: set[_Stream] = set()
        self._pipeline: _Pipeline | None = None
        self._servers: dict[str, tuple[Any, asyncio.Server]] = {}  # kind -> (key, server)
        self._udp: tuple[str, asyncio.DatagramTransport] | None = None
        self._tls: ssl.SSLContext | None = None

    @property
    def pipeline(self) -> _Pipeline:
        assert self._pipeline is not None, "start() first"
        return self._pipeline

    # -- counters, through the sink ----------------------------------------------------------

    def malformed(self, detail: str, peer: str) -> None:
        self.pipeline.sink.malformed(self.name, detail, peer=peer)

    def sink_error(self, detail: str) -> None:
        self.pipeline.sink.listener_error(self.name, detail)

    def overload(self) -> None:
        sink = self.pipeline.sink
        counters = getattr(sink, "counters", None)
        if counters is not None:
            counters(self.name).error("overload")
        else:
            sink.listener_error(self.name, "overload: UDP datagram dropped")

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def addresses(self) -> dict[str, tuple[str, int]]:
        """Bound addresses by transport (``udp``/``tcp``/``tls``), for tests and logs."""
        found: dict[str, tuple[str, int]] = {}
        if self._udp is not None:
            host, port = self._udp[1].get_extra_info("sockname")[:2]
            found["udp"] = (str(host), int(port))
        for kind, (_, server) in self._servers.items():
            host, port = server.sockets[0].getsockname()[:2]
            found[kind] = (str(host), int(port))
        return found

    async def start(self, sink: SourceSink) -> None:
        self._pipeline = _Pipeline(self.name, sink)
        try:
            await self._bind(self.settings)
        except BaseException:
            await self._close_listeners(set(self._servers) | {"udp"})
            raise

    async def _bind(self, settings: SyslogSettings) -> None:
        if settings.udp is not None and (self._udp is None or self._udp[0] != settings.udp):
            await self._close_listeners({"udp"})
            self._udp = (settings.udp, await self._bind_udp(settings.udp))
        if settings.tcp is not None and self._key("tcp") != settings.tcp:
            await self._close_listeners({"tcp"})
            self._servers["tcp"] = (settings.tcp, await self._serve("tcp", settings.tcp, None))
        if settings.tls is not None and self._key("tls") != settings.tls:
            context = _tls_context(settings.tls)  # before closing: a bad file changes nothing
            await self._close_listeners({"tls"})
            server = await self._serve("tls", settings.tls.listen, context)
            self._servers["tls"] = (settings.tls, server)
            self._tls = context
        elif settings.tls is not None and self._tls is not None:
            # Same files: read them again, so a certificate renewed in place is served to new
            # connections after SIGHUP (load_cert_chain replaces the context's certificate).
            _load_chain(self._tls, settings.tls)
        gone = {
            k
            for k, v in (("udp", settings.udp), ("tcp", settings.tcp), ("tls", settings.tls))
            if v is None
        }
        await self._close_listeners(gone)
        for kind, (host, port) in self.addresses.items():
            log.info("syslog listening on %s %s:%d", kind, host, port)

    def _key(self, kind: str) -> Any:
        found = self._servers.get(kind)
        return found[0] if found else None

    async def _serve(
        self, kind: str, address: str, context: ssl.SSLContext | None
    ) -> asyncio.Server:
        host, port = split_host_port(address)
        option = f"sources.syslog.{kind}" if kind != "tls" else "sources.syslog.tls.listen"
        sock = bind(host, port, option=option)
        loop = asyncio.get_running_loop()
        if context is None:
            return await loop.create_server(lambda: _Stream(self, kind), sock=sock)
        return await loop.create_server(
            lambda: _Stream(self, kind), sock=sock, ssl=context, ssl_handshake_timeout=10.0
        )

    async def _bind_udp(self, address: str) -> asyncio.DatagramTransport:
        host, port = split_host_port(address)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RCVBUF)
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise CannotListen(
                f"udp {address}", exc.strerror or str(exc), _udp_hint(exc, port)
            ) from exc
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self), sock=sock)
        return transport

    async def _close_listeners(self, kinds: set[str]) -> None:
        """Stop accepting on these listeners; open connections go on (they end on their own or
        at ``stop``)."""
        if "udp" in kinds and self._udp is not None:
            self._udp[1].close()
            self._udp = None
        for kind in kinds - {"udp"}:
            found = self._servers.pop(kind, None)
            if found is not None:
                found[1].close()

    async def reload(self, settings: SourceSettings) -> None:
        """Rebind only listeners whose address (or TLS files) changed; limits apply to new
        connections; rules were swapped by the sink already."""
        assert isinstance(settings, SyslogSettings)
        old, self.settings = self.settings, settings
        try:
            await self._bind(settings)
        except BaseException:
            self.settings = old
            raise

    async def stop(self) -> None:
        await self._close_listeners({"udp", "tcp", "tls"})
        for connection in list(self.connections):
            connection.close()
        if self._pipeline is not None:
            await self._pipeline.drain()


def _udp_hint(exc: OSError, port: int) -> str | None:
    import errno

    if exc.errno == errno.EACCES:
        return "ports below 1024 need root or CAP_NET_BIND_SERVICE (use 5514, the default)"
    if exc.errno == errno.EADDRINUSE:
        return f"another process listens on UDP port {port} (`ss -lunp 'sport = :{port}'`)"
    return None


__all__ = ["STREAM_WINDOW", "UDP_WINDOW", "SyslogSource"]
