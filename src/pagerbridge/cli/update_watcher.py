"""``update-watcher``: check this host for pending updates and page PagerDuty (one alert per host,
resolved when the host is patched).

Exit codes: the shared table of :mod:`pagerbridge.cli.exits` (4 configuration, 74 the outbox or
state cannot be written), except that ``run`` answers with its result: 0 no updates, 1 updates
found, 2 some checkers failed (even if others found updates), 3 all checkers failed; an error
that is neither configuration nor storage is 70 there, because 1 is taken.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import typer

from pagerbridge.cli import exits
from pagerbridge.cli._common import fail
from pagerbridge.errors import ConfigError, PagerbridgeError, StoreError

T = TypeVar("T")

EXIT_CONFIG = exits.CONFIG
EXIT_STORAGE = exits.STORAGE
EXIT_ERROR = exits.ERROR
#: ``run``'s code for an error that is neither configuration nor storage: 1-3 are its results.
EXIT_RUN_ERROR = exits.INTERNAL

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


def _fail(message: str, code: int, hint: str | None = None) -> NoReturn:
    fail(message, code, hint)


def guarded(func: Callable[[], T], *, other: int = EXIT_ERROR) -> T:
    """pagerbridge errors become one line on stderr and a documented exit code (``other`` for
    those that are neither configuration nor storage)."""
    try:
        return func()
    except ConfigError as exc:
        _fail(f"configuration: {exc}", EXIT_CONFIG)
    except StoreError as exc:
        _fail(str(exc), EXIT_STORAGE)
    except PagerbridgeError as exc:
        _fail(str(exc), other)


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
    from pagerbridge.updates.config import load_watcher_config, require_runnable
    from pagerbridge.updates.runner import (
        default_runner,
        exit_code,
        notify_all,
        report_json,
        report_text,
        run_checks,
    )

    if output not in ("text", "json"):
        _fail("--format must be text or json", exits.USAGE)
    if verbose:
        from pagerbridge import logs

        logs.setup("info")
    cfg = guarded(lambda: load_watcher_config(_config_path(config)))
    guarded(lambda: require_runnable(cfg, notify=notify))
    if only is not None and not cfg.enabled_watchers(only):
        _fail(f"configuration: no enabled {only!r} watcher in {cfg.path}", EXIT_CONFIG)
    report = run_checks(cfg, default_runner(cfg), only=only)
    outcome = (
        guarded(lambda: notify_all(cfg, report, database_url=db), other=EXIT_RUN_ERROR)
        if notify
        else None
    )
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
    """Check the config file: syntax, types, options, secrets, something to check and someone to
    tell; exit 4 with file:line if wrong."""
    from pagerbridge.updates.config import load_watcher_config, require_runnable

    cfg = guarded(lambda: load_watcher_config(_config_path(config)))
    guarded(lambda: require_runnable(cfg))
    watchers = ", ".join(w.type for w in cfg.enabled_watchers()) or "none"
    notifiers = ", ".join(n.type for n in cfg.enabled_notifiers()) or "none"
    typer.echo(
        f"{cfg.path}: OK (host {cfg.hostname}; watchers: {watchers}; notifiers: {notifiers})"
    )


@app.command()
def status(
    config: Path | None = ConfigOption,
    all_hosts: bool = typer.Option(
        False, "--all-hosts", help="Every host's alerts in the (shared) state file."
    ),
) -> None:
    """Show the configuration in effect and the PagerDuty alerts this host has open."""
    from pagerbridge.updates.config import load_watcher_config
    from pagerbridge.updates.runner import alert_keys, state_file
    from pagerbridge.updates.state import StateFile

    cfg = guarded(lambda: load_watcher_config(_config_path(config)))
    typer.echo(f"config:    {cfg.path}")
    typer.echo(f"hostname:  {cfg.hostname}")
    for w in cfg.watchers:
        typer.echo(f"watcher:   {w.type} ({'enabled' if w.enabled else 'disabled'})")
    for n in cfg.notifiers:
        policy = n.send_policy or cfg.settings.send_policy
        state = "enabled" if n.enabled else "disabled"
        typer.echo(f"notifier:  {n.type} ({state}, send_policy {policy})")
    path = state_file(cfg)
    saved = guarded(lambda: StateFile(path))
    alerts = saved.alerts if all_hosts else saved.host_alerts(cfg.hostname, alert_keys(cfg))
    others = len(saved.alerts) - len(alerts)
    if not alerts:
        scope = "" if all_hosts else f" for {cfg.hostname}"
        more = f"; {others} for other hosts: --all-hosts" if others else ""
        typer.echo(f"alerts:    none open{scope} ({path}{more})")
    for alert in alerts.values():
        host = f"[{alert.hostname or 'host not recorded'}] " if all_hosts else ""
        typer.echo(
            f"alert:     {host}{alert.dedup_key} open since {alert.opened_at}: {alert.last_summary}"
        )
    if alerts and others:
        typer.echo(f"           ({others} more for other hosts: --all-hosts)")


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
    env_file: Path | None = typer.Option(
        None,
        help="Where the variables the config uses are saved, mode 0600 (default: "
        "/etc/pagerbridge/update-watcher.env for root, else ~/.config/pagerbridge/).",
    ),
    log_file: Path | None = typer.Option(
        None,
        help="cron: where the job's output goes (default: "
        "/var/log/pagerbridge/update-watcher.log for root, else ~/.local/state/pagerbridge/).",
    ),
) -> None:
    """Run update-watcher on a schedule (cron.d file or systemd timer), with the variables the
    config uses saved for it in a 0600 environment file."""
    from pagerbridge.updates import jobenv
    from pagerbridge.updates.config import UnsetVariable, require_runnable
    from pagerbridge.updates.schedule import (
        DEFAULT_SCHEDULE,
        JOURNAL_HINT,
        TIMER,
        Job,
        SystemdUnavailable,
        cron_line,
        enable_timer,
        install_systemd,
        on_calendar,
        service_text,
    )
    from pagerbridge.updates.schedule import install_cron as write_cron

    path = _config_path(config).absolute()
    env_path = (env_file or jobenv.default_env_file()).absolute()
    try:
        cfg, values = jobenv.needed_environment(path)
    except UnsetVariable as exc:
        name = exc.variable
        _fail(
            f"configuration: {exc}",
            EXIT_CONFIG,
            f"scheduled runs get the variables the config uses from {env_path}, which "
            f"install-cron writes from this shell's environment: `export {name}=...` (with sudo: "
            f"`sudo --preserve-env={name} update-watcher install-cron ...`) and run it again",
        )
    except ConfigError as exc:
        _fail(f"configuration: {exc}", EXIT_CONFIG)
    guarded(lambda: require_runnable(cfg))
    when = schedule or next(
        (j.schedule for j in cfg.settings.cron_jobs if j.type == "check"),
        cfg.settings.schedule or DEFAULT_SCHEDULE,
    )
    program = Path(sys.argv[0]).absolute() if Path(sys.argv[0]).name == "update-watcher" else None
    command = [str(program or "update-watcher"), "run", "--config", str(path)]
    log_path = None if systemd else (log_file or jobenv.default_log_file()).absolute()
    job = Job(command, when, user, env_path, log_path)
    owner = guarded(lambda: jobenv.job_owner("root" if systemd else user))
    guarded(lambda: service_text(job) + on_calendar(when) if systemd else cron_line(job))
    # Checked above, so this writes all or (but for I/O errors) nothing; the environment file
    # and the log first: a job must never exist without them.
    guarded(lambda: jobenv.write_env_file(env_path, values, owner))
    names = ", ".join(values) or "none, the config uses no variable"
    if log_path is not None:
        guarded(lambda: jobenv.prepare_log(log_path, owner))
    if systemd:
        units = guarded(lambda: install_systemd(job, unit_dir))
        typer.echo("installed " + ", ".join(str(u) for u in units) + f" ({when})")
    else:
        guarded(lambda: write_cron(job, cron_file))
        typer.echo(f"installed {cron_file} ({when}, as {user})")
    typer.echo(f"environment: {env_path} (mode 0600; variables: {names})")
    typer.echo(f"log: {log_path}" if log_path is not None else f"log: {JOURNAL_HINT}")
    if systemd and enable:
        try:
            enable_timer()
        except SystemdUnavailable as exc:
            typer.echo(
                f"warning: {exc}; the timer is installed but not active "
                f"(once systemd runs: systemctl enable --now {TIMER})",
                err=True,
            )
        except PagerbridgeError as exc:
            _fail(str(exc), EXIT_ERROR)
        else:
            typer.echo(f"enabled {TIMER}")


@app.command("uninstall-cron")
def uninstall_cron(
    systemd: bool = typer.Option(False, "--systemd"),
    cron_file: Path = typer.Option(Path("/etc/cron.d/update-watcher")),
    unit_dir: Path = typer.Option(Path("/etc/systemd/system")),
    disable: bool = typer.Option(True, "--disable/--no-disable", help="systemctl disable --now."),
) -> None:
    """Remove what install-cron wrote (job, units, environment file); the logs stay."""
    from pagerbridge.updates.schedule import uninstall_cron as remove_cron
    from pagerbridge.updates.schedule import uninstall_systemd

    if systemd:
        removed = guarded(lambda: uninstall_systemd(unit_dir, disable=disable))
    else:
        found = guarded(lambda: remove_cron(cron_file))
        if found is None:
            typer.echo(f"nothing to remove ({cron_file} does not exist)")
            return
        removed = found
    for note in removed.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo("removed " + (", ".join(str(f) for f in removed.files) or "nothing"))
    if removed.log:
        typer.echo(f"the job's log is kept: {removed.log}")


def run() -> None:
    """The console script's entry point."""
    from pagerbridge.cli._common import run_app

    run_app(app, "update-watcher")
