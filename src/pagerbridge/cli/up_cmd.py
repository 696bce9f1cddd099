"""``pagerbridge up`` and ``pagerbridge agent``: start the hub, the local agent and the sandbox.

``agent`` runs the agent alone (production daemon on a monitored host). ``up`` runs everything
for one machine in ONE process and ONE event loop: the agent on :8081, the hub on :8080 when it
is installed, and, when the configuration names no PagerDuty region or URL, the sandbox on :8090
with the agent pointed at it (sandbox mode, announced loudly). Heavy imports happen inside the
commands so ``pagerbridge --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from pagerbridge.cli._common import LogFormatOpt, LogLevelOpt, run_guarded, setup_logging

if TYPE_CHECKING:
    from pagerbridge.agent.config import AgentConfig
    from pagerbridge.agent.serving import Served

SANDBOX_BANNER = "SANDBOX MODE: nothing reaches PagerDuty"

ConfigOpt = typer.Option(None, "--config", "-c", help="Agent configuration file (YAML).")
DbOpt = typer.Option(
    None,
    "--db",
    help="Database URL or SQLite file (else $PAGERBRIDGE_DATABASE_URL, config, default).",
)
EventsUrlOpt = typer.Option(
    None,
    "--events-url",
    help="Events API base URL (https://events.pagerduty.com); /v2/enqueue is accepted too.",
)


#: The sandbox's account under ``up`` (incidents survive a restart, in step with ours).
SANDBOX_STATE_FILE = "sandbox-state.json"


def _database_url(cli_db: str | None, config: AgentConfig) -> str:
    """``--db``, else ``$PAGERBRIDGE_DATABASE_URL``, else config ``database``, else default."""
    from pagerbridge.paths import DATABASE_URL_ENV, normalise_database_url, resolve_database_url

    if cli_db:
        return normalise_database_url(cli_db)
    if not os.environ.get(DATABASE_URL_ENV) and config.database:
        return normalise_database_url(config.database)
    return resolve_database_url(None)


def _load(config_path: Path | None, *, listen: str | None, events_url: str | None) -> AgentConfig:
    from pagerbridge.agent.config import apply_overrides, check_security, load_agent_config

    config = apply_overrides(load_agent_config(config_path), listen=listen, events_url=events_url)
    check_security(config)
    return config


def _say(text: str = "") -> None:
    print(text, flush=True)


def _describe_target(kind: str, url: str) -> str:
    from pagerbridge.store.engine import redact_url

    return {"forward": "the hub agent at ", "sandbox": "the SANDBOX at "}.get(
        kind, ""
    ) + redact_url(url)


def run_agent(
    config_path: Path | None, listen: str | None, db: str | None, events_url: str | None
) -> None:
    from pagerbridge.agent.runtime import Agent, resolve_target
    from pagerbridge.agent.serving import run_loop, run_services, serve_app
    from pagerbridge.store.engine import redact_url

    config = _load(config_path, listen=listen, events_url=events_url)
    database_url = _database_url(db, config)
    target = resolve_target(config)

    async def main() -> None:
        agent = Agent(config, database_url=database_url, target=target)
        try:
            served = serve_app(
                "agent", agent.app, config.listen_host, config.listen_port, tls=agent.tls_files
            )
            stop = asyncio.Event()

            def ready() -> None:
                _say(f"pagerbridge agent listening on {served.url}")
                _say(f"  delivering to {_describe_target(target.kind, target.url)}")
                _say(f"  database {redact_url(database_url)}")

            reload = functools.partial(_load, config_path, listen=listen, events_url=events_url)
            async with agent.sources_running(reload):  # listeners bound; SIGHUP reloads them
                await run_services(
                    stop, front=[served], background=[agent.run_background], on_ready=ready
                )
        finally:
            await agent.aclose()
        _say("pagerbridge agent stopped")

    run_loop(main)


def run_up(
    config_path: Path | None,
    listen: str | None,
    hub_listen: str,
    sandbox_listen: str,
    db: str | None,
    events_url: str | None,
    with_hub: bool,
) -> None:
    from pagerbridge.agent.config import split_host_port
    from pagerbridge.agent.runtime import Agent, resolve_target
    from pagerbridge.agent.serving import bind, run_loop, run_services, serve_app
    from pagerbridge.errors import ConfigError
    from pagerbridge.store.engine import redact_url

    config = _load(config_path, listen=listen, events_url=events_url)
    database_url = _database_url(db, config)
    sandbox_mode = not config.names_pagerduty
    try:
        hub_host, hub_port = split_host_port(hub_listen)
        sb_host, sb_port = split_host_port(sandbox_listen)
    except ValueError as exc:
        raise ConfigError(str(exc), key="--hub-listen/--sandbox-listen") from None

    async def main() -> None:
        back: list[Served] = []
        front: list[Served] = []
        notes: list[str] = []
        sandbox_url: str | None = None
        if sandbox_mode:
            from pagerbridge.sandbox.app import create_app as create_sandbox
            from pagerbridge.sandbox.options import SandboxOptions

            sock = bind(sb_host, sb_port, option="--sandbox-listen")
            actual_port = int(sock.getsockname()[1])
            state_file = _state_dir(database_url) / SANDBOX_STATE_FILE
            sandbox_app = create_sandbox(
                SandboxOptions(host=sb_host, port=actual_port, state_file=state_file)
            )
            notes.append(f"sandbox state kept in {state_file}")
            from pagerbridge.agent.serving import Served as _Served

            sandbox = _Served("sandbox", sandbox_app, sock)
            back.append(sandbox)
            sandbox_url = sandbox.url
        target = resolve_target(config, sandbox_url=sandbox_url)
        agent = Agent(config, database_url=database_url, target=target)
        try:
            front.append(
                serve_app(
                    "agent", agent.app, config.listen_host, config.listen_port, tls=agent.tls_files
                )
            )
            if with_hub and sandbox_url is not None:
                await asyncio.to_thread(_demo_connector, database_url, sandbox_url, notes)
            if with_hub:
                hub_app = _hub_app(database_url, notes)
                if hub_app is not None:
                    front.append(
                        serve_app("hub", hub_app, hub_host, hub_port, option="--hub-listen")
                    )

            def ready() -> None:
                if sandbox_mode:
                    logging.getLogger("pagerbridge").warning(SANDBOX_BANNER)
                    line = "=" * (len(SANDBOX_BANNER) + 8)
                    _say(line)
                    _say(f"    {SANDBOX_BANNER}")
                    _say(line)
                _say("pagerbridge is up:")
                for served in front + back:
                    _say(f"  {served.name:<8} {served.url}")
                _say(f"  events go to {_describe_target(target.kind, target.url)}")
                _say(f"  database {redact_url(database_url)}")
                for note in notes:
                    _say(f"  note: {note}")
                if sandbox_mode:
                    from pagerbridge.sandbox.options import DEMO_ROUTING_KEY

                    agent_url = front[0].url
                    _say(f"  demo routing key: {DEMO_ROUTING_KEY}")
                    _say("  try:")
                    _say(
                        f"    curl -sS -X POST {agent_url}/v2/enqueue -H 'Content-Type: "
                        f'application/json\' -d \'{{"routing_key":"{DEMO_ROUTING_KEY}",'
                        '"event_action":"trigger","payload":{"summary":"hello from '
                        'pagerbridge","source":"laptop","severity":"info"}}\''
                    )
                _say("Press Ctrl-C to stop.")

            on_ready = ready
            hub = next((s for s in front if s.name == "hub"), None)
            if hub is not None and sandbox_url is not None:  # the demo's webhooks (helper H9)
                from pagerbridge.connectors.demo_webhook import after_demo_subscription

                on_ready = after_demo_subscription(ready, notes, database_url, hub.url)
            stop = asyncio.Event()
            reload = functools.partial(_load, config_path, listen=listen, events_url=events_url)
            async with agent.sources_running(reload):  # listeners bound; SIGHUP reloads them
                await run_services(
                    stop,
                    front=front,
                    background=[agent.run_background],
                    back=back,
                    on_ready=on_ready,
                )
        finally:
            await agent.aclose()
        _say("pagerbridge stopped")

    run_loop(main)


def _state_dir(database_url: str) -> Path:
    """Where ``up`` keeps the sandbox's account: beside a SQLite database, else the data dir."""
    from pagerbridge.paths import data_dir, sqlite_path

    path = sqlite_path(database_url)
    return path.parent if path is not None else data_dir()


