"""Hostile input for the syslog parsers: no exception escapes, ever; what comes out is usable."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from pagerbridge.agent.sources.syslog_config import SYSLOG_FIELDS
from pagerbridge.agent.sources.syslog_framing import FrameDecoder, FramingError
from pagerbridge.agent.sources.syslog_parse import parse_syslog

PIECES = st.sampled_from(
    [b"<", b">", b"1 ", b"<13>", b"<191>", b"<999>", b"-", b" ", b"[", b"]", b'"', b"\\", b"=",
     b"Oct 11 22:14:15 ", b"2026-12-03T10:00:00Z ", b"host ", b"app[12]: ", b"\xef\xbb\xbf",
     b"\xff", b"\x00", b"\n", b"id@1 a=\"x\"", b"12 ", b"\r\n"]
)  # fmt: skip
SYSLOGISH = st.lists(PIECES | st.binary(max_size=8), max_size=30).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(SYSLOGISH | st.binary(max_size=300))
def test_parse_never_raises_and_gives_every_field_as_json(data: bytes) -> None:
    fields = parse_syslog(data, peer="192.0.2.1", transport="tcp")
    assert set(fields) == SYSLOG_FIELDS
    json.dumps(fields, allow_nan=False)  # custom_details must be storable
    assert 0 <= fields["pri"] <= 191
    assert isinstance(fields["message"], str)
    assert not fields["malformed"].startswith("parser error")  # the parser, not its safety net


@settings(max_examples=300, deadline=None)
@given(st.lists(SYSLOGISH | st.binary(max_size=40), max_size=12), st.integers(16, 200))
def test_framing_never_buffers_past_its_cap_and_only_raises_framing_error(
    chunks: list[bytes], cap: int
) -> None:
    decoder = FrameDecoder(cap)
    try:
        for chunk in chunks:
            for frame in decoder.feed(chunk):
                assert len(frame) <= cap
            assert decoder.pending <= cap + 16  # a frame's header at most beyond the cap
    except FramingError:
        assert decoder.mode == "octet"


@given(st.lists(st.binary(min_size=1, max_size=50), min_size=1, max_size=10), st.data())
def test_octet_counted_frames_survive_any_split(frames: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(b"%d %s" % (len(f), f) for f in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    decoder = FrameDecoder(64)
    out: list[bytes] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        out += decoder.feed(stream[start:end])
    assert out == frames
