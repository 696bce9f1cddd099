"""Syslog over a stream (TCP, TLS): RFC 6587 framing, detected per connection.

The first byte of a connection decides: a digit means *octet counting* (``LEN SP MSG``, what
RFC 5425 TLS and rsyslog's ``TCP_Framing="octet-counted"`` send); anything else means
*non-transparent framing*, one message per LF (``logger -T``, rsyslog's default). A message longer
than ``max_bytes`` is cut there (the rest is skipped) and reported, never buffered without bound.
A broken octet count (not a number) loses the framing: the caller closes the connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Digits allowed in an octet count (16 MiB fits in 8).
MAX_COUNT_DIGITS = 9


class FramingError(Exception):
    """The stream cannot be framed any more (a bad octet count)."""


@dataclass
class FrameDecoder:
    """Feed bytes, get whole messages; ``problems`` collects what was cut (and why)."""

    max_bytes: int
    mode: str | None = None  # "octet" or "lf", set by the first byte
    problems: list[str] = field(default_factory=list)
    _buffer: bytearray = field(default_factory=bytearray)
    _skip: int = 0  # octet mode: bytes of an over-long message still to discard
    _skipping_line: bool = False  # LF mode: discarding the rest of an over-long line

    def feed(self, data: bytes) -> list[bytes]:
        if not data:
            return []
        if self.mode is None:
            self.mode = "octet" if data[:1].isdigit() else "lf"
        self._buffer += data
        return self._octets() if self.mode == "octet" else self._lines()

    def _lines(self) -> list[bytes]:
        out: list[bytes] = []
        buf = self._buffer
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            if self._skipping_line:
                self._skipping_line = False
            else:
                out.append(self._cut(bytes(buf[start:end])))
            start = end + 1
        del buf[:start]
        if len(buf) > self.max_bytes and not self._skipping_line:
            out.append(self._cut(bytes(buf)))
            self._skipping_line = True
        if self._skipping_line:
            buf.clear()
        return out

    def _cut(self, frame: bytes) -> bytes:
        if len(frame) > self.max_bytes:
            self.problems.append(f"message longer than {self.max_bytes} bytes, cut there")
            return frame[: self.max_bytes]
        return frame

    def _octets(self) -> list[bytes]:
        out: list[bytes] = []
        buf = self._buffer
        while buf:
            if self._skip:
                dropped = min(self._skip, len(buf))
                del buf[:dropped]
                self._skip -= dropped
                continue
            while buf and buf[0] in (10, 13, 0):  # tolerate LF, CR, NUL between frames
                del buf[:1]
            space = buf.find(b" ", 0, MAX_COUNT_DIGITS + 1)
            if space < 0:
                if len(buf) > MAX_COUNT_DIGITS or (buf and not bytes(buf).isdigit()):
                    raise FramingError("an octet-counted frame does not start with LEN SP")
                break
            count_text = bytes(buf[:space])
            if not count_text.isdigit():
                raise FramingError("an octet-counted frame does not start with LEN SP")
            count = int(count_text)
            have = len(buf) - space - 1
            if count > self.max_bytes:
                if have < self.max_bytes:
                    break
                out.append(bytes(buf[space + 1 : space + 1 + self.max_bytes]))
                self.problems.append(f"message of {count} bytes, cut at {self.max_bytes}")
                del buf[: space + 1 + self.max_bytes]
                self._skip = count - self.max_bytes
                continue
            if have < count:
                break
            out.append(bytes(buf[space + 1 : space + 1 + count]))
            del buf[: space + 1 + count]
        return out

    @property
    def pending(self) -> int:
        """Bytes read but not yet a whole message (lost if the connection ends now)."""
        return len(self._buffer)


__all__ = ["FrameDecoder", "FramingError"]