def _demo_connector(database_url: str, sandbox_url: str, notes: list[str]) -> None:
    """The ``sandbox`` connector, so ``im declare`` pages the built-in sandbox (sandbox mode)."""
    from pagerbridge.connectors.demo import ensure_demo_connector
    from pagerbridge.errors import SecretKeyError
    from pagerbridge.sandbox.options import DEMO_SERVICE_ID, DEMO_TOKEN, DEMO_USER_EMAIL
    from pagerbridge.store.engine import make_engine
    from pagerbridge.store.migrate import upgrade

    engine = make_engine(database_url)
    try:
        upgrade(engine)
        demo = ensure_demo_connector(
            engine,
            sandbox_url,
            token=DEMO_TOKEN,
            service_id=DEMO_SERVICE_ID,
            from_email=DEMO_USER_EMAIL,
        )
    except SecretKeyError as exc:
        notes.append(f"no demo connector: {exc}")
        return
    finally:
        engine.dispose()
    if demo.action == "left alone":
        notes.append(f"connector {demo.name!r} points elsewhere: not changed")
        return
    notes.append(
        f"connector {demo.name!r} pages the sandbox's service {DEMO_SERVICE_ID} "
        "(every incident; see: im connector status sandbox)"
    )
    notes.append('try: im declare --sev SEV-2 --title "Database performance issue" --service db')


