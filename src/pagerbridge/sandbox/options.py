"""What a sandbox is started with: one frozen object, built by the CLI or ``running_sandbox``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pagerbridge.pagerduty.limits import EVENTS_PER_MINUTE_PER_KEY, REST_REQUESTS_PER_MINUTE
from pagerbridge.sandbox.faults_scripted import ScriptedFault

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8090
DEMO_ROUTING_KEY = "deadbeefdeadbeefdeadbeefdeadbeef"
DEMO_TOKEN = "sandbox-token"
DEMO_READONLY_TOKEN = "sandbox-readonly-token"
DEMO_USER_TOKEN = "sandbox-user-token"
DEMO_SERVICE_ID = "PDEMO01"
DEMO_USER_EMAIL = "oncall@example.com"


@dataclass(frozen=True)
class FaultSpec:
    """Faults to inject; all off by default. ``routes`` limits them to path prefixes."""

    #: Fraction (0..1) of requests answered with ``error_status``.
    error_rate: float = 0.0
    error_status: int = 500
    #: The next ``burst_429`` requests get a 429 (then normal service resumes).
    burst_429: int = 0
    #: Seconds added before every answer.
    latency: float = 0.0
    #: Fraction (0..1) of requests whose connection is closed without an answer.
    drop_rate: float = 0.0
    #: Seconds from now during which every request gets a 503 (an outage window).
    outage_seconds: float = 0.0
    #: Path prefixes the faults apply to (empty: every route except ``/_sandbox/``).
    routes: tuple[str, ...] = ()
    #: Error rate per path prefix, ``((prefix, rate), ...)``: the longest matching prefix's rate
    #: replaces ``error_rate`` for that path (whatever ``routes`` says).
    route_error_rates: tuple[tuple[str, float], ...] = ()
    #: "The next N requests to this path do X" rules (``faults_scripted``), used up in order.
    scripted: tuple[ScriptedFault, ...] = ()


@dataclass(frozen=True)
class SandboxOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    tls: bool = False
    #: Where to write the CA certificate for ``tls`` (None: the data directory).
    ca_out: Path | None = None
    #: Seed YAML (None: the built-in demo account).
    seed: Path | None = None
    #: JSON file loaded at start (if present) and saved at shutdown.
    state_file: Path | None = None
    #: Receive-only: validate and count events, no incident logic, no arrival record.
    sink: bool = False
    #: Accept events for unknown routing keys by creating a service for each one.
    any_routing_key: bool = False
    rate_limits: bool = True
    events_per_minute: int = EVENTS_PER_MINUTE_PER_KEY
    rest_per_minute: int = REST_REQUESTS_PER_MINUTE
    faults: FaultSpec = field(default_factory=FaultSpec)
    #: Base URL written into ``self``/``html_url`` (None: derived from host, port and tls).
    public_url: str | None = None

    @property
    def url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"
