"""``update-watcher``: check this host for pending updates and page PagerDuty (one alert per host,
resolved when the host is patched).

Exit codes of ``run``: 0 no updates, 1 updates found, 2 some checkers failed (even if others found
updates), 3 all checkers failed, 4 configuration error; 74 the outbox or state cannot be written.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import typer

from pagerbridge.errors import ConfigError, PagerbridgeError, StoreError

T = TypeVar("T")

EXIT_CONFIG = 4
EXIT_STORAGE = 74
EXIT_ERROR = 70  # EX_SOFTWARE: 1-3 are taken by run's results

app = typer.Typer(
    name="update-watcher",
    help="Check this host for pending updates and page PagerDuty (then resolve when patched).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = typer.Option(
    None,
    "--config",
    "-c",
    help="Config file (default: $UPDATE_WATCHER_CONFIG, /etc/update-watcher/config.yaml, "
    "~/.config/update-watcher/config.yaml).",
)


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def guarded(func: Callable[[], T]) -> T:
    """pagerbridge errors become one line on stderr and a documented exit code."""
    try:
        return func()
    except ConfigError as exc:
        _fail(f"configuration: {exc}", EXIT_CONFIG)
    except StoreError as exc:
        _fail(str(exc), EXIT_STORAGE)
    except PagerbridgeError as exc:
        _fail(str(exc), EXIT_ERROR)


def _config_path(value: Path | None) -> Path:
    from pagerbridge.updates.config import default_config_path

    return value or default_config_path()


@app.command("run")
def run_command(
    config: Path | None = ConfigOption,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="List every update; log more."),
    output: str = typer.Option("text", "--format", help="text or json."),
    only: str | None = typer.Option(None, "--only", help="Run just this watcher type."),
    notify: bool = typer.Option(True, "--notify/--no-notify", help="Send notifications."),
    db: str | None = typer.Option(None, "--db", help="Database holding the outbox."),
) -> None:
    """Run the enabled checkers and notify."""
    from pagerbridge.updates.config import load_watcher_config
    from pagerbridge.updates.runner import (
        default_runner,
        exit_code,
        notify_all,
        report_json,
        report_text,
        run_checks,
    )

    if output not in ("text", "json"):
        _fail("--format must be text or json", 2)
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = guarded(lambda: load_watcher_config(_config_path(config)))
    if only is not None and not cfg.enabled_watchers(only):
        _fail(f"configuration: no enabled {only!r} watcher in {cfg.path}", EXIT_CONFIG)
    report = run_checks(cfg, default_runner(cfg), only=only)
    outcome = guarded(lambda: notify_all(cfg, report, database_url=db)) if notify else None
    from pagerbridge.updates.notifiers.policy import summary_line

    summary = summary_line(report.hostname, report.updates, len(report.failures))
    notes = outcome.lines if outcome else []
    if output == "json":
        typer.echo(json.dumps(report_json(report, outcome), indent=2))
    elif not cfg.settings.quiet or verbose:
        for line in [*report_text(report, verbose=verbose), summary, *notes]:
            typer.echo(line)
    if cfg.settings.log_file:
        _append_log(Path(cfg.settings.log_file), report_text(report), summary, notes)
    raise typer.Exit(exit_code(report))


def _append_log(path: Path, lines: list[str], summary: str, notes: list[str]) -> None:
    """settings.log_file: one timestamped block per run; a log that cannot be written is a
    warning, never a reason to skip paging."""
    from datetime import UTC, datetime

    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        with path.open("a", encoding="utf-8") as handle:
            for line in [summary, *lines, *notes]:
                handle.write(f"{stamp} {line}\n")
    except OSError as exc:
        typer.echo(f"warning: cannot write log file {path}: {exc.strerror}", err=True)


@app.command()
def validate(config: Path | None = ConfigOption) -> None:
    """Check the config file: syntax, types, options, secrets; exit 4 with file:line if wrong."""
    from pagerbridge.updates.config import load_watcher_config

    cfg = guarded(lambda: load_watcher_config(_config_path(config)))
    watchers = ", ".join(w.type for w in cfg.enabled_watchers()) or "none"
    notifiers = ", ".join(n.type for n in cfg.enabled_notifiers()) or "none"
    typer.echo(
        f"{cfg.path}: OK (host {cfg.hostname}; watchers: {watchers}; notifiers: {notifiers})"
    )


@app.command()
def status(config: Path | None = ConfigOption) -> None:
    """Show the configuration in effect and the PagerDuty alerts this host has open."""
    from pagerbridge.updates.config import load_watcher_config
    from pagerbridge.updates.state import StateFile, default_state_path

    cfg = guarded(lambda: load_watcher_config(_config_path(config)))
    typer.echo(f"config:    {cfg.path}")
    typer.echo(f"hostname:  {cfg.hostname}")
    for w in cfg.watchers:
        typer.echo(f"watcher:   {w.type} ({'enabled' if w.enabled else 'disabled'})")
    for n in cfg.notifiers:
        policy = n.send_policy or cfg.settings.send_policy
        state = "enabled" if n.enabled else "disabled"
        typer.echo(f"notifier:  {n.type} ({state}, send_policy {policy})")
    path = Path(cfg.settings.state_file or default_state_path())
    alerts = guarded(lambda: StateFile(path)).alerts
    if not alerts:
        typer.echo(f"alerts:    none open ({path})")
    for alert in alerts.values():
        typer.echo(
            f"alert:     {alert.dedup_key} open since {alert.opened_at}: {alert.last_summary}"
        )


@app.command()
def watch(
    kind: str = typer.Argument(..., metavar="TYPE", help="Watcher type, e.g. apt, docker."),
    config: Path | None = ConfigOption,
) -> None:
    """Enable a watcher in the config file (comments and layout are kept)."""
    _edit(config, lambda text, file: _watch(text, kind, file), f"watching {kind}")


@app.command()
def unwatch(
    kind: str = typer.Argument(..., metavar="TYPE"),
    config: Path | None = ConfigOption,
) -> None:
    """Remove a watcher from the config file (comments elsewhere are kept)."""
    from pagerbridge.updates.config_edit import unwatch as do_unwatch

    _edit(
        config, lambda text, file: do_unwatch(text, kind, file=file), f"no longer watching {kind}"
    )


def _watch(text: str, kind: str, file: str) -> str:
    from pagerbridge.updates.config_edit import watch as do_watch

    return do_watch(text, kind, file=file)


def _edit(config: Path | None, change: Callable[[str, str], str], done: str) -> None:
    import os
    import tempfile

    from pagerbridge.updates.config import load_watcher_config
    from pagerbridge.updates.config_edit import write_atomically

    path = _config_path(config)

    def apply() -> None:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        new = change(text, str(path))
        # Validate the result before it replaces the file (secrets need not be set to edit).
        fd, tmp = tempfile.mkstemp(suffix=".yaml")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(new)
            try:
                load_watcher_config(tmp, environ=_AnyEnv())
            except ConfigError as exc:
                raise ConfigError(
                    f"the edited file would be invalid: {exc.message}", file=str(path), key=exc.key
                ) from None
        finally:
            Path(tmp).unlink(missing_ok=True)
        write_atomically(path, new)

    guarded(apply)
    typer.echo(f"{path}: {done}")


class _AnyEnv(dict[str, str]):
    """An environment where every variable is set: editing must not need the secrets."""

    def __contains__(self, key: object) -> bool:
        return True

    def get(self, key: str, default: object = None) -> str:
        import os

        return os.environ.get(key, "x" * 32)


@app.command("install-cron")
def install_cron(
    config: Path | None = ConfigOption,
    schedule: str | None = typer.Option(
        None, help="Cron schedule (default: settings.schedule or cron_jobs, else '0 7 * * *')."
    ),
    systemd: bool = typer.Option(False, "--systemd", help="Install a systemd timer instead."),
    cron_file: Path = typer.Option(
        Path("/etc/cron.d/update-watcher"), help="cron.d file to write."
    ),
    unit_dir: Path = typer.Option(Path("/etc/systemd/system"), help="Where systemd units go."),
    enable: bool = typer.Option(True, "--enable/--no-enable", help="systemctl enable --now."),
    user: str = typer.Option("root", help="User the cron job runs as."),
) -> None:
    """Run update-watcher on a schedule (cron.d file or systemd timer)."""
    from pagerbridge.updates.config import load_watcher_config
    from pagerbridge.updates.schedule import DEFAULT_SCHEDULE, Job, install_cron, install_systemd

    path = _config_path(config).absolute()
    cfg = guarded(lambda: load_watcher_config(path))
    when = schedule or next(
        (j.schedule for j in cfg.settings.cron_jobs if j.type == "check"),
        cfg.settings.schedule or DEFAULT_SCHEDULE,
    )
    program = Path(sys.argv[0]).absolute() if Path(sys.argv[0]).name == "update-watcher" else None
    command = [str(program or "update-watcher"), "run", "--config", str(path)]
    job = Job(command, when, user)
    if systemd:
        units = guarded(lambda: install_systemd(job, unit_dir, enable=enable))
        typer.echo("installed " + ", ".join(str(u) for u in units) + f" ({when})")
    else:
        guarded(lambda: install_cron(job, cron_file))
        typer.echo(f"installed {cron_file} ({when})")


@app.command("uninstall-cron")
def uninstall_cron(
    systemd: bool = typer.Option(False, "--systemd"),
    cron_file: Path = typer.Option(Path("/etc/cron.d/update-watcher")),
    unit_dir: Path = typer.Option(Path("/etc/systemd/system")),
    disable: bool = typer.Option(True, "--disable/--no-disable", help="systemctl disable --now."),
) -> None:
    """Remove what install-cron wrote."""
    from pagerbridge.updates.schedule import uninstall_cron as remove_cron
    from pagerbridge.updates.schedule import uninstall_systemd

    if systemd:
        removed = guarded(lambda: uninstall_systemd(unit_dir, disable=disable))
        typer.echo("removed " + (", ".join(str(u) for u in removed) or "nothing"))
    elif guarded(lambda: remove_cron(cron_file)):
        typer.echo(f"removed {cron_file}")
    else:
        typer.echo(f"nothing to remove ({cron_file} does not exist)")


def run() -> None:
    """The console script's entry point."""
    app()
