"""``pagerbridge sandbox``: run the local PagerDuty (docs/sandbox.md).

Heavy imports (uvicorn, the app, trustme) happen only when the command runs, so ``--help`` stays
fast; the command itself is ready in well under a second. It serves like ``pagerbridge up``
(:mod:`pagerbridge.agent.serving`): the port is bound before the banner, so a busy port is one
line and exit 1, and its log lines share the agent's and the hub's format.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from pagerbridge.cli import exits
from pagerbridge.cli._common import LogFormatOpt, LogLevelOpt, fail, run_guarded, setup_logging

EXIT_USAGE = exits.USAGE


def register(app: typer.Typer) -> None:
    @app.command()
    def sandbox(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
        port: int = typer.Option(8090, "--port", help="Port to listen on."),
        tls: bool = typer.Option(False, "--tls", help="Serve HTTPS with a generated certificate."),
        ca_out: Path | None = typer.Option(
            None, "--ca-out", help="Where to write the CA certificate (with --tls).", dir_okay=False
        ),
        seed: Path | None = typer.Option(
            None, "--seed", help="Seed YAML (default: the built-in demo account).", dir_okay=False
        ),
        state: Path | None = typer.Option(
            None,
            "--state",
            help="JSON state file: loaded at start if present, saved at shutdown.",
            dir_okay=False,
        ),
        sink: bool = typer.Option(
            False, "--sink", help="Receive only: validate and count events (benchmarks)."
        ),
        any_routing_key: bool = typer.Option(
            False, "--any-routing-key", help="Accept unknown routing keys (one service each)."
        ),
        no_rate_limits: bool = typer.Option(
            False, "--no-rate-limits", help="Switch PagerDuty's rate limits off."
        ),
        events_per_minute: int = typer.Option(
            120, "--events-per-minute", help="Events API limit per routing key."
        ),
        rest_per_minute: int = typer.Option(
            960, "--rest-per-minute", help="REST API limit per token."
        ),
        fault_error_rate: float = typer.Option(
            0.0, "--fault-error-rate", help="Fraction of requests answered with an error."
        ),
        fault_error_status: int = typer.Option(
            500, "--fault-error-status", help="Status of injected errors."
        ),
        fault_429_burst: int = typer.Option(
            0, "--fault-429-burst", help="Answer the next N requests with 429."
        ),
        fault_latency: float = typer.Option(
            0.0, "--fault-latency", help="Seconds added to every answer."
        ),
        fault_drop_rate: float = typer.Option(
            0.0, "--fault-drop-rate", help="Fraction of connections closed without an answer."
        ),
        fault_outage: float = typer.Option(
            0.0, "--fault-outage", help="Answer 503 to everything for this many seconds."
        ),
        fault_route: list[str] = typer.Option(
            [], "--fault-route", help="Apply faults only to paths with this prefix (repeatable)."
        ),
        fault_route_error_rate: list[str] = typer.Option(
            [],
            "--fault-route-error-rate",
            help="PREFIX=RATE: error rate for paths with this prefix (repeatable).",
        ),
        public_url: str | None = typer.Option(
            None, "--public-url", help="Base URL written into self/html_url links."
        ),
        log_level: str | None = LogLevelOpt,
        log_format: str | None = LogFormatOpt,
    ) -> None:
        """Run a local PagerDuty (Events API, REST API, webhooks, OAuth) for tests and demos."""
        from pagerbridge.sandbox.limits_faults import check_spec
        from pagerbridge.sandbox.options import FaultSpec, SandboxOptions

        route_rates: list[tuple[str, float]] = []
        for item in fault_route_error_rate:
            prefix, sep, rate = item.rpartition("=")
            try:
                route_rates.append((prefix, float(rate)))
            except ValueError:
                sep = ""
            if not sep or not prefix.startswith("/"):
                fail(f"--fault-route-error-rate wants /PREFIX=RATE, got {item!r}", EXIT_USAGE)
        faults = FaultSpec(
            error_rate=fault_error_rate,
            error_status=fault_error_status,
            burst_429=fault_429_burst,
            latency=fault_latency,
            drop_rate=fault_drop_rate,
            outage_seconds=fault_outage,
            routes=tuple(fault_route),
            route_error_rates=tuple(route_rates),
        )
        try:
            check_spec(faults)
        except ValueError as exc:
            fail(f"fault settings: {exc}", EXIT_USAGE)
        if not 0 < port < 65536:
            fail(f"--port must be between 1 and 65535, got {port}", EXIT_USAGE)
        if events_per_minute < 1 or rest_per_minute < 1:
            fail("--events-per-minute and --rest-per-minute must be positive", EXIT_USAGE)
        if ca_out is not None and not tls:
            fail("--ca-out needs --tls (without it the sandbox serves plain HTTP)", EXIT_USAGE)
        options = SandboxOptions(
            host=host,
            port=port,
            tls=tls,
            ca_out=ca_out,
            seed=seed,
            state_file=state,
            sink=sink,
            any_routing_key=any_routing_key,
            rate_limits=not no_rate_limits,
            events_per_minute=events_per_minute,
            rest_per_minute=rest_per_minute,
            faults=faults,
            public_url=public_url,
        )
        setup_logging(log_level, log_format)
        run_guarded(lambda: serve(options))


def serve(options: object) -> None:
    """Bind, say where, and serve until SIGINT/SIGTERM (the state file is saved on the way out)."""
    from pagerbridge.agent.serving import Served, bind, run_loop, run_services
    from pagerbridge.sandbox.app import create_app
    from pagerbridge.sandbox.options import SandboxOptions
    from pagerbridge.sandbox.tls import make_tls

    assert isinstance(options, SandboxOptions)
    sock = bind(options.host, options.port, option="--host/--port")
    try:
        app = create_app(options)
        tls = None
        if options.tls:
            try:
                tls = make_tls(options.ca_out)
            except OSError as exc:
                fail(f"cannot write the CA certificate: {exc.strerror or exc}")
        served = Served("sandbox", app, sock, (str(tls.cert), str(tls.key)) if tls else None)
    except BaseException:
        sock.close()
        raise
    try:

        async def main() -> None:
            on_ready = lambda: _banner(options, tls)  # noqa: E731
            await run_services(asyncio.Event(), front=[served], on_ready=on_ready)

        run_loop(main)
    finally:
        if tls is not None:
            tls.cleanup()


def _banner(options: object, tls: object) -> None:
    from pagerbridge.sandbox.options import DEMO_ROUTING_KEY, DEMO_TOKEN, SandboxOptions

    assert isinstance(options, SandboxOptions)
    mode = " (sink mode: events are validated and counted only)" if options.sink else ""
    print(f"pagerbridge sandbox: a local PagerDuty{mode}; nothing reaches PagerDuty.", flush=True)
    print(f"  REST API:    {options.url}   (Authorization: Token token={DEMO_TOKEN})")
    print(f"  Events API:  {options.url}/v2/enqueue   (routing key {DEMO_ROUTING_KEY})")
    ca = getattr(tls, "ca", None)
    if ca is not None:
        print(f"  CA certificate: {ca}")
    if options.state_file:
        print(f"  state file:  {options.state_file}")
    print(f"  status page: {options.url}/", flush=True)