def _hub_app(database_url: str, notes: list[str]) -> Any:
    """The hub's ASGI app, or None (with a note) when this installation has no hub yet."""
    try:
        from pagerbridge.server.app import create_app  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        notes.append("the hub (incident API, UI) is not part of this version; not started")
        return None
    return create_app(database_url=database_url)


def register(app: typer.Typer) -> None:
    @app.command()
    def up(
        config: Path | None = ConfigOpt,
        db: str | None = DbOpt,
        listen: str | None = typer.Option(
            None, "--listen", help="Agent address HOST:PORT (default 127.0.0.1:8081)."
        ),
        hub_listen: str = typer.Option("127.0.0.1:8080", "--hub-listen", help="Hub address."),
        sandbox_listen: str = typer.Option(
            "127.0.0.1:8090", "--sandbox-listen", help="Sandbox address (sandbox mode only)."
        ),
        events_url: str | None = EventsUrlOpt,
        no_hub: bool = typer.Option(False, "--no-hub", help="Do not start the hub."),
        log_level: str | None = LogLevelOpt,
        log_format: str | None = LogFormatOpt,
    ) -> None:
        """Run everything for one machine: hub, agent and (in sandbox mode) the sandbox."""
        setup_logging(log_level, log_format)
        run_guarded(
            lambda: run_up(
                config, listen, hub_listen, sandbox_listen, db, events_url, with_hub=not no_hub
            )
        )

    @app.command()
    def agent(
        config: Path | None = ConfigOpt,
        listen: str | None = typer.Option(
            None, "--listen", help="Address HOST:PORT (default 127.0.0.1:8081)."
        ),
        db: str | None = DbOpt,
        events_url: str | None = EventsUrlOpt,
        log_level: str | None = LogLevelOpt,
        log_format: str | None = LogFormatOpt,
    ) -> None:
        """Run the local agent only: the durable Events API endpoint and delivery worker."""
        setup_logging(log_level, log_format)
        run_guarded(lambda: run_agent(config, listen, db, events_url))
